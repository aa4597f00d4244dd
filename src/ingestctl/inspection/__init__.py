"""Read-only views of a cluster: topics (topics.py), records (peek.py), consumer groups and
their lag (groups.py), Kafka Connect connectors (connectors.py)."""
