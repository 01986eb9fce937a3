"""Several bridge replicas sharing the streams: Redis leases with fencing tokens decide which replica holds each
stream's sockets, Redis carries the registry of live streams and the messages between replicas, and the store
(PostgreSQL) carries the pipeline's state so any replica can finish another's work. See `coordinator`."""
