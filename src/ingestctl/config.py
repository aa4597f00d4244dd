"""Configuration: profiles in a YAML file, INGESTCTL_* environment, flags.

Precedence is flag > environment > profile > default. The CLI passes flags and environment
values it parsed (Typer reads INGESTCTL_* for each option); this module finds and validates
the file, substitutes ${env:NAME}, merges the layers and knows which values are secret.
"""

import os
import re
from dataclasses import dataclass, field
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
    "checkpoint_dir", "replay",
}
_REGISTRY_KEYS = {"url", "basic_auth"}
_REPLAY_KEYS = {"rate", "max_records_per_sec"}
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


def _substitute_env(value, path: Path, where: str):
    if isinstance(value, dict):
        return {k: _substitute_env(v, path, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, path, where) for v in value]
    if not isinstance(value, str):
        return value

    def replace(m: re.Match) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise InvalidFileError(
                f"{path}: {where} refers to ${{env:{name}}}, but {name} is not set; "
                "export it or edit the file."
            )
        return os.environ[name]

    return _ENV_REF.sub(replace, value)


def _check_keys(mapping, allowed: set[str], path: Path, where: str) -> None:
    if not isinstance(mapping, dict):
        raise InvalidFileError(f"{path}: {where} must be a mapping.")
    for key in mapping:
        if key not in allowed:
            raise InvalidFileError(
                f"{path}: unknown key '{key}' in {where}; allowed: {', '.join(sorted(allowed))}."
            )


def load_config_file(path: Path) -> dict:
    """Parse and validate the file's structure; unknown keys are refused (exit 7)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFileError(
            f"cannot read config file {path}: {exc.__class__.__name__}."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidFileError(f"config file {path} is not valid YAML{where}.") from None
    _check_keys(data, _TOP_KEYS, path, "the top level")
    _check_scalar(data, "default_profile", path, "")
    profiles = data.get("profiles") or {}
    _check_keys(profiles, profiles.keys() if isinstance(profiles, dict) else set(), path,
                "profiles")
    for name, profile in profiles.items():
        profile = profile or {}
        where = f"profiles.{name}"
        _check_keys(profile, _PROFILE_KEYS, path, where)
        for key in ("bootstrap_servers", "connect_url", "connect_basic_auth", "checkpoint_dir"):
            _check_scalar(profile, key, path, f"{where}.")
        kafka = profile.get("kafka") or {}
        _check_keys(kafka, kafka.keys() if isinstance(kafka, dict) else set(), path,
                    f"{where}.kafka")
        for key in kafka:
            _check_scalar(kafka, key, path, f"{where}.kafka.")
        registry = profile.get("schema_registry")
        if isinstance(registry, dict):
            _check_keys(registry, _REGISTRY_KEYS, path, f"{where}.schema_registry")
            for key in _REGISTRY_KEYS:
                _check_scalar(registry, key, path, f"{where}.schema_registry.")
        else:
            _check_scalar(profile, "schema_registry", path, f"{where}.")
        replay = profile.get("replay") or {}
        _check_keys(replay, _REPLAY_KEYS, path, f"{where}.replay")
        for key in _REPLAY_KEYS:
            _check_scalar(replay, key, path, f"{where}.replay.")
    return data


def _check_scalar(mapping: dict, key, path: Path, where: str) -> None:
    """A value meant as one setting must be one: not a list or a mapping."""
    if isinstance(mapping.get(key), (dict, list)):
        raise InvalidFileError(f"{path}: {where}{key} must be a single value, not a "
                               f"{'mapping' if isinstance(mapping[key], dict) else 'list'}.")


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
    if path:
        data = _substitute_env(data, path, "")
    settings.config_file = path
    profiles = data.get("profiles") or {}
    name = profile or data.get("default_profile")
    prof: dict = {}
    if name:
        if name not in profiles:
            where = str(path) if path else "no config file was found"
            known = ", ".join(sorted(profiles)) or "none"
            error = InvalidFileError if not profile else UsageError
            raise error(f"profile '{name}' is not defined ({where}); known profiles: {known}.")
        prof = profiles[name] or {}
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
    profile_props = {str(k): str(v) for k, v in (prof.get("kafka") or {}).items()}
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
    registry = prof.get("schema_registry")
    if isinstance(registry, str):
        registry = {"url": registry}
    registry = registry or {}
    pick("schema_registry_url", schema_registry, registry.get("url"), str)
    settings.schema_registry_auth = registry.get("basic_auth")
    pick("connect_url", connect_url, prof.get("connect_url"), str)
    settings.connect_basic_auth = prof.get("connect_basic_auth")
    pick("checkpoint_dir", None, prof.get("checkpoint_dir"), lambda v: Path(v).expanduser())
    replay = prof.get("replay") or {}
    if replay.get("rate") is not None:
        settings.replay_rate = parse_rate(str(replay["rate"]), f"profiles.{name}.replay.rate")
    if replay.get("max_records_per_sec") is not None:
        settings.replay_max_records_per_sec = float(replay["max_records_per_sec"])
    settings.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
    if settings.timeout <= 0:
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
