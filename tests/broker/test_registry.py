"""Schemas: the Confluent wire format, fingerprints, and decoding against a real Apicurio
Registry (Confluent-compatible API) with records produced by confluent-kafka's AvroSerializer."""

import hashlib
import json
import os
import struct

import pytest
from confluent_kafka.schema_registry import Schema as RegistrySchema
from confluent_kafka.schema_registry import (
    SchemaReference,
    SchemaRegistryClient,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import given
from hypothesis import strategies as st
from support.kafkautil import create_topic, produce, read_all
from support.names import unique
from support.process import run_process

from ingestctl import sandbox
from ingestctl.config import Settings
from ingestctl.errors import ClusterError, NotFoundError, UsageError
from ingestctl.serde import schema

PAYMENT_V1 = {
    "type": "record", "name": "Payment", "namespace": "acme.payments",
    "fields": [{"name": "id", "type": "long"}, {"name": "account", "type": "string"}],
}
PAYMENT_V2 = {
    "type": "record", "name": "Payment", "namespace": "acme.payments",
    "fields": [{"name": "id", "type": "long"}, {"name": "account", "type": "string"},
               {"name": "amount", "type": "int", "default": 0}],
}


# --- wire format and fingerprints (no registry) ---------------------------------------------

@given(st.integers(min_value=0, max_value=2**32 - 1), st.binary(max_size=64))
def test_wire_format_round_trip(schema_id, payload):
    value = b"\x00" + struct.pack(">I", schema_id) + payload
    parsed_id, parsed_payload = schema.parse_wire(value)
    assert (parsed_id, bytes(parsed_payload)) == (schema_id, payload)
    assert schema.schema_id_of(value) == schema_id


@given(st.binary(max_size=32).filter(lambda v: len(v) < 5 or v[0] != 0))
def test_values_outside_the_wire_format_are_named(value):
    with pytest.raises(schema.InvalidRecordError) as info:
        schema.parse_wire(value)
    assert info.value.reason == schema.NO_MAGIC_BYTE
    assert "magic byte 0" in info.value.message
    assert schema.schema_id_of(value) is None


def test_tombstone_has_no_schema_id():
    with pytest.raises(schema.InvalidRecordError) as info:
        schema.parse_wire(None)
    assert info.value.reason == schema.NULL_VALUE
    assert schema.schema_id_of(None) is None


def test_fingerprint_is_sha256_of_the_parsing_canonical_form():
    # The canonical form written out by hand from the Avro specification: full names,
    # attributes in the order name, type, fields; docs and defaults dropped.
    canonical = ('{"name":"acme.payments.Payment","type":"record","fields":'
                 '[{"name":"id","type":"long"},{"name":"account","type":"string"}]}')
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert schema.fingerprint(json.dumps(PAYMENT_V1)) == expected
    assert schema.fingerprint(PAYMENT_V1) == expected


def test_equivalent_schemas_share_a_fingerprint_and_changes_do_not():
    equivalent = {
        "doc": "a payment", "name": "acme.payments.Payment", "type": "record",
        "aliases": ["Old"],
        "fields": [{"type": {"type": "long"}, "name": "id", "doc": "key"},
                   {"name": "account", "type": "string", "default": ""}],
    }
    assert schema.fingerprint(json.dumps(equivalent, indent=4)) == schema.fingerprint(PAYMENT_V1)
    assert schema.fingerprint(PAYMENT_V2) != schema.fingerprint(PAYMENT_V1)
    renamed = {**PAYMENT_V1, "namespace": "acme.other"}
    assert schema.fingerprint(renamed) != schema.fingerprint(PAYMENT_V1)


def test_a_registry_must_be_configured():
    with pytest.raises(UsageError, match="--schema-registry"):
        schema.Registry(Settings())


def test_unreachable_registry_is_a_cluster_error_without_credentials():
    port = sandbox.free_port()
    registry = schema.Registry(Settings(
        schema_registry_url=f"http://ops:url-secret-9@127.0.0.1:{port}/apis/ccompat/v7",
        schema_registry_auth="ops:auth-secret-7", timeout=3))
    with pytest.raises(ClusterError) as info:
        registry.schema(1)
    assert info.value.exit_code == 5
    assert f"cannot reach the schema registry at http://127.0.0.1:{port}/apis/ccompat/v7" in (
        info.value.message)
    assert "secret" not in info.value.message and "secret" not in registry.url
    # Decoding a record with an unreachable registry is no property of the record.
    with pytest.raises(ClusterError):
        registry.decode(b"\x00\x00\x00\x00\x01\x02")


# --- against the registry -------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry_url(services):
    return services.registry_url()


def _serializer(client, schema_dict):
    # The plain topic strategy: the default first asks for topic associations, an API
    # Apicurio lacks (404), and the client once hung right after that answer.
    return AvroSerializer(client, json.dumps(schema_dict),
                          conf={"auto.register.schemas": True,
                                "subject.name.strategy": topic_subject_name_strategy})


def test_sandbox_reports_the_registry(services, registry_url):
    if os.environ.get("INGESTCTL_TEST_REGISTRY_URL"):
        pytest.skip("the registry comes from the environment, not a sandbox")
    status = sandbox.status(services.sandbox_dir)
    assert status.registry_url == registry_url
    assert registry_url.startswith("http://127.0.0.1:")
    assert registry_url.endswith("/apis/ccompat/v7")
    # Asking a running sandbox for its running registry changes nothing and says so.
    again = run_process("sandbox", "start", "--data-dir", services.sandbox_dir,
                        "--with-registry", "-o", "json", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Apicurio Registry is already running" in again.stderr
    assert json.loads(again.stdout)["registry_url"] == registry_url


def test_two_schema_versions_decode(kafka_bootstrap, registry_url):
    topic = unique("payments")
    subject = f"{topic}-value"
    create_topic(kafka_bootstrap, topic)
    client = SchemaRegistryClient({"url": registry_url})
    v1, v2 = _serializer(client, PAYMENT_V1), _serializer(client, PAYMENT_V2)
    ctx = SerializationContext(topic, MessageField.VALUE)
    events = [(v1, {"id": 1, "account": "acct-1"}),
              (v2, {"id": 2, "account": "acct-2", "amount": 1250}),
              (v1, {"id": 3, "account": "acct-3"})]
    produce(kafka_bootstrap, topic, [{"value": ser(event, ctx)} for ser, event in events])
    values = [m.value() for m in read_all(kafka_bootstrap, topic, [0])]

    registry = schema.Registry(Settings(schema_registry_url=registry_url))
    id1 = client.get_version(subject, 1).schema_id
    id2 = client.get_version(subject, 2).schema_id
    assert id1 != id2
    decoded = [registry.decode(v) for v in values]
    assert [d.schema_id for d in decoded] == [id1, id2, id1]
    assert [d.value for d in decoded] == [event for _, event in events]

    latest = registry.latest(subject)
    assert (latest.subject, latest.version, latest.id) == (subject, 2, id2)
    assert latest.fingerprint == schema.fingerprint(PAYMENT_V2)
    assert latest.as_dict() == {"id": id2, "version": 2,
                                "fingerprint": schema.fingerprint(PAYMENT_V2)}
    assert registry.schema(id1).fingerprint == schema.fingerprint(PAYMENT_V1)
    assert set(registry.latest_versions([f"{topic}-key", subject])) == {subject}
    assert registry.latest(f"{topic}-key") is None
    assert (subject, 1) in registry.versions_of(id1)
    assert subject in registry.subjects()


def test_equivalent_registrations_share_the_fingerprint(registry_url):
    client = SchemaRegistryClient({"url": registry_url})
    reformatted = {"doc": "same schema", **PAYMENT_V1,
                   "fields": [{**f, "doc": "x"} for f in PAYMENT_V1["fields"]]}
    first = client.register_schema(unique("a-value"), RegistrySchema(json.dumps(PAYMENT_V1)))
    second = client.register_schema(unique("b-value"),
                                    RegistrySchema(json.dumps(reformatted, indent=2)))
    registry = schema.Registry(Settings(schema_registry_url=registry_url))
    assert registry.schema(first).fingerprint == registry.schema(second).fingerprint


def test_schema_references_resolve(registry_url):
    client = SchemaRegistryClient({"url": registry_url})
    namespace = unique("ns").replace("-", "_")
    address = {"type": "record", "name": "Address", "namespace": namespace,
               "fields": [{"name": "city", "type": "string"}]}
    customer = {"type": "record", "name": "Customer", "namespace": namespace,
                "fields": [{"name": "home", "type": f"{namespace}.Address"},
                           {"name": "work", "type": ["null", f"{namespace}.Address"]}]}
    address_subject = unique("address")
    client.register_schema(address_subject, RegistrySchema(json.dumps(address)))
    customer_id = client.register_schema(unique("customer-value"), RegistrySchema(
        json.dumps(customer), "AVRO",
        [SchemaReference(f"{namespace}.Address", address_subject, 1)]))
    registry = schema.Registry(Settings(schema_registry_url=registry_url))

    self_contained = {**customer, "fields": [{"name": "home", "type": address},
                                             customer["fields"][1]]}
    assert registry.schema(customer_id).fingerprint == schema.fingerprint(self_contained)
    # {"home": {"city": "Oslo"}, "work": null}: string "Oslo", union branch 0
    payload = b"\x08Oslo\x00"
    value = b"\x00" + struct.pack(">I", customer_id) + payload
    assert registry.decode(value).value == {"home": {"city": "Oslo"}, "work": None}


def test_undecodable_values_are_one_sentence_each(registry_url):
    client = SchemaRegistryClient({"url": registry_url})
    schema_id = client.register_schema(unique("bad-value"), RegistrySchema(json.dumps(PAYMENT_V1)))
    registry = schema.Registry(Settings(schema_registry_url=registry_url))
    header = b"\x00" + struct.pack(">I", schema_id)
    good = header + b"\x02\x06abc"  # id 1, account "abc"
    assert registry.decode(good).value == {"id": 1, "account": "abc"}

    cases = {
        header + b"\x02\x06ab": schema.CORRUPT_PAYLOAD,  # ends inside the string
        good + b"\x00": schema.CORRUPT_PAYLOAD,  # a byte left over
        b"\x00" + struct.pack(">I", 2**31 - 7) + b"\x02": schema.UNKNOWN_SCHEMA_ID,
        b"{\"id\": 1}": schema.NO_MAGIC_BYTE,
    }
    for value, reason in cases.items():
        with pytest.raises(schema.InvalidRecordError) as info:
            registry.decode(value)
        assert info.value.reason == reason, value
        assert "\n" not in info.value.message and info.value.message.endswith(".")
    with pytest.raises(schema.InvalidRecordError, match="40403") as info:
        registry.decode(b"\x00" + struct.pack(">I", 2**31 - 7))
    assert info.value.schema_id == 2**31 - 7
    with pytest.raises(NotFoundError, match=r"schema id 2147483641 is not known"):
        registry.schema(2**31 - 7)
    assert registry.versions_of(2**31 - 7) == []


def test_component_ports_need_their_component(cli, tmp_path):
    for option, needed in (("--registry-port", "--with-registry"),
                           ("--connect-port", "--with-connect")):
        result = cli("sandbox", "start", "--data-dir", tmp_path / "none", option, "18081")
        assert result.code == 2 and f"{option} needs {needed}" in result.stderr
    assert not (tmp_path / "none").exists()
