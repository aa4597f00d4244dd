"""Keeping secrets out of everything the tool prints, logs or writes.

Two mechanisms: configuration keys whose values are secret are redacted by name, and every
secret value seen while loading configuration is registered so that any text leaving the
process (error messages, log lines, debug tracebacks) can be scrubbed of it.
"""

import re
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|jaas|basic[._]auth|credential|api[._-]?key|private|"
    r"ssl\.key\.pem|ssl_key|keystore\.key|\bkey\.pem)",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")

_known_values: set[str] = set()


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def register(value: str | None) -> None:
    """Remember a secret value so scrub() removes it from any text."""
    if value and len(value) >= 3:
        _known_values.add(value)


def forget_all() -> None:
    """Start a new invocation with no remembered secrets (one process may run several, as
    the tests do: a secret of one must not blank out another's output)."""
    _known_values.clear()


def scrub(text: str) -> str:
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    for value in sorted(_known_values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def scrub_data(data):
    """A copy of a document for output with every string in it (keys too) scrubbed: numbers,
    booleans and null stay what they are, so a secret that looks like one ("0.0") cannot
    corrupt a JSON or YAML document written out. Anything else is shown as scrubbed text."""
    if isinstance(data, dict):
        return {scrub_data(key): scrub_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(value) for value in data]
    if data is None or isinstance(data, bool | int | float):
        return data
    return scrub(data if isinstance(data, str) else str(data))


def redact_mapping(data):
    """A copy of nested dicts/lists with secret-named values and URL passwords redacted."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if is_secret_key(str(key)) and value not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = redact_mapping(value)
        return out
    if isinstance(data, list):
        return [redact_mapping(v) for v in data]
    if isinstance(data, str):
        return scrub(data)
    return data


def split_credentials(url: str, basic_auth: str | None) -> tuple[str, tuple[str, str] | None]:
    """A service URL without user info, and its credentials: basic_auth ("user:password")
    wins over user info in the URL. The password is registered, so no output shows it."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    if basic_auth:
        user, _, password = basic_auth.partition(":")
        auth = (user, password)
    if auth:
        register(auth[1])
    return urlunsplit(parts).rstrip("/"), auth
