"""ingestctl: inspect, checkpoint, replay and roll back Kafka ingestion pipelines."""

__version__ = "0.1.0"
