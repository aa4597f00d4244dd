"""Security on real listeners: one sandbox broker with SASL (SCRAM-SHA-512, PLAIN), TLS with
its own CA and client certificates, and ACLs enforced by KRaft's StandardAuthorizer. Proves
that profiles, -X and --command-config connect through each; that a wrong password, an
untrusted certificate and a missing ACL each end at once with exit 5 and one sentence naming
the cause; and that planted passwords never leave the process: not in stdout, stderr, -v/-vv
logs, --debug tracebacks, checkpoints, plan files, the audit log or replay progress records.

Set INGESTCTL_TEST_SECURITY_DIR to a data dir to reuse (and leave running) a secured sandbox
while developing; by default the session starts its own and stops it at the end."""

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from support.kafkautil import commit, committed, create_topic, produce
from support.names import unique
from support.process import run_process
from support.sessions import SESSION_SANDBOXES
from support.waiting import wait_for

from ingestctl import kafka, sandbox
from ingestctl.config import Settings
from ingestctl.errors import ClusterError, ExitCode
from ingestctl.kafka.security import upsert_scram_user
from ingestctl.sandbox import security as sandbox_security

PLANTED = "Planted-Zq7x-profile-secret-8841"  # user ops, through a profile (${env:...})
PLANTED_X = "Planted-Kv3w-flag-secret-2290"  # user ops-x, through -X
# A command that waited out its --timeout would hit the process timeout first: these prove
# that authentication failures end the wait at once, without timing anything.
NEVER = "900"
BOUND = 120


@dataclass
class Secure:
    data_dir: Path
    plain: str  # PLAINTEXT listener: principal ANONYMOUS, a super user (as every other test)
    sasl: str
    ssl: str
    ca: str
    cert: str  # the super user's client certificate (CN=admin)
    key: str
    credentials: str
    admin_password: str
    status: dict


def _grant(plain: str, principal: str, resource: ResourceType, name: str,
           operation: AclOperation, prefixed: bool = False) -> None:
    admin = AdminClient({"bootstrap.servers": plain})
    binding = AclBinding(resource, name,
                         ResourcePatternType.PREFIXED if prefixed else ResourcePatternType.LITERAL,
                         principal, "*", operation, AclPermissionType.ALLOW)
    for future in admin.create_acls([binding]).values():
        future.result(30)


def _scram_user(secure: Secure, user: str, password: str) -> None:
    upsert_scram_user(kafka.Admin(Settings(bootstrap_servers=secure.plain, timeout=30)),
                      user, password)


def _everything(secure: Secure, user: str) -> None:
    for resource in (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID):
        _grant(secure.plain, f"User:{user}", resource, "*", AclOperation.ALL)
    _grant(secure.plain, f"User:{user}", ResourceType.BROKER, "kafka-cluster", AclOperation.ALL)


@pytest.fixture(scope="session")
def secure(tmp_path_factory) -> Secure:
    reuse = os.environ.get("INGESTCTL_TEST_SECURITY_DIR")
    data_dir = Path(reuse) if reuse else tmp_path_factory.mktemp("sandbox-secure")
    status = sandbox.start(data_dir=data_dir, port=None if reuse else sandbox.free_port(),
                           security=True)
    try:
        info = sandbox.read_state(Path(status.data_dir))["security"]
        fields = status.as_dict()
        result = Secure(
            data_dir=Path(status.data_dir), plain=status.bootstrap,
            sasl=fields["sasl_bootstrap"], ssl=fields["ssl_bootstrap"], ca=fields["ca_file"],
            cert=fields["client_certificate"], key=fields["client_key"],
            credentials=fields["credentials_file"],
            admin_password=sandbox_security.super_user_password(info), status=fields)
        for user, password in (("ops", PLANTED), ("ops-x", PLANTED_X)):
            _scram_user(result, user, password)
            _everything(result, user)
        yield result
    finally:
        if not reuse:
            sandbox.stop(data_dir)


