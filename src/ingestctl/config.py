"""Configuration: profiles in a YAML file, INGESTCTL_* environment, flags.

Precedence is flag > environment > profile > default. The CLI passes flags and environment
values it parsed (Typer reads INGESTCTL_* for each option); this module finds and validates
the file, substitutes ${env:NAME}, merges the layers and knows which values are secret.
"""

import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import yaml

from . import secrets
from .errors import InvalidFileError, UsageError
from .parsing import parse_kv, parse_rate

DEFAULT_TIMEOUT = 10.0
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

_TOP_KEYS = {"default_profile", "profiles"}
_PROFILE_KEYS = {
    "bootstrap_servers", "kafka", "schema_registry", "connect_url", "connect_basic_auth",
    "checkpoint_dir", "replay", "contract",
}
_REGISTRY_KEYS = {"url", "basic_auth"}
_REPLAY_KEYS = {"rate", "max_records_per_sec"}
_CONTRACT_KEYS = {"idempotency_header", "required_headers"}
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Settings:
    """The effective configuration of one invocation."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    kafka: dict[str, str] = field(default_factory=dict)
    schema_registry_url: str | None = None
    schema_registry_auth: str | None = None
    connect_url: str | None = None
    connect_basic_auth: str | None = None
    checkpoint_dir: Path = Path("checkpoints")
    replay_rate: float | None = None
    replay_max_records_per_sec: float | None = None
    # The event contract `topics audit` checks unless its flags say otherwise.
    contract_idempotency_header: str | None = None
    contract_required_headers: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT
    verbose: int = 0
    profile: str | None = None
    config_file: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def as_redacted_dict(self) -> dict:
        return secrets.redact_mapping({
            "profile": self.profile,
            "config_file": str(self.config_file) if self.config_file else None,
            "bootstrap_servers": self.bootstrap_servers,
            "kafka": dict(self.kafka),
            "schema_registry": {
                "url": self.schema_registry_url, "basic_auth": self.schema_registry_auth,
            },
            "connect_url": self.connect_url,
            "connect_basic_auth": self.connect_basic_auth,
            "checkpoint_dir": str(self.checkpoint_dir),
            "replay": {"rate": self.replay_rate,
                       "max_records_per_sec": self.replay_max_records_per_sec},
            "contract": {"idempotency_header": self.contract_idempotency_header,
                         "required_headers": list(self.contract_required_headers)},
            "timeout": self.timeout,
            "sources": dict(self.sources),
        })


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ingestctl" / "config.yaml"


def find_config_file(explicit: str | None) -> Path | None:
    """--config / INGESTCTL_CONFIG (passed in as explicit), ./ingestctl.yaml, the user dir."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InvalidFileError(f"config file {path} does not exist or is not a file.")
        return path
    for candidate in (Path("ingestctl.yaml"), user_config_path()):
        if candidate.is_file():
            return candidate
    return None


_STRING = "a non-empty string"
_PROPERTY = "a string, a number or true/false (a librdkafka property value)"
_RATE = "a rate greater than zero in bytes per second, such as 5MiB/s, 500KB/s or 2000"
_RECORDS = "a number greater than zero (records per second), such as 500"


