"""Record values: the Confluent wire format and Avro decoding through the registry
(schema.py), and the guard that catches corrupt Avro before fastavro runs out of memory
(avro_guard.py)."""
