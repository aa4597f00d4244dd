"""HTTP services beside the cluster: Kafka Connect's REST API (connect.py) and the schema
registry's Confluent-compatible API (registry.py)."""
