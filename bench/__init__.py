"""Benchmarks: one command each, printing figures and writing `bench/results/<name>.json` + `.md`.

They are not tests and do not run in CI; see bench/README.md for what each measures and the latest figures.
"""
