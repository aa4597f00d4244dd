"""The Apache Kafka versions the compatibility suite runs on, besides the main suite's 4.3.1."""

COMPAT_VERSIONS = ("3.7.2", "3.9.1", "4.4.0")
