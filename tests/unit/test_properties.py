"""Property-based tests for the parsers of user input not covered in test_parsing.py and
test_config.py: config files (profiles, ${env:NAME}, unknown keys), client.properties,
-X pairs through the whole resolution, and saved rollback plans. Whatever the input, each
parser returns what was meant or raises the documented error (exit 2 or 7) with one
sentence: never another exception, which would surface as an internal error."""

import os
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingestctl import secrets
from ingestctl.config import load_config_file, parse_properties, resolve
from ingestctl.errors import InvalidFileError, UsageError
from ingestctl.moves.plan import GroupPlan, Plan
from ingestctl.moves.planfile import load_plan, save_plan
from ingestctl.moves.planners import Bounds, Move

files = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

_name = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)
_prop_key = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z0-9]{1,8}){0,3}", fullmatch=True)
# yaml.safe_dump quotes whatever needs it, so values may hold anything printable.
_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30)
_hosts = st.lists(st.from_regex(r"[a-z0-9.-]{1,20}:[0-9]{2,5}", fullmatch=True),
                  min_size=1, max_size=3).map(",".join)


def _resolve(path: Path, profile: str | None = None, x_props=()):
    return resolve(config=str(path), profile=profile, bootstrap_servers=None,
                   x_props=list(x_props), command_config=None, schema_registry=None,
                   connect_url=None, timeout=None)


# --- config files ----------------------------------------------------------------------------

_profile = st.fixed_dictionaries({
    "bootstrap_servers": _hosts,
    "kafka": st.dictionaries(_prop_key, _text, max_size=6),
    "checkpoint_dir": st.from_regex(r"/[a-z0-9/_-]{1,30}", fullmatch=True),
})


@files
@given(profiles=st.dictionaries(_name, _profile, min_size=1, max_size=4), data=st.data())
def test_every_profile_resolves_to_what_the_file_says(tmp_path_factory, profiles, data):
    name = data.draw(st.sampled_from(sorted(profiles)))
    path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
    path.write_text(yaml.safe_dump({"default_profile": name, "profiles": profiles}))
    got = _resolve(path)
    want = profiles[name]
    assert got.profile == name
    assert got.bootstrap_servers == want["bootstrap_servers"]
    assert got.kafka == want["kafka"]
    assert got.checkpoint_dir == Path(want["checkpoint_dir"])


@files
@given(value=_text.filter(lambda v: "${" not in v), prefix=_text, suffix=_text)
def test_env_references_are_replaced_once_and_exactly(tmp_path_factory, value, prefix, suffix):
    assume("${" not in prefix + suffix and "$" not in prefix[-1:])
    os.environ["INGESTCTL_PROPERTY_VALUE"] = value
    try:
        path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
        path.write_text(yaml.safe_dump({"profiles": {"p": {
            "bootstrap_servers": "b:9092",
            "kafka": {"sasl.username": f"{prefix}${{env:INGESTCTL_PROPERTY_VALUE}}{suffix}"}}}}))
        assert _resolve(path, "p").kafka["sasl.username"] == prefix + value + suffix
    finally:
        del os.environ["INGESTCTL_PROPERTY_VALUE"]


_KNOWN = {"default_profile", "profiles", "bootstrap_servers", "kafka", "schema_registry",
          "connect_url", "connect_basic_auth", "checkpoint_dir", "replay", "url", "basic_auth",
          "rate", "max_records_per_sec"}


@files
@given(key=_name.filter(lambda k: k not in _KNOWN),
       where=st.sampled_from(["top", "profile", "registry", "replay"]))
def test_an_unknown_key_is_refused_naming_it(tmp_path_factory, key, where):
    profile = {"bootstrap_servers": "b:9092", "schema_registry": {"url": "http://r"},
               "replay": {"rate": "5MiB/s"}}
    document = {"profiles": {"p": profile}}
    target = {"top": document, "profile": profile, "registry": profile["schema_registry"],
              "replay": profile["replay"]}[where]
    target[key] = "x"
    path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidFileError, match=f"unknown key '{key}'"):
        load_config_file(path)


# Any YAML a user might write: nested mappings and lists of scalars under known and unknown
# keys, so the validator meets wrong types at every level.
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _text)
_yaml_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(sorted(_KNOWN)), _name), inner,
                        max_size=4)),
    max_leaves=12)


