"""Fuzzing the config loader through the CLI: whatever a config file holds, any YAML value of
any type at any level (the top, profiles, a profile, each of its keys, replay, kafka,
schema_registry, contract) and odd YAML text (a date that is none, tags, aliases, an integer
of 5000 digits), `config show` exits 0 or 7 (2 only for a -p profile that is not defined),
with one line on stderr: never 1 (an internal error), never a traceback. And when it exits 0,
what it shows is what later code trusts: strings for librdkafka, rates and quotas above zero."""

import math
from datetime import UTC

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

_KEYS = ["default_profile", "profiles", "prod", "dev", "bootstrap_servers", "kafka",
         "schema_registry", "connect_url", "connect_basic_auth", "checkpoint_dir", "replay",
         "contract", "url", "basic_auth", "rate", "max_records_per_sec", "idempotency_header",
         "required_headers", "linger.ms", "sasl.password", "bootstrap.servers"]

# Strings that mean something somewhere: rates, numbers as text, profile names, ${env:NAME}
# (set to a rate, set to a word, not set), blanks, rich markup, a NUL.
_WORDS = ["5MiB/s", "-5MiB/s", "0", "0MiB/s", "-1", "fast", "500KB/s", "2000", "1e400", "9" * 400,
          "nan", "inf", "true", "prod", "dev", "", " ", "b:9092", "a\0b", "[/bold]", "~/ck",
          "${env:CFG_FUZZ_RATE}", "${env:CFG_FUZZ_WORD}", "${env:CFG_FUZZ_EMPTY}",
          "${env:CFG_FUZZ_UNSET}", "x${env:CFG_FUZZ_RATE}", "${env:"]

_scalar = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([0, -1, 1, 10**400]),
    st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-300]),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.sampled_from(_WORDS),
    st.dates(), st.datetimes(timezones=st.just(UTC)),
    st.binary(max_size=6),
)
_key = st.one_of(st.sampled_from(_KEYS), st.text(max_size=6), st.integers(-3, 3), st.none(),
                 st.booleans(), st.floats(allow_nan=False), st.dates())
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_key, inner, max_size=3)),
    max_leaves=8)

# Plain YAML a dump never writes but a person may: each is read as the value of one key.
_RAW = ["2024-13-45", "2024-01-01 99:99:99", "!!int many", "!!float fast", "0x_", "!!int 0b",
        "!!bool maybe", "!!timestamp soon", "!!binary aGk=", "!!set {a: null}",
        "!!omap [{a: 1}]", "1" * 5000, "&a [*a]", "&b {k: *b}", "*undefined", "{? [1]: 2}",
        "!!python/object:os.system x", "2024-01-01", "2024-01-01T02:10:00Z", ".inf", "-.inf",
        ".nan", "~", "190:20:30", "0o17", "0b101", "!!str", "!!null",
        "|\n      a\n      b", '"\\0"', "'unclosed"]


def _skeleton() -> dict:
    """A valid file with every key set: mutations then put wrong values anywhere in it."""
    return {
        "default_profile": "prod",
        "profiles": {
            "prod": {
                "bootstrap_servers": "broker-1:9093",
                "kafka": {"linger.ms": 5, "enable.idempotence": True,
                          "sasl.password": "${env:CFG_FUZZ_WORD}"},
                "schema_registry": {"url": "https://registry:8081", "basic_auth": "u:pw1"},
                "connect_url": "https://connect:8083",
                "connect_basic_auth": "u:pw2",
                "checkpoint_dir": "/tmp/ckpts",
                "replay": {"rate": "${env:CFG_FUZZ_RATE}", "max_records_per_sec": 100},
                "contract": {"idempotency_header": "idempotency-key",
                             "required_headers": ["tenant", "producer"]},
            },
            "dev": {"bootstrap_servers": "dev:9092"},
        },
    }


_PROFILE = ("profiles", "prod")
_SITES = [
    (), ("default_profile",), ("profiles",), _PROFILE, ("profiles", "dev"),
    *[(*_PROFILE, key) for key in _skeleton()["profiles"]["prod"]],
    (*_PROFILE, "kafka", "linger.ms"), (*_PROFILE, "kafka", "sasl.password"),
    (*_PROFILE, "schema_registry", "url"), (*_PROFILE, "schema_registry", "basic_auth"),
    (*_PROFILE, "replay", "rate"), (*_PROFILE, "replay", "max_records_per_sec"),
    (*_PROFILE, "contract", "idempotency_header"),
    (*_PROFILE, "contract", "required_headers"), (*_PROFILE, "contract", "required_headers", 0),
]


