"""Replaying a bounded window of a topic into another topic: planning (window.py), the
throughput quota (quota.py), the progress records kept in Kafka (progress.py), the run
itself (engine.py) and --workers (workers.py). The Kafka side of the copy loop is in
ingestctl.kafka.copy."""
