"""Replaying a bounded window of a topic into another topic: the request and plan (model.py),
planning (window.py, plan.py), the throughput quota (quota.py), schema validation
(validate.py), what each written record carries (provenance.py), the progress records kept in
Kafka (progress.py), one shard's run (shard.py), --workers (workers.py), the run as a whole
(run.py) and `replay status|list` (status.py). The copy loop itself is ingestctl.kafka.copier."""
