"""The in-meeting Zoom App panel (work in progress): `context` opens and checks the encrypted Zoom App context,
`session` issues the meeting-scoped session that stands in for it."""