def _describe(value, show: bool = False) -> str:
    """What a value is, for a message. Its text only where asked (never for a secret)."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string"
        if show:
            return repr(value if len(value) <= 40 else value[:40] + "…")
        return "a string"
    if isinstance(value, int | float):
        if show and (not isinstance(value, int) or abs(value) < 10**15):
            return str(value)
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime):
        return "a timestamp"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def _key(key) -> str:
    """A key as a message names it: on one line."""
    text = str(key)
    return text if text.isprintable() else repr(text)


class _FileCheck:
    """Checks a parsed config file value by value, substituting ${env:NAME} in strings. Every
    refusal is one InvalidFileError naming the file, the key path and what is expected."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, expected: str, value, show: bool = False, raw=None):
        """Refuse value; show says its text may be shown, raw is the text before ${env:NAME}
        was substituted (shown instead: the environment's value may be anybody's secret)."""
        got = _describe(value, show)
        if show and isinstance(raw, str) and raw != value:
            got = f"{_describe(raw, show)}, as the environment sets it"
        raise InvalidFileError(f"{self.path}: {where} must be {expected}; it is {got}.")

    def env(self, value: str, where: str) -> str:
        def replace(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise InvalidFileError(
                    f"{self.path}: {where} refers to ${{env:{name}}}, but {name} is not set; "
                    "export it or edit the file."
                )
            return os.environ[name]

        value = _ENV_REF.sub(replace, value)
        if "\0" in value:
            self.fail(where, "a string without NUL (\\0) characters", value)
        return value

    def mapping(self, value, where: str, allowed: set[str] | None = None) -> dict:
        """A mapping (null: an empty one), its keys among allowed."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "a mapping", value)
        for key in value if allowed is not None else ():
            if key not in allowed:
                raise InvalidFileError(
                    f"{self.path}: unknown key '{_key(key)}' in {where}; "
                    f"allowed: {', '.join(sorted(allowed))}."
                )
        return value

    def string(self, value, where: str, example: str = "", show: bool = False) -> str | None:
        """A non-empty string, or None when null or absent."""
        if value is None:
            return None
        if isinstance(value, str):
            value = self.env(value, where)
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"{_STRING}{example}", value, show)
        return value

    def rate(self, value, where: str) -> float | None:
        """Bytes per second: a number, or a rate as --rate takes it (5MiB/s)."""
        if value is None:
            return None
        parsed, raw = None, value
        if isinstance(value, str):
            value = self.env(value, where)
            try:
                parsed = parse_rate(value, where)
            except UsageError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = _as_float(value)
        if parsed is None or not math.isfinite(parsed) or parsed <= 0:
            self.fail(where, _RATE, value, show=True, raw=raw)
        return parsed

    def positive(self, value, where: str) -> float | None:
        """A number greater than zero, or a string that is one (as ${env:NAME} gives)."""
        if value is None:
            return None
        parsed, raw = None, value
        if isinstance(value, str):
            value = self.env(value, where)
            try:
                parsed = float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = _as_float(value)
        if parsed is None or not math.isfinite(parsed) or parsed <= 0:
            self.fail(where, _RECORDS, value, show=True, raw=raw)
        return parsed

    def kafka(self, value, where: str) -> dict[str, str]:
        """librdkafka properties: names to scalars, each as the string librdkafka takes."""
        props: dict[str, str] = {}
        for key, item in self.mapping(value, where).items():
            if not isinstance(key, str) or not key.strip():
                raise InvalidFileError(
                    f"{self.path}: {where} must have librdkafka property names (such as "
                    f"linger.ms) as keys; one is {_describe(key, show=True)}."
                )
            at = f"{where}.{_key(key)}"
            if isinstance(item, str):
                props[key] = self.env(item, at)
            elif isinstance(item, bool | int | float):
                props[key] = str(item)
            else:
                self.fail(at, _PROPERTY, item)
        return props

    def profile(self, value, where: str) -> dict:
        """One profile, every key present in the result (None or empty where unset)."""
        prof = self.mapping(value, where, _PROFILE_KEYS)
        out = {key: self.string(prof.get(key), f"{where}.{key}", example)
               for key, example in (("bootstrap_servers", " such as broker-1:9093,broker-2:9093"),
                                    ("connect_url", " such as https://connect:8083"),
                                    ("connect_basic_auth", " (user:password)"),
                                    ("checkpoint_dir", " (a directory)"))}
        out["kafka"] = self.kafka(prof.get("kafka"), f"{where}.kafka")
        registry = prof.get("schema_registry")
        if registry is None or isinstance(registry, str):
            registry = {"url": registry}
        elif not isinstance(registry, dict):
            self.fail(f"{where}.schema_registry",
                      "a URL or a mapping with url and basic_auth", registry)
        registry = self.mapping(registry, f"{where}.schema_registry", _REGISTRY_KEYS)
        out["schema_registry_url"] = self.string(
            registry.get("url"), f"{where}.schema_registry.url", " such as https://registry:8081")
        out["schema_registry_auth"] = self.string(
            registry.get("basic_auth"), f"{where}.schema_registry.basic_auth", " (user:password)")
        replay = self.mapping(prof.get("replay"), f"{where}.replay", _REPLAY_KEYS)
        out["replay_rate"] = self.rate(replay.get("rate"), f"{where}.replay.rate")
        out["replay_max_records_per_sec"] = self.positive(
            replay.get("max_records_per_sec"), f"{where}.replay.max_records_per_sec")
        contract = self.mapping(prof.get("contract"), f"{where}.contract", _CONTRACT_KEYS)
        out["contract_idempotency_header"] = self.string(
            contract.get("idempotency_header"), f"{where}.contract.idempotency_header",
            " (a header name)")
        out["contract_required_headers"] = self.names(
            contract.get("required_headers"), f"{where}.contract.required_headers")
        return out

    def names(self, value, where: str) -> list[str]:
        """A list of header names (null: none)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "a list of header names, such as [tenant, producer]", value)
        headers = []
        for i, item in enumerate(value):
            if item is None:
                self.fail(f"{where}[{i}]", f"{_STRING} (a header name)", item)
            headers.append(self.string(item, f"{where}[{i}]", " (a header name)"))
        return headers

    def document(self, data) -> dict:
        top = self.mapping(data, "the top level", _TOP_KEYS)
        profiles: dict[str, dict] = {}
        for name, profile in self.mapping(top.get("profiles"), "profiles").items():
            if not isinstance(name, str):
                raise InvalidFileError(
                    f"{self.path}: profiles: profile names must be strings; "
                    f"{_describe(name, show=True)} is not one: quote it."
                )
            profiles[name] = self.profile(profile, f"profiles.{_key(name)}")
        raw = top.get("default_profile")
        default = self.string(raw, "default_profile", " (a profile name)", show=True)
        if default is not None and default not in profiles:
            known = ", ".join(sorted(profiles)) or "none are defined"
            self.fail("default_profile", f"one of the profiles ({known})", default, show=True,
                      raw=raw)
        return {"default_profile": default, "profiles": profiles}


