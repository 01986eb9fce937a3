"""The live pipeline: intake events -> stored lines -> windows -> Langflow flows -> stored, published insights.

`config` (flows.toml), `windowing` (sans-I/O window engine), `langflow_runner` (retries, circuit breaker),
`consumer` (`Pipeline`, the intake's consumer), `bus` (live events for the API), `metrics` (Prometheus).
"""
