"""Config files, profiles, precedence, client.properties, and redaction."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.configs import SECRET, write_config

from ingestctl.config import parse_properties


def test_profile_values_and_redaction(cli, config_file):
    result = cli("config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["profile"] == "prod"
    assert data["bootstrap_servers"] == "broker-1:9093"
    assert data["kafka"]["sasl.password"] == "***"
    assert data["kafka"]["sasl.username"] == "ops"
    assert data["schema_registry"]["basic_auth"] == "***"
    assert data["replay"]["rate"] == 5 * 1024 * 1024
    assert data["checkpoint_dir"] == "/tmp/ckpts"
    assert SECRET not in result.stdout + result.stderr
    table = cli("config", "show")
    assert table.code == 0 and SECRET not in table.stdout + table.stderr
    assert "broker-1:9093" in table.stdout


def test_precedence_flag_over_env_over_profile(cli, config_file, monkeypatch):
    assert cli("config", "show", "-o", "json").json()["bootstrap_servers"] == "broker-1:9093"
    monkeypatch.setenv("INGESTCTL_BOOTSTRAP_SERVERS", "env:9092")
    assert cli("config", "show", "-o", "json").json()["bootstrap_servers"] == "env:9092"
    assert cli("-b", "flag:9092", "config", "show", "-o", "json").json()[
        "bootstrap_servers"] == "flag:9092"
    monkeypatch.setenv("INGESTCTL_PROFILE", "dev")
    monkeypatch.delenv("INGESTCTL_BOOTSTRAP_SERVERS")
    assert cli("config", "show", "-o", "json").json()["bootstrap_servers"] == "dev:9092"
    assert cli("-p", "prod", "config", "show", "-o", "json").json()["profile"] == "prod"


def test_bootstrap_servers_among_client_properties(cli, config_file, tmp_path, monkeypatch):
    """bootstrap.servers in -X, a client.properties or a profile's kafka: section is the
    bootstrap address (shown and used as such), never a second, hidden one."""
    def shown(*args):
        data = cli(*args, "config", "show", "-o", "json").json()
        assert not {"bootstrap.servers", "metadata.broker.list"} & set(data["kafka"])
        return data["bootstrap_servers"]

    props = tmp_path / "client.properties"
    props.write_text("bootstrap.servers=props:9092\n")
    assert shown("-X", "bootstrap.servers=x:9092") == "x:9092"
    assert shown("-X", "metadata.broker.list=alias:9092") == "alias:9092"
    assert shown("--command-config", str(props)) == "props:9092"
    assert shown("--command-config", str(props), "-X", "bootstrap.servers=x:9092") == "x:9092"
    assert shown("-b", "flag:9092", "-X", "bootstrap.servers=x:9092") == "flag:9092"
    monkeypatch.setenv("INGESTCTL_BOOTSTRAP_SERVERS", "env:9092")
    assert shown("--command-config", str(props)) == "env:9092"
    monkeypatch.delenv("INGESTCTL_BOOTSTRAP_SERVERS")
    write_config(config_file, {"profiles": {
        "both": {"bootstrap_servers": "named:9092", "kafka": {"bootstrap.servers": "k:9092"}},
        "kafka-only": {"kafka": {"bootstrap.servers": "k:9092"}}}})
    assert shown("-p", "both") == "named:9092"
    assert shown("-p", "kafka-only") == "k:9092"


def test_output_from_environment_and_anywhere(cli, config_file, monkeypatch):
    monkeypatch.setenv("INGESTCTL_OUTPUT", "yaml")
    assert cli("config", "show").yaml()["profile"] == "prod"
    assert json.loads(cli("config", "show", "--output", "json").stdout)["profile"] == "prod"


def test_x_overrides_profile_and_is_redacted(cli, config_file):
    result = cli("-X", "sasl.password=other-Secret-77", "-X", "linger.ms=5",
                 "config", "show", "-o", "json")
    data = result.json()
    assert data["kafka"]["sasl.password"] == "***"
    assert data["kafka"]["linger.ms"] == "5"
    assert "other-Secret-77" not in result.stdout + result.stderr


def test_config_found_through_env_and_user_dir(cli, tmp_path, monkeypatch):
    elsewhere = write_config(tmp_path / "elsewhere.yaml",
                             {"profiles": {"x": {"bootstrap_servers": "x:1"}},
                              "default_profile": "x"})
    monkeypatch.setenv("INGESTCTL_CONFIG", str(elsewhere))
    assert cli("config", "show", "-o", "json").json()["bootstrap_servers"] == "x:1"
    monkeypatch.delenv("INGESTCTL_CONFIG")
    user = tmp_path / "xdg-config" / "ingestctl"
    user.mkdir(parents=True)
    write_config(user / "config.yaml", {"profiles": {"u": {"bootstrap_servers": "u:1"}},
                                         "default_profile": "u"})
    assert cli("config", "show", "-o", "json").json()["bootstrap_servers"] == "u:1"


@pytest.mark.parametrize("data,needle", [
    ({"profiles": {"p": {"bootstrap_servrs": "x"}}}, "bootstrap_servrs"),
    ({"profile": {}}, "'profile'"),
    ({"profiles": {"p": {"schema_registry": {"uri": "x"}}}}, "uri"),
    ({"profiles": {"p": {"replay": {"speed": 1}}}}, "speed"),
])
def test_unknown_keys_are_refused_with_exit_7(cli, tmp_path, data, needle):
    path = write_config(tmp_path / "bad.yaml", data)
    result = cli("--config", str(path), "config", "show")
    assert result.code == 7
    assert needle in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_yaml_missing_env_and_missing_file(cli, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("profiles: [unclosed\n")
    result = cli("--config", str(bad), "config", "show")
    assert result.code == 7 and "not valid YAML" in result.stderr
    env = write_config(tmp_path / "env.yaml",
                       {"profiles": {"p": {"bootstrap_servers": "${env:NOPE_NOT_SET_42}"}}})
    result = cli("--config", str(env), "-p", "p", "config", "show")
    assert result.code == 7 and "NOPE_NOT_SET_42" in result.stderr
    result = cli("--config", str(tmp_path / "missing.yaml"), "config", "show")
    assert result.code == 7 and "missing.yaml" in result.stderr


def test_unknown_profile_is_a_usage_error(cli, config_file):
    result = cli("-p", "staging", "config", "show")
    assert result.code == 2
    assert "staging" in result.stderr and "dev, prod" in result.stderr


def test_command_config_properties(cli, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text(
        "# Java client settings\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism: SCRAM-SHA-512\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n'
        '    username="ops" password="jaas-Secret-991";\n'
        "ssl.truststore.location=/etc/ca.pem\n"
    )
    result = cli("--command-config", str(props), "config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    kafka = result.json()["kafka"]
    assert kafka["security.protocol"] == "SASL_SSL"
    assert kafka["sasl.mechanism"] == "SCRAM-SHA-512"
    assert kafka["sasl.username"] == "ops"
    assert kafka["sasl.password"] == "***"
    assert kafka["ssl.ca.location"] == "/etc/ca.pem"
    assert "jaas-Secret-991" not in result.stdout + result.stderr


def test_java_keystore_is_refused(cli, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text("ssl.truststore.location=/etc/kafka/truststore.jks\n")
    result = cli("--command-config", str(props), "config", "show")
    assert result.code == 7 and "PEM" in result.stderr


_key = st.from_regex(r"[a-z][a-z0-9.]{0,20}", fullmatch=True)
_value = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"],
                                        blacklist_characters="\\"),
                 max_size=30).map(str.strip)


@given(st.dictionaries(_key.filter(lambda k: k not in (
    "sasl.jaas.config", "ssl.truststore.location", "ssl.keystore.location",
    "ssl.truststore.password", "ssl.keystore.password", "ssl.truststore.type",
    "ssl.keystore.type")), _value, max_size=8))
def test_properties_roundtrip(tmp_path_factory, props):
    path = tmp_path_factory.mktemp("props") / "client.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    assert parse_properties(path) == props


# --- every value is checked when the file is loaded (exit 7, one line: file, key, expected) --

def _prod(**values):
    """A file whose profile 'prod' holds values; 'dev' is another, valid profile."""
    return {"default_profile": "prod",
            "profiles": {"prod": {"bootstrap_servers": "b:9092", **values},
                         "dev": {"bootstrap_servers": "dev:9092"}}}


def _refused(cli, path, *args):
    result = cli("--config", str(path), *args, "config", "show", "-o", "json")
    assert result.code == 7, (result.code, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert str(path) in result.stderr
    return result.stderr


_RATE = "a rate greater than zero"
_RECORDS = "a number greater than zero"
_STRING = "a non-empty string"
_MAPPING = "a mapping"
_PROPERTY = "a string, a number or true/false"


@pytest.mark.parametrize("data,key,expected", [
    (_prod(replay={"max_records_per_sec": "fast"}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": -1}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": 0}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": True}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": float("inf")}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": float("nan")}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"max_records_per_sec": 10**400}),
     "profiles.prod.replay.max_records_per_sec", _RECORDS),
    (_prod(replay={"rate": "-5MiB/s"}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": 0}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": "0MiB/s"}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": -2000}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": "fast"}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": True}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay={"rate": "9" * 400}), "profiles.prod.replay.rate", _RATE),
    (_prod(replay=["rate", "5MiB/s"]), "profiles.prod.replay", _MAPPING),
    (_prod(replay="5MiB/s"), "profiles.prod.replay", _MAPPING),
    ({"profiles": {"prod": {"bootstrap_servers": 9092}}},
     "profiles.prod.bootstrap_servers", _STRING),
    ({"profiles": {"prod": {"bootstrap_servers": ["a:1", "b:2"]}}},
     "profiles.prod.bootstrap_servers", _STRING),
    ({"profiles": {"prod": {"bootstrap_servers": ""}}},
     "profiles.prod.bootstrap_servers", _STRING),
    (_prod(kafka=["security.protocol=SSL"]), "profiles.prod.kafka", _MAPPING),
    (_prod(kafka="security.protocol=SSL"), "profiles.prod.kafka", _MAPPING),
    (_prod(kafka={"ssl": {"ca.location": "/ca.pem"}}), "profiles.prod.kafka.ssl", _PROPERTY),
    (_prod(kafka={"sasl.password": None}), "profiles.prod.kafka.sasl.password", _PROPERTY),
    (_prod(kafka={"linger.ms": [5]}), "profiles.prod.kafka.linger.ms", _PROPERTY),
    (_prod(kafka={5: "x"}), "profiles.prod.kafka", "property names"),
    (_prod(schema_registry=8081), "profiles.prod.schema_registry", "a URL or a mapping"),
    (_prod(schema_registry=["https://r"]), "profiles.prod.schema_registry",
     "a URL or a mapping"),
    (_prod(schema_registry={"url": 8081}), "profiles.prod.schema_registry.url", _STRING),
    (_prod(schema_registry={"url": "https://r", "basic_auth": ["u", "p"]}),
     "profiles.prod.schema_registry.basic_auth", _STRING),
    (_prod(connect_url=True), "profiles.prod.connect_url", _STRING),
    (_prod(connect_basic_auth={"u": "p"}), "profiles.prod.connect_basic_auth", _STRING),
    (_prod(checkpoint_dir=5), "profiles.prod.checkpoint_dir", _STRING),
    (_prod(checkpoint_dir=["/a"]), "profiles.prod.checkpoint_dir", _STRING),
    ({"profiles": {"prod": ["bootstrap_servers"]}}, "profiles.prod", _MAPPING),
    ({"profiles": {"prod": "b:9092"}}, "profiles.prod", _MAPPING),
    ({"profiles": ["prod"]}, "profiles", _MAPPING),
    ({"profiles": {7: {"bootstrap_servers": "b:9092"}}}, "profiles", "profile names"),
    ({"default_profile": "staging", "profiles": {"prod": {}}}, "default_profile",
     "one of the profiles"),
    ({"default_profile": ["prod"], "profiles": {"prod": {}}}, "default_profile", _STRING),
    ({"default_profile": 5, "profiles": {"5": {}}}, "default_profile", _STRING),
])
def test_a_bad_value_is_refused_when_the_file_is_loaded(cli, tmp_path, data, key, expected):
    path = write_config(tmp_path / "bad.yaml", data)
    stderr = _refused(cli, path)
    assert key in stderr and expected in stderr


@pytest.mark.parametrize("text,key,expected", [
    ("profiles: {prod: {checkpoint_dir: 2024-01-01}}", "profiles.prod.checkpoint_dir", _STRING),
    ("profiles: {prod: {bootstrap_servers: !!binary aGk=}}",
     "profiles.prod.bootstrap_servers", _STRING),
    ("profiles: {prod: {kafka: {linger.ms: 2024-01-01T00:00:00Z}}}",
     "profiles.prod.kafka.linger.ms", _PROPERTY),
    ("profiles: {prod: {replay: {rate: .inf}}}", "profiles.prod.replay.rate", _RATE),
    ("- a\n- b\n", "the top level", _MAPPING),
    ("5\n", "the top level", _MAPPING),
    ("profiles: {prod: {kafka: []}}", "profiles.prod.kafka", _MAPPING),
    ("profiles: {prod: {replay: 0}}", "profiles.prod.replay", _MAPPING),
    ("profiles: []", "profiles", _MAPPING),
])
def test_odd_yaml_types_are_refused_when_the_file_is_loaded(cli, tmp_path, text, key,
                                                             expected):
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    stderr = _refused(cli, path)
    assert key in stderr and expected in stderr


@pytest.mark.parametrize("text", [
    "profiles: {prod: {checkpoint_dir: 2024-13-45}}",   # a date that is none
    "profiles: {prod: {kafka: {retries: !!int many}}}",
    "profiles: {prod: {kafka: {retries: 0x_}}}",
    "profiles: {prod: {kafka: {enable.idempotence: !!bool maybe}}}",
    "profiles: {prod: {checkpoint_dir: !!timestamp soon}}",
    "profiles: {prod: {kafka: {retries: " + "1" * 5000 + "}}}",
    "profiles: " + "[" * 1000 + "]" * 1000,
])
def test_yaml_that_cannot_be_read_is_refused(cli, tmp_path, text):
    path = tmp_path / "unreadable.yaml"
    path.write_text(text)
    assert "not valid YAML" in _refused(cli, path)


def test_a_bad_profile_is_refused_whichever_profile_is_used(cli, tmp_path):
    """Checked when the file is loaded: not only when the bad profile is the one in use."""
    path = write_config(tmp_path / "bad.yaml", _prod(replay={"max_records_per_sec": "fast"}))
    assert "profiles.prod.replay.max_records_per_sec" in _refused(cli, path, "-p", "dev")
    path = write_config(tmp_path / "bad.yaml", {"default_profile": "gone",
                                                 "profiles": {"dev": {}}})
    assert "default_profile" in _refused(cli, path, "-p", "dev")


def test_a_bad_value_from_the_environment_is_refused(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAY_RATE", "fast")
    path = write_config(tmp_path / "env.yaml", _prod(replay={"rate": "${env:REPLAY_RATE}"}))
    stderr = _refused(cli, path)
    assert "profiles.prod.replay.rate" in stderr and _RATE in stderr
    # the file's text is shown, not the environment's value (which might be a secret)
    assert "'${env:REPLAY_RATE}', as the environment sets it" in stderr
    assert "fast" not in stderr
    monkeypatch.setenv("REPLAY_RATE", "2MiB/s")
    result = cli("--config", str(path), "config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["replay"]["rate"] == 2 * 1024 * 1024


def test_missing_env_reference_names_the_key(cli, tmp_path):
    path = write_config(tmp_path / "env.yaml", _prod(kafka={"sasl.password": "${env:NOPE_42}"}))
    stderr = _refused(cli, path)
    assert "profiles.prod.kafka.sasl.password refers to ${env:NOPE_42}" in stderr


def test_valid_values_keep_their_meaning(cli, tmp_path, monkeypatch):
    """Scalars in kafka: become the strings librdkafka takes; numbers and numeric strings
    (as ${env:NAME} gives) are rates and quotas; an empty (null) section or key is unset."""
    monkeypatch.setenv("MAX_RECORDS", "250")
    path = write_config(tmp_path / "ok.yaml", _prod(
        kafka={"linger.ms": 5, "enable.idempotence": True, "batch.num.messages": 1.5,
               "client.id": ""},
        replay={"rate": 2000, "max_records_per_sec": "${env:MAX_RECORDS}"},
        schema_registry="https://registry:8081",
        connect_url=None, checkpoint_dir=None))
    result = cli("--config", str(path), "config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["kafka"] == {"linger.ms": "5", "enable.idempotence": "True",
                             "batch.num.messages": "1.5", "client.id": ""}
    assert data["replay"] == {"rate": 2000.0, "max_records_per_sec": 250.0}
    assert data["schema_registry"]["url"] == "https://registry:8081"
    assert data["connect_url"] is None and data["checkpoint_dir"] == "checkpoints"
    path = write_config(tmp_path / "ok.yaml", _prod(kafka=None, replay=None,
                                                    schema_registry=None))
    assert cli("--config", str(path), "config", "show", "-o", "json").code == 0
    path.write_text("")
    assert cli("--config", str(path), "config", "show", "-o", "json").code == 0


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_timeout_must_be_a_positive_number(cli, value):
    result = cli("--timeout", value, "config", "show", "-o", "json")
    assert result.code == 2 and "--timeout" in result.stderr


# --- contract: the event contract `topics audit` checks by default --------------------------

def test_contract_section_is_shown_and_on_settings(cli, tmp_path, monkeypatch):
    from ingestctl.config import resolve

    monkeypatch.setenv("TENANT_HEADER", "tenant")
    path = write_config(tmp_path / "ok.yaml", _prod(contract={
        "idempotency_header": "idempotency-key",
        "required_headers": ["${env:TENANT_HEADER}", "producer"]}))
    result = cli("--config", str(path), "config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["contract"] == {"idempotency_header": "idempotency-key",
                                         "required_headers": ["tenant", "producer"]}
    table = cli("--config", str(path), "config", "show")
    assert table.code == 0 and "idempotency-key" in table.stdout
    settings = resolve(config=str(path), profile=None, bootstrap_servers=None, x_props=[],
                       command_config=None, schema_registry=None, connect_url=None,
                       timeout=None)
    assert settings.contract_idempotency_header == "idempotency-key"
    assert settings.contract_required_headers == ["tenant", "producer"]
    dev = cli("--config", str(path), "-p", "dev", "config", "show", "-o", "json")
    assert dev.json()["contract"] == {"idempotency_header": None, "required_headers": []}
    path = write_config(tmp_path / "ok.yaml", _prod(contract={"required_headers": None}))
    assert cli("--config", str(path), "config", "show", "-o", "json").json()["contract"] == {
        "idempotency_header": None, "required_headers": []}


@pytest.mark.parametrize("contract,key,expected", [
    (["idempotency-key"], "profiles.prod.contract", _MAPPING),
    ("idempotency-key", "profiles.prod.contract", _MAPPING),
    ({"idempotency_header": ""}, "profiles.prod.contract.idempotency_header", _STRING),
    ({"idempotency_header": 5}, "profiles.prod.contract.idempotency_header", _STRING),
    ({"idempotency_header": ["a"]}, "profiles.prod.contract.idempotency_header", _STRING),
    ({"required_headers": "tenant"}, "profiles.prod.contract.required_headers",
     "a list of header names"),
    ({"required_headers": {"tenant": True}}, "profiles.prod.contract.required_headers",
     "a list of header names"),
    ({"required_headers": ["tenant", ""]}, "profiles.prod.contract.required_headers[1]",
     _STRING),
    ({"required_headers": [None]}, "profiles.prod.contract.required_headers[0]", _STRING),
    ({"required_headers": [["tenant"]]}, "profiles.prod.contract.required_headers[0]",
     _STRING),
    ({"idempotency": "key"}, "unknown key 'idempotency' in profiles.prod.contract",
     "allowed: idempotency_header, required_headers"),
])
def test_a_bad_contract_is_refused(cli, tmp_path, contract, key, expected):
    path = write_config(tmp_path / "bad.yaml", _prod(contract=contract))
    stderr = _refused(cli, path, "-p", "dev")
    assert key in stderr and expected in stderr