def scram(secure: Secure, user: str, password: str, mechanism: str = "SCRAM-SHA-512"):
    return ["-b", secure.sasl, "-X", "security.protocol=SASL_PLAINTEXT",
            "-X", f"sasl.mechanism={mechanism}", "-X", f"sasl.username={user}",
            "-X", f"sasl.password={password}"]


def tls(secure: Secure, ca: str | None = None, cert: str | None = None, key: str | None = None):
    return ["-b", secure.ssl, "-X", "security.protocol=SSL",
            "-X", f"ssl.ca.location={ca or secure.ca}",
            "-X", f"ssl.certificate.location={cert or secure.cert}",
            "-X", f"ssl.key.location={key or secure.key}"]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ingestctl: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def now_records(count: int, partitions: int = 2) -> list[dict]:
    ts = int(time.time() * 1000) - 60_000
    return [{"partition": p, "key": f"k{p}-{i}".encode(), "value": b"v" * 20,
             "timestamp": ts + i} for p in range(partitions) for i in range(count)]


@pytest.fixture
def topic(secure) -> str:
    name = unique("sec")
    create_topic(secure.plain, name, partitions=2)
    produce(secure.plain, name, now_records(5))
    return name


# --- the sandbox --------------------------------------------------------------------------

def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_status_names_listeners_and_files_but_no_secret(secure):
    shown = run_process("sandbox", "status", "--data-dir", secure.data_dir, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["running"] is True
    assert status["sasl_mechanisms"] == ["SCRAM-SHA-512", "PLAIN"]
    assert status["super_user"] == "admin"
    for key in ("sasl_bootstrap", "ssl_bootstrap"):
        assert status[key].startswith("127.0.0.1:") and status[key] != status["bootstrap"]
    table = run_process("sandbox", "status", "--data-dir", secure.data_dir)
    for output in (shown, table):
        assert secure.admin_password not in output.stdout + output.stderr
    assert secure.ssl in table.stdout and "credentials_file" in table.stdout

    # The password lives in the credentials file (0600) and server.properties (PLAIN users),
    # both in directories only the user can enter.
    assert secure.admin_password in Path(status["credentials_file"]).read_text()
    assert mode(status["credentials_file"]) == 0o600
    assert mode(status["client_key"]) == 0o600
    assert mode(Path(status["ca_file"]).parent) == 0o700
    assert mode(secure.data_dir) == 0o700
    assert "BEGIN CERTIFICATE" in Path(status["ca_file"]).read_text()
    state = (secure.data_dir / sandbox.STATE_FILE).read_text()
    assert secure.admin_password not in state


def test_security_cannot_be_added_to_a_running_plain_sandbox(kafka_bootstrap):
    own = SESSION_SANDBOXES.get("sandbox-a")
    if own is None:
        pytest.skip("the shared broker is not this session's sandbox")
    result = run_process("sandbox", "start", "--data-dir", own, "--security")
    assert result.returncode == ExitCode.USAGE
    assert "running without --security; stop it first" in one_error_line(result.stderr)


# --- connecting -----------------------------------------------------------------------------

def test_scram_through_a_profile_with_the_password_from_the_environment(cli, secure, topic,
                                                                        tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", PLANTED)
    config = tmp_path / "ingestctl.yaml"
    config.write_text(yaml.safe_dump({"profiles": {"secure": {
        "bootstrap_servers": secure.sasl,
        "kafka": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                  "sasl.username": "ops", "sasl.password": "${env:OPS_PASSWORD}"}}}}))
    result = cli("-p", "secure", "topics", "describe", topic, "-o", "json")
    assert result.code == 0, result.stderr
    assert [p["records"] for p in result.json()[0]["partitions"]] == [5, 5]
    info = cli("-p", "secure", "cluster", "info", "-o", "json")
    assert info.code == 0 and info.json()["cluster_id"] == secure.status["cluster_id"]


def test_plain_through_flags(cli, secure, topic):
    result = cli(*scram(secure, "admin", secure.admin_password, "PLAIN"),
                 "topics", "peek", topic, "--count", "2", "-o", "json")
    assert result.code == 0, result.stderr
    assert len(result.json()) == 4


def test_the_credentials_file_is_a_client_properties(cli, secure, topic):
    """Java-style sasl.jaas.config, translated for librdkafka."""
    result = cli("-b", secure.sasl, "--command-config", secure.credentials,
                 "topics", "describe", topic, "-o", "json")
    assert result.code == 0, result.stderr
    assert sum(p["records"] for p in result.json()[0]["partitions"]) == 10


def test_tls_with_a_client_certificate_whose_cn_is_the_principal(cli, secure, topic, tmp_path):
    config = tmp_path / "ingestctl.yaml"
    config.write_text(yaml.safe_dump({"profiles": {"tls": {
        "bootstrap_servers": secure.ssl,
        "kafka": {"security.protocol": "SSL", "ssl.ca.location": secure.ca,
                  "ssl.certificate.location": secure.cert, "ssl.key.location": secure.key}}}}))
    result = cli("-p", "tls", "topics", "describe", topic, "-o", "json")
    assert result.code == 0, result.stderr
    assert sum(p["records"] for p in result.json()[0]["partitions"]) == 10

    # A certificate the sandbox's CA signed for CN=nobody authenticates as User:nobody, who
    # holds no ACL: the authorizer, not the handshake, refuses it.
    name = unique("nobody")
    cert, key = sandbox_security.issue_certificate(Path(secure.ca).parent, name, tmp_path)
    refused = cli(*tls(secure, cert=cert, key=key), "topics", "describe", topic)
    assert refused.code == ExitCode.CLUSTER
    assert "not authorized (Topic Describe denied)" in one_error_line(refused.stderr)
    _grant(secure.plain, f"User:{name}", ResourceType.TOPIC, topic, AclOperation.DESCRIBE)
    _grant(secure.plain, f"User:{name}", ResourceType.TOPIC, topic,
           AclOperation.DESCRIBE_CONFIGS)
    _grant(secure.plain, f"User:{name}", ResourceType.TOPIC, topic, AclOperation.READ)
    _grant(secure.plain, f"User:{name}", ResourceType.GROUP, "ingestctl-reader-",
           AclOperation.DESCRIBE, prefixed=True)
    allowed = cli(*tls(secure, cert=cert, key=key), "topics", "describe", topic)
    assert allowed.code == 0, allowed.stderr


# --- authentication failures ----------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_a_wrong_password_ends_at_once_with_exit_5(secure, mechanism):
    wrong = f"Wrong-{mechanism}-pw-5521"
    result = run_process(*scram(secure, "admin", wrong, mechanism), "--timeout", NEVER,
                         "topics", "list", timeout=BOUND)
    assert result.returncode == ExitCode.CLUSTER
    line = one_error_line(result.stderr)
    assert f"SASL authentication with {secure.sasl} as user 'admin' failed" in line
    assert "check sasl.username, sasl.password, sasl.mechanism" in line
    assert wrong not in result.stdout + result.stderr and result.stdout == ""


def test_an_untrusted_broker_certificate_ends_at_once_with_exit_5(secure, tmp_path):
    rogue_ca, _ = sandbox_security.new_certificate_authority(tmp_path / "rogue", "rogue CA")
    result = run_process(*tls(secure, ca=rogue_ca), "--timeout", NEVER, "topics", "list",
                         timeout=BOUND)
    assert result.returncode == ExitCode.CLUSTER
    line = one_error_line(result.stderr)
    assert f"the TLS handshake with {secure.ssl} failed" in line
    assert "certificate verify failed" in line and "set ssl.ca.location" in line


def test_an_untrusted_client_certificate_ends_at_once_with_exit_5(secure, tmp_path):
    rogue = tmp_path / "rogue"
    sandbox_security.new_certificate_authority(rogue, "rogue CA")
    cert, key = sandbox_security.issue_certificate(rogue, "admin")  # the super user's CN
    result = run_process(*tls(secure, cert=cert, key=key), "--timeout", NEVER,
                         "cluster", "info", timeout=BOUND)
    assert result.returncode == ExitCode.CLUSTER
    line = one_error_line(result.stderr)
    assert f"the brokers at {secure.ssl} refused the client certificate" in line
    assert "signed by a CA the brokers trust" in line


def _wrong_settings(secure) -> Settings:
    return Settings(bootstrap_servers=secure.sasl, timeout=float(NEVER), kafka={
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "ops", "sasl.password": "not-the-password"})


def test_consumers_report_a_failed_authentication(secure, topic):
    """Readers that do not watch librdkafka's errors still end, from consume(), with the
    cause (the timeout is far away)."""
    consumer = kafka.new_consumer(_wrong_settings(secure))
    consumer.assign([TopicPartition(topic, 0, 0)])
    with pytest.raises(ClusterError, match="SASL authentication .* as user 'ops' failed"):
        for _ in range(BOUND * 5):
            consumer.consume(10, timeout=0.2)
    consumer.close()


def test_producers_report_a_failed_authentication(secure, topic):
    producer = kafka.new_producer(_wrong_settings(secure))
    producer.produce(topic, b"never written", partition=0)
    with pytest.raises(ClusterError, match="SASL authentication .* as user 'ops' failed"):
        for _ in range(BOUND * 5):
            producer.poll(0.2)


# --- authorization failures -----------------------------------------------------------------

def _user_with(secure: Secure, acls) -> list[str]:
    """A new SCRAM user holding exactly these ACLs; its connection flags."""
    user = unique("restricted")
    _scram_user(secure, user, f"{user}-password")
    for resource, name, operation in acls:
        prefixed = name.endswith("*") and name != "*"
        _grant(secure.plain, f"User:{user}", resource, name.rstrip("*") if prefixed else name,
               operation, prefixed)
    return scram(secure, user, f"{user}-password")


def _denied(cli, flags, *args, why="") -> str:
    result = cli(*flags, *args)
    assert result.code == ExitCode.CLUSTER, (args, why, result.code, result.stderr)
    return one_error_line(result.stderr)


def test_each_missing_acl_is_named_by_resource_and_operation(cli, secure, topic):
    """For each ACL a command needs, a principal holding all the others is refused with a
    sentence naming the one it lacks; holding all of them, it succeeds."""
    T, G, Op = ResourceType.TOPIC, ResourceType.GROUP, AclOperation
    # Readers assign partitions at explicit offsets, but the client still looks up the
    # coordinator of its throwaway group, which needs Group Describe on ingestctl-reader-*.
    # Without it, whether the refusal or the records arrive first is a race in librdkafka:
    # the README asks for that ACL, and this test grants it.
    reader_group = (G, "ingestctl-reader-*", Op.DESCRIBE)
    needs = {
        "Topic Describe": (T, topic, Op.DESCRIBE),
        "Topic DescribeConfigs": (T, topic, Op.DESCRIBE_CONFIGS),
        "Topic Read": (T, topic, Op.READ),
    }
    for missing in needs:
        # Kafka's ACLs imply Describe from Read: without Describe, without Read too.
        gone = {missing, "Topic Read"} if missing == "Topic Describe" else {missing}
        flags = _user_with(secure, [reader_group] + [
            acl for name, acl in needs.items() if name not in gone])
        line = _denied(cli, flags, "topics", "describe", topic, why=missing)
        assert f"the principal is not authorized ({missing} denied)" in line, line
    flags = _user_with(secure, [reader_group, *needs.values()])
    described = cli(*flags, "topics", "describe", topic, "-o", "json")
    assert described.code == 0, described.stderr
    assert sum(p["records"] for p in described.json()[0]["partitions"]) == 10


def test_group_acls_are_named_and_nothing_changes_without_them(cli, secure, topic):
    group = unique("sec-group")
    commit(secure.plain, group, topic, {0: 1, 1: 2})
    T, G, Op = ResourceType.TOPIC, ResourceType.GROUP, AclOperation
    # Lag in seconds reads records: the readers' group ACL too (see the test above).
    topic_acls = [(T, topic, Op.DESCRIBE), (T, topic, Op.READ),
                  (G, "ingestctl-reader-*", Op.DESCRIBE)]

    flags = _user_with(secure, topic_acls)
    assert f"describing group {group} failed: the principal is not authorized " \
           "(Group Describe denied)" in _denied(cli, flags, "groups", "describe", group)

    flags = _user_with(secure, [*topic_acls, (G, group, Op.DESCRIBE)])
    described = cli(*flags, "groups", "describe", group, "-o", "json")
    assert described.code == 0 and described.json()[0]["total_lag"] == 7
    reset = ("groups", "reset", group, "--topic", topic, "--to-earliest", "--execute")
    assert f"altering the offsets of group {group} failed: the principal is not authorized " \
           "(Group Read denied)" in _denied(cli, flags, *reset)
    assert committed(secure.plain, group, topic, [0, 1]) == {0: 1, 1: 2}  # nothing changed

    flags = _user_with(secure, [*topic_acls, (G, group, Op.DESCRIBE), (G, group, Op.READ)])
    done = cli(*flags, *reset)
    assert done.code == 0, done.stderr
    assert committed(secure.plain, group, topic, [0, 1]) == {0: 0, 1: 0}


def test_a_replay_without_transactional_id_write_is_named(cli, secure, topic):
    user, password = unique("replayer"), "replayer-password-1"
    _scram_user(secure, user, password)
    principal = f"User:{user}"
    target = unique("sec-target")
    create_topic(secure.plain, target, partitions=2)
    # Everything a replay needs on topics and groups, but no TransactionalId ACL.
    _grant(secure.plain, principal, ResourceType.TOPIC, "*", AclOperation.ALL)
    _grant(secure.plain, principal, ResourceType.GROUP, "*", AclOperation.ALL)
    args = (*scram(secure, user, password), "replay", "--from-topic", topic, "--to-topic",
            target, "--start-offset", "0", "--execute", "-o", "json")
    refused = cli(*args)
    assert refused.code == ExitCode.CLUSTER, refused.stderr
    assert "(TransactionalId Write denied)" in one_error_line(refused.stderr)
    _grant(secure.plain, principal, ResourceType.TRANSACTIONAL_ID, "ingestctl-replay-",
           AclOperation.WRITE, prefixed=True)
    _grant(secure.plain, principal, ResourceType.TRANSACTIONAL_ID, "ingestctl-replay-",
           AclOperation.DESCRIBE, prefixed=True)
    done = cli(*args)
    assert done.code == 0, done.stderr
    assert done.json()["records"] == 10


# --- secrets --------------------------------------------------------------------------------

def _progress_records(plain: str) -> list[bytes]:
    """Every key and value in the replay progress topic, raw."""
    consumer = Consumer({"bootstrap.servers": plain, "group.id": unique("progress-reader"),
                         "enable.auto.commit": False})
    parts = [TopicPartition("ingestctl-replay-progress", p, 0) for p in
             consumer.list_topics("ingestctl-replay-progress", timeout=20)
             .topics["ingestctl-replay-progress"].partitions]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=20)[1] for tp in parts}
    consumer.assign(parts)
    out, seen = [], {p: 0 for p in ends}

    def read_more() -> bool:
        for msg in consumer.consume(500, timeout=0.5):
            if msg.error() is None:
                out.extend((msg.key() or b"", msg.value() or b""))
                seen[msg.partition()] = msg.offset() + 1
        for tp in consumer.position(parts):
            seen[tp.partition] = max(seen[tp.partition], tp.offset)
        return all(seen[p] >= e for p, e in ends.items())

    if not all(seen[p] >= e for p, e in ends.items()):
        wait_for("the progress topic read to its end", read_more, interval=0)
    consumer.close()
    return out


