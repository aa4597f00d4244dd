"""The compatibility suite: the command families against each other supported Apache Kafka
version (a package, so that its conftest is not taken for tests/conftest.py)."""
