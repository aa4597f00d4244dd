"""Config files, profiles, precedence, client.properties, and redaction."""

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ingestctl.config import parse_properties

SECRET = "s3cr3t-Pa55-zq81"


def write_config(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_PASSWORD", SECRET)
    return write_config(tmp_path / "ingestctl.yaml", {
        "default_profile": "prod",
        "profiles": {
            "prod": {
                "bootstrap_servers": "broker-1:9093",
                "kafka": {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                          "sasl.username": "ops", "sasl.password": "${env:KAFKA_PASSWORD}"},
                "schema_registry": {"url": "https://registry:8081",
                                    "basic_auth": "user:${env:KAFKA_PASSWORD}"},
                "connect_url": "https://connect:8083",
                "checkpoint_dir": "/tmp/ckpts",
                "replay": {"rate": "5MiB/s"},
            },
            "dev": {"bootstrap_servers": "dev:9092"},
        },
    })


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


def test_verbose_client_logs_never_show_the_password(cli, config_file, kafka_bootstrap):
    # -vv shows librdkafka's logs; the profile's planted password must not appear in them.
    result = cli("-v", "-v", "-b", kafka_bootstrap, "-X", "security.protocol=PLAINTEXT",
                 "-X", "sasl.mechanism=PLAIN", "cluster", "info", "-o", "json")
    assert result.code == 0, result.stderr
    assert "librdkafka" in result.stderr
    assert SECRET not in result.stdout + result.stderr