@files
@given(document=_yaml_value)
def test_any_config_document_loads_or_is_refused_as_invalid(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        _resolve(path)
    except (InvalidFileError, UsageError) as exc:
        assert str(path) in exc.message or "profile" in exc.message


@files
@given(text=st.text(max_size=200))
def test_any_config_text_loads_or_is_refused_as_invalid(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
    path.write_text(text)
    try:
        load_config_file(path)
    except InvalidFileError as exc:
        assert str(path) in exc.message


# --- client.properties and -X ---------------------------------------------------------------

@files
@given(text=st.text(max_size=200))
def test_any_client_properties_text_parses_or_is_refused(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("props") / "client.properties"
    path.write_text(text)
    try:
        props = parse_properties(path)
    except InvalidFileError as exc:
        assert str(path) in exc.message
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in props.items())


# Anything but the quote and the backslash, which JAAS escapes.
_credential = st.text(alphabet=string.ascii_letters + string.digits
                      + "!#$%&()*+,-./:;<=>?@[]^_{|}~", min_size=3, max_size=24)


@files
@given(user=_credential, password=_credential)
def test_jaas_credentials_are_extracted_and_the_password_scrubbed(tmp_path_factory, user,
                                                                   password):
    path = tmp_path_factory.mktemp("props") / "client.properties"
    path.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";\n')
    props = parse_properties(path)
    assert props["sasl.username"] == user and props["sasl.password"] == password
    assert "sasl.jaas.config" not in props
    assert password not in secrets.scrub(f"error: connecting with {password} failed")


_x_pair = st.tuples(_prop_key, _text)


@files
@given(pairs=st.lists(_x_pair, max_size=8), profile_kafka=st.dictionaries(_prop_key, _text,
                                                                          max_size=4))
def test_x_pairs_override_the_profile_and_the_last_one_wins(tmp_path_factory, pairs,
                                                           profile_kafka):
    path = tmp_path_factory.mktemp("cfg") / "ingestctl.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {"bootstrap_servers": "b:9092",
                                                       "kafka": profile_kafka}}}))
    got = _resolve(path, "p", [f"{k}={v}" for k, v in pairs])
    want = dict(profile_kafka)
    want.update(pairs)
    assert got.kafka == want


# --- saved plans -----------------------------------------------------------------------------

_topic = st.from_regex(r"[a-zA-Z0-9._-]{1,20}", fullmatch=True)


@st.composite
def plans(draw) -> Plan:
    tps = draw(st.lists(st.tuples(_topic, st.integers(0, 50)), min_size=1, max_size=6,
                        unique=True))
    bounds = {}
    for tp in tps:
        start = draw(st.integers(0, 10**9))
        bounds[tp] = Bounds(start, start + draw(st.integers(0, 10**6)))
    groups = []
    for group in draw(st.lists(_name, min_size=1, max_size=3, unique=True)):
        chosen = draw(st.lists(st.sampled_from(tps), min_size=1, max_size=len(tps),
                               unique=True))
        moves = [Move(t, p, draw(st.none() | st.integers(0, 10**9)),
                      draw(st.integers(0, 10**9)), draw(_text)) for t, p in chosen]
        groups.append(GroupPlan(group, draw(st.sampled_from(["Empty", "Dead"])), moves))
    return Plan(draw(st.sampled_from(["rollback", "groups reset"])), draw(_text.filter(str.strip)),
                draw(_name), draw(st.integers(0, 4102444800000)), groups, bounds)


@files
@given(plan=plans())
def test_a_saved_plan_loads_back_equal(tmp_path_factory, plan):
    path = save_plan(plan, tmp_path_factory.mktemp("plan") / "plan.yaml")
    assert load_plan(path) == plan


@files
@given(plan=plans(), data=st.data())
def test_a_damaged_plan_is_refused_or_means_the_same(tmp_path_factory, plan, data):
    """Change, drop or insert one character anywhere: the plan is refused as invalid (exit 7)
    or, where the change does not alter what the YAML says, loads equal. Never applied
    changed, never a crash."""
    path = save_plan(plan, tmp_path_factory.mktemp("plan") / "plan.yaml")
    text = path.read_text()
    at = data.draw(st.integers(0, len(text) - 1))
    how = data.draw(st.sampled_from(["replace", "drop", "insert"]))
    char = data.draw(st.sampled_from(list("0123456789abz:-' \n{[\"#")))
    damaged = {"replace": text[:at] + char + text[at + 1:], "drop": text[:at] + text[at + 1:],
               "insert": text[:at] + char + text[at:]}[how]
    assume(damaged != text)
    path.write_text(damaged)
    try:
        loaded = load_plan(path)
    except InvalidFileError as exc:
        assert str(path) in exc.message
    else:
        assert loaded == plan


@files
@given(text=st.text(max_size=300))
def test_any_text_as_a_plan_is_refused_as_invalid(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    path.write_text(text)
    with pytest.raises(InvalidFileError):
        load_plan(path)
