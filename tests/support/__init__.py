"""Helpers the tests share: names, processes, data on the real broker (kafkautil), bounded
waits (waiting), Kafka Connect (connectutil), groups (rollbackutil), replays (replay),
hypothesis strategies (strategies) and the registry and Connect services (services)."""