def _as_float(number: int | float) -> float | None:
    try:
        return float(number)
    except OverflowError:
        return None


def load_config_file(path: Path) -> dict:
    """Read the file and check every value in it, substituting ${env:NAME}: an unknown key,
    a value of the wrong type or out of range is refused (exit 7) naming the file, the key
    and what is expected, whichever profile is used. Returns {"default_profile": name or
    None, "profiles": {name: profile}}, each profile with every key (None where unset) and
    its values as Settings holds them."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFileError(
            f"cannot read config file {path}: {exc.__class__.__name__}."
        ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except _UnreadableValue as exc:
        raise InvalidFileError(
            f"config file {path} is not valid YAML at line {exc.mark.line + 1}: the value "
            f"cannot be read ({exc.reason}); quote it if it is meant as text."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidFileError(f"config file {path} is not valid YAML{where}.") from None
    except RecursionError:
        raise InvalidFileError(
            f"config file {path} is not valid YAML: it is nested too deeply."
        ) from None
    return _FileCheck(path).document(data)


class _UnreadableValue(yaml.YAMLError):
    def __init__(self, reason: str, mark):
        super().__init__(reason)
        self.reason, self.mark = reason, mark


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, except that a scalar it resolves but cannot build (a date
    2024-13-45, !!int many, an integer of over 4300 digits) is a YAML error at its line:
    PyYAML lets ValueError, KeyError or AttributeError through for those."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            reason = (str(exc).partition(";")[0][:100] if isinstance(exc, ValueError)
                      else "not of its type")
            raise _UnreadableValue(reason, node.start_mark) from None


def parse_properties(path: Path) -> dict[str, str]:
    """A Java-style client.properties (key=value or key: value, # and ! comments,
    backslash line continuations), translated where librdkafka names differ."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFileError(f"cannot read {path}: {exc.__class__.__name__}.") from None
    props: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped[0] in "#!"):
            continue
        if stripped.endswith("\\") and not stripped.endswith("\\\\"):
            pending += stripped[:-1]
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    for number, line in enumerate(logical, 1):
        m = re.match(r"^([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if not m:
            raise InvalidFileError(f"{path}: entry {number} ('{line[:40]}') is not key=value.")
        props[m.group(1)] = m.group(2)
    return translate_java_properties(props, path)


_JAAS_FIELD = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def translate_java_properties(props: dict[str, str], path: Path) -> dict[str, str]:
    """Java client names -> librdkafka names. sasl.jaas.config carries the SASL credentials."""
    out: dict[str, str] = {}
    for key, value in props.items():
        if key == "sasl.jaas.config":
            fields = dict(_JAAS_FIELD.findall(value))
            if "username" in fields:
                out["sasl.username"] = fields["username"]
            if "password" in fields:
                out["sasl.password"] = fields["password"]
                secrets.register(fields["password"])
            continue
        if key in ("ssl.truststore.location", "ssl.keystore.location") and not value.endswith(
            (".pem", ".crt")
        ):
            raise InvalidFileError(
                f"{path}: {key} points to a Java keystore; librdkafka needs PEM files: use "
                "ssl.ca.location (and ssl.certificate.location / ssl.key.location)."
            )
        if key in ("ssl.truststore.password", "ssl.keystore.password", "ssl.truststore.type",
                   "ssl.keystore.type"):
            continue
        if key == "ssl.truststore.location":
            key = "ssl.ca.location"
        out[key] = value
        if secrets.is_secret_key(key):
            secrets.register(value)
    return out


def _pop_bootstrap(props: dict[str, str]) -> str | None:
    """Take bootstrap.servers (or librdkafka's alias metadata.broker.list) out of props."""
    alias = props.pop("metadata.broker.list", None)
    return props.pop("bootstrap.servers", None) or alias


def resolve(
    *,
    config: str | None,
    profile: str | None,
    bootstrap_servers: str | None,
    x_props: list[str],
    command_config: str | None,
    schema_registry: str | None,
    connect_url: str | None,
    timeout: float | None,
) -> Settings:
    """Merge flags/environment (already combined by the CLI) over the profile and defaults."""
    settings = Settings()
    path = find_config_file(config)
    data = load_config_file(path) if path else {}
    settings.config_file = path
    profiles = data.get("profiles") or {}
    name = profile or data.get("default_profile")  # a default_profile is one of profiles
    prof: dict = {}
    if name:
        if name not in profiles:
            where = str(path) if path else "no config file was found"
            known = ", ".join(sorted(profiles)) or "none"
            raise UsageError(f"profile '{name}' is not defined ({where}); known profiles: "
                             f"{known}.")
        prof = profiles[name]
        settings.profile = name

    def pick(attr: str, flag_value, profile_value, convert=lambda v: v):
        if flag_value not in (None, ""):
            setattr(settings, attr, convert(flag_value))
            settings.sources[attr] = "flag/env"
        elif profile_value not in (None, ""):
            setattr(settings, attr, convert(profile_value))
            settings.sources[attr] = f"profile {name}"
        else:
            settings.sources[attr] = "default"

    # librdkafka properties: the profile's, then --command-config, then -X. A
    # bootstrap.servers among them is taken as the bootstrap servers (the one address every
    # message names): -b and the environment win, then -X or --command-config, then the
    # profile's bootstrap_servers, then its kafka: bootstrap.servers.
    profile_props = dict(prof.get("kafka") or {})
    given_props: dict[str, str] = {}
    if command_config:
        props_path = Path(command_config).expanduser()
        if not props_path.is_file():
            raise InvalidFileError(f"--command-config {props_path} does not exist.")
        given_props.update(parse_properties(props_path))
    for item in x_props:
        key, value = parse_kv(item)
        given_props[key] = value
    pick("bootstrap_servers", bootstrap_servers or _pop_bootstrap(given_props),
         prof.get("bootstrap_servers") or _pop_bootstrap(profile_props), str)
    _pop_bootstrap(given_props)
    _pop_bootstrap(profile_props)
    pick("schema_registry_url", schema_registry, prof.get("schema_registry_url"), str)
    settings.schema_registry_auth = prof.get("schema_registry_auth")
    pick("connect_url", connect_url, prof.get("connect_url"), str)
    settings.connect_basic_auth = prof.get("connect_basic_auth")
    pick("checkpoint_dir", None, prof.get("checkpoint_dir"), lambda v: Path(v).expanduser())
    settings.replay_rate = prof.get("replay_rate")
    settings.replay_max_records_per_sec = prof.get("replay_max_records_per_sec")
    settings.contract_idempotency_header = prof.get("contract_idempotency_header")
    settings.contract_required_headers = list(prof.get("contract_required_headers") or [])
    settings.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
    if not math.isfinite(settings.timeout) or settings.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")

    kafka_props = {**profile_props, **given_props}
    settings.kafka = kafka_props

    for key, value in kafka_props.items():
        if secrets.is_secret_key(key):
            secrets.register(value)
    for value in (settings.schema_registry_auth, settings.connect_basic_auth):
        if value:
            secrets.register(value)
            secrets.register(value.partition(":")[2])
    return settings
