"""The schema registry through confluent-kafka's SchemaRegistryClient (the Confluent REST API,
which Apicurio Registry also serves under /apis/ccompat/v7).

Its errors become IngestErrors here: an unreachable registry is exit 5, an unknown schema id
(error 40403) or subject (40401) is NotFoundError, each one sentence that names the registry
by its URL without credentials.
"""

from dataclasses import dataclass

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from ..errors import UnknownSchemaError, UnknownSubjectError

try:  # the HTTP library the client itself uses: httpx2 where installed, else httpx
    from confluent_kafka.schema_registry.common._httpx_compat import httpx
except ImportError:  # confluent-kafka before the compat module
    import httpx

from ..errors import ClusterError, UsageError
from ..secrets import split_credentials

SCHEMA_NOT_FOUND = 40403
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402






@dataclass(frozen=True)
class Reference:
    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class FetchedSchema:
    schema_str: str
    schema_type: str  # AVRO, PROTOBUF or JSON
    references: tuple[Reference, ...]


@dataclass(frozen=True)
class FetchedVersion:
    subject: str
    version: int
    schema_id: int
    schema: FetchedSchema


def _fetched(schema) -> FetchedSchema:
    return FetchedSchema(
        schema_str=schema.schema_str,
        schema_type=(schema.schema_type or "AVRO").upper(),
        references=tuple(Reference(r.name, r.subject, int(r.version))
                         for r in (schema.references or [])),
    )


class RegistryClient:
    """A SchemaRegistryClient with the tool's timeout and error translation."""

    def __init__(self, url: str, basic_auth: str | None, timeout: float):
        self.url, auth = split_credentials(url, basic_auth)
        conf = {"url": self.url, "timeout": timeout, "max.retries": 0}
        if auth:
            conf["basic.auth.user.info"] = f"{auth[0]}:{auth[1]}"
        self.timeout = timeout
        try:
            self._client = SchemaRegistryClient(conf)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"invalid schema registry URL {self.url}: {exc}") from None

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except SchemaRegistryError as exc:
            raise self._error(exc, what) from None
        except httpx.HTTPError as exc:
            raise ClusterError(
                f"cannot reach the schema registry at {self.url} within {self.timeout:g} s "
                f"({what}: {exc.__class__.__name__}); check --schema-registry and that the "
                "registry is up."
            ) from None
        except (ValueError, KeyError, TypeError):  # a 200 that is not the registry's JSON
            raise ClusterError(
                f"{self.url} did not answer {what} as a schema registry does; check that the "
                "URL is the registry API's root (for Apicurio it ends in /apis/ccompat/v7)."
            ) from None

    def _error(self, exc: SchemaRegistryError, what: str):
        status, code = exc.http_status_code, exc.error_code
        if status in (401, 403):
            return ClusterError(
                f"the schema registry at {self.url} refused {what} (HTTP {status}); check "
                "schema_registry.basic_auth in the profile."
            )
        if code == SCHEMA_NOT_FOUND:
            return UnknownSchemaError(f"{what}: {exc.error_message}", None)
        if code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
            return UnknownSubjectError(f"{what}: {exc.error_message}")
        if status == 404:
            return ClusterError(
                f"the schema registry at {self.url} answered HTTP 404 to {what}; check that "
                "the URL is the registry API's root (for Apicurio it ends in /apis/ccompat/v7)."
            )
        return ClusterError(
            f"the schema registry at {self.url} failed {what}: HTTP {status}, error {code}: "
            f"{str(exc.error_message)[:200]}"
        )

    def get_schema(self, schema_id: int) -> FetchedSchema:
        try:
            schema = self._call(f"fetching schema id {schema_id}", self._client.get_schema,
                                schema_id)
        except UnknownSchemaError:
            raise UnknownSchemaError(
                f"schema id {schema_id} is not known to the schema registry at {self.url} "
                "(error 40403); the record was written against another registry, or its "
                "schema was deleted.", schema_id,
            ) from None
        return _fetched(schema)

    def get_version(self, subject: str, version: int | str = "latest") -> FetchedVersion:
        """A subject's version ("latest" is always read from the registry, never a cache)."""
        registered = self._call(f"reading {subject} version {version}",
                                self._client.get_version, subject, version)
        return FetchedVersion(subject=registered.subject, version=int(registered.version),
                              schema_id=int(registered.schema_id),
                              schema=_fetched(registered.schema))

    def subjects(self) -> list[str]:
        return list(self._call("listing subjects", self._client.get_subjects))

    def schema_versions(self, schema_id: int) -> list[tuple[str, int]]:
        """Every (subject, version) that registered the schema id; none for an unknown id."""
        try:
            found = self._call(f"listing the versions of schema id {schema_id}",
                               self._client.get_schema_versions, schema_id)
        except UnknownSchemaError:
            return []
        return [(item.subject, int(item.version)) for item in found]
