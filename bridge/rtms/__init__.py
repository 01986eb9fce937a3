"""Sans-I/O core of the RTMS wire protocol: messages, codec, signatures, webhooks and state machines.

Nothing here opens a socket or reads a clock: the asyncio layers (the bridge's intake and the simulator) feed it
data and time and write out what it asks them to send.
"""
