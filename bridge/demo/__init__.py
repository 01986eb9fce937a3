"""`rtms-langflow demo`: the whole product on one machine, no Zoom account needed.

A local Langflow 1.13 with the flows, the bridge, and the simulator replaying a sample meeting; insights print as
they arrive and the dashboard shows them live. Modules: `command` (options, signals, exit status), `session` (the
parts, started and stopped in order), `datadir` (what is kept between runs), `watch` (following the meeting in the
store) and `console` (what is printed).
"""

from bridge.demo.command import configure, run

__all__ = ["configure", "run"]