def test_planted_passwords_never_leave_the_process(cli, secure, topic, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", PLANTED)
    config = tmp_path / "ingestctl.yaml"
    directory = tmp_path / "checkpoints"
    config.write_text(yaml.safe_dump({"default_profile": "secure", "profiles": {"secure": {
        "bootstrap_servers": secure.sasl, "checkpoint_dir": str(directory),
        "kafka": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                  "sasl.username": "ops", "sasl.password": "${env:OPS_PASSWORD}"}}}}))
    group = unique("sec-sink")
    commit(secure.plain, group, topic, {0: 3, 1: 4})
    flag = ["-X", "sasl.username=ops-x", "-X", f"sasl.password={PLANTED_X}"]
    target = unique("sec-repair")
    plan, rollback_plan = tmp_path / "reset-plan.yaml", tmp_path / "rollback-plan.yaml"
    seen: list[str] = []

    def run(*args, expect=0, process=False):
        if process:
            result = run_process(*args, env={"OPS_PASSWORD": PLANTED}, timeout=BOUND)
            code, out, err = result.returncode, result.stdout, result.stderr
        else:
            result = cli(*args)
            code, out, err = result.code, result.stdout, result.stderr
        assert code == expect, (args, code, err)
        seen.extend([out, err])
        return out, err

    run("config", "show", "-o", "json")
    run(*flag, "config", "show")
    run("-v", "topics", "describe", topic, process=True)
    _, debug_log = run("-vv", *flag, "topics", "peek", topic, process=True)
    assert "sasl" in debug_log.lower()  # -vv did show librdkafka's security debug lines
    run("-v", "groups", "describe", group)
    _, trace = run("--debug", *flag, "topics", "describe", unique("missing"), expect=4,
                   process=True)
    assert "Traceback" in trace
    _, trace = run("--debug", "-vv", "-X", f"sasl.password={PLANTED_X}-wrong", "--timeout",
                   NEVER, "topics", "list", expect=5, process=True)
    assert "Traceback" in trace and "SASL authentication" in trace
    run("checkpoint", "create", "wave-1", "--group", group, "--note", "before")
    run("checkpoint", "show", "wave-1", "-o", "yaml")
    run(*flag, "checkpoint", "list")
    commit(secure.plain, group, topic, {0: 5, 1: 5})
    run(*flag, "groups", "reset", group, "--topic", topic, "--to-offset", "1",
        "--plan-out", plan)
    run(*flag, "groups", "reset", group, "--topic", topic, "--to-offset", "2", "--execute")
    run("rollback", "--to-checkpoint", "wave-1", "--plan-out", rollback_plan)
    run("-v", *flag, "rollback", "--from-plan", rollback_plan, "--execute")
    run(*flag, "replay", "--from-topic", topic, "--to-topic", target, "--create-target",
        "--start-offset", "0", "--execute", "-o", "json", process=True)
    replays, _ = run("replay", "list", "-o", "json")
    for item in json.loads(replays):
        run(*flag, "replay", "status", item["replay_id"])

    files = [p for p in directory.rglob("*") if p.is_file()] + [plan, rollback_plan]
    names = {p.name for p in files}
    assert "audit.jsonl" in names and plan.exists() and rollback_plan.exists()
    audit = (directory / "audit.jsonl").read_text()
    assert '"action"' in audit and "sasl.password=***" in audit  # the -X line, redacted
    texts = seen + [p.read_text() for p in files]
    progress = _progress_records(secure.plain)
    assert any(target.encode() in record for record in progress)
    for secret in (PLANTED, PLANTED_X):
        for text in texts:
            assert secret not in text
        for record in progress:
            assert secret.encode() not in record
    assert committed(secure.plain, group, topic, [0, 1]) == {0: 3, 1: 4}  # the rollback ran