def _find(document: dict, site: tuple) -> tuple | None:
    """The container holding site, and its key or index there."""
    parent, last = document, ""
    for step in site:
        node = parent[last]
        if not (isinstance(node, dict) and step in node or isinstance(node, list) and
                isinstance(step, int) and step < len(node)):
            return None
        parent, last = node, step
    return parent, last


@st.composite
def documents(draw) -> tuple[str, str | None]:
    """YAML text: the skeleton with a few sites replaced (by any value, by plain YAML text, or
    by a key added next to them), or a document made of nothing but arbitrary values."""
    if draw(st.integers(0, 9)) == 0:
        return yaml.safe_dump(draw(_value), sort_keys=False), None
    document = {"": _skeleton()}  # a holder, so that the top level is a site like the others
    if draw(st.booleans()):  # contract: is optional (and unknown to a loader older than it)
        del document[""]["profiles"]["prod"]["contract"]
    raw = []
    for site in draw(st.lists(st.sampled_from(_SITES), min_size=1, max_size=3)):
        found = _find(document, site)
        if found is None:  # an earlier mutation took it away
            continue
        parent, last = found
        how = draw(st.sampled_from(["value", "value", "value", "raw", "extra key", "remove"]))
        if how == "value":
            parent[last] = draw(_value)
        elif how == "raw":
            parent[last] = f"RAW{len(raw)}RAW"
            raw.append(draw(st.sampled_from(_RAW)))
        elif how == "extra key" and isinstance(parent[last], dict):
            parent[last][draw(_key)] = draw(_value)
        elif how == "remove" and site:
            del parent[last]
    text = yaml.safe_dump(document.get(""), sort_keys=False, width=10**6)
    for i, token in enumerate(raw):
        text = text.replace(f"RAW{i}RAW", token, 1)
    profile = draw(st.one_of(st.none(), st.sampled_from(["prod", "dev", "staging"])))
    return text, profile


@fuzz
@given(case=documents())
def test_any_config_file_exits_0_or_7_never_1(cli, tmp_path, monkeypatch, case):
    text, profile = case
    monkeypatch.setenv("CFG_FUZZ_RATE", "5MiB/s")
    monkeypatch.setenv("CFG_FUZZ_WORD", "fast")
    monkeypatch.setenv("CFG_FUZZ_EMPTY", "")
    monkeypatch.delenv("CFG_FUZZ_UNSET", raising=False)
    path = tmp_path / "ingestctl.yaml"
    path.write_text(text, encoding="utf-8")
    args = ["--config", str(path), *(["-p", profile] if profile else []),
            "config", "show", "-o", "json"]
    result = cli(*args)
    assert "Traceback" not in result.stderr
    if result.code == 0:
        _trustworthy(result.json())
        return
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    if result.code == 2:  # the one usage error: -p naming a profile the file does not define
        assert profile and f"profile '{profile}' is not defined" in result.stderr, result.stderr
        return
    assert result.code == 7, (result.code, result.stderr)
    assert str(path) in result.stderr


def _trustworthy(shown: dict) -> None:
    """What a command may rely on once the file has loaded."""
    assert isinstance(shown["bootstrap_servers"], str) and shown["bootstrap_servers"].strip()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in shown["kafka"].items())
    for key in ("rate", "max_records_per_sec"):
        value = shown["replay"][key]
        assert value is None or (isinstance(value, float) and math.isfinite(value) and value > 0)
    for value in (shown["schema_registry"]["url"], shown["connect_url"]):
        assert value is None or isinstance(value, str) and value.strip()
    assert isinstance(shown["checkpoint_dir"], str) and shown["checkpoint_dir"]
    contract = shown["contract"]
    assert contract["idempotency_header"] is None or contract["idempotency_header"].strip()
    assert all(isinstance(h, str) and h.strip() for h in contract["required_headers"])


def test_the_fuzzer_reaches_every_site():
    """Each site is in the skeleton, so that no mutation meant for it is skipped."""
    assert all(_find({"": _skeleton()}, site) for site in _SITES)


def test_a_secret_that_looks_like_a_number_leaves_json_whole(cli, tmp_path, monkeypatch):
    """A password of "0.0" is scrubbed from every string, and numbers such as the timeout
    (10.0) stay numbers: the document stays one valid JSON document."""
    (tmp_path / "ingestctl.yaml").write_text(
        "profiles:\n  p:\n    bootstrap_servers: b:9092\n"
        "    kafka: {sasl.password: '0.0', client.id: 'app-0.0'}\n")
    monkeypatch.chdir(tmp_path)
    result = cli("-p", "p", "config", "show", "-o", "json")
    assert result.code == 0, result.stderr
    shown = result.json()
    assert shown["timeout"] == 10.0
    assert shown["kafka"]["sasl.password"] == "***"
    assert shown["kafka"]["client.id"] == "app-***"
