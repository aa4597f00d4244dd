"""What every command receives: the global options, resolved into Settings on first use."""

from dataclasses import dataclass, field

import typer

from ..config import Settings, resolve


@dataclass
class AppContext:
    output: str = "table"
    verbose: int = 0
    debug: bool = False
    config: str | None = None
    profile: str | None = None
    bootstrap_servers: str | None = None
    x_props: list[str] = field(default_factory=list)
    command_config: str | None = None
    schema_registry: str | None = None
    connect_url: str | None = None
    timeout: float | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = resolve(
                config=self.config, profile=self.profile,
                bootstrap_servers=self.bootstrap_servers, x_props=self.x_props,
                command_config=self.command_config, schema_registry=self.schema_registry,
                connect_url=self.connect_url, timeout=self.timeout,
            )
            self._settings.verbose = self.verbose
        return self._settings

    def other_cluster(self, profile: str | None, bootstrap_servers: str | None) -> Settings:
        """Another cluster (a replay's target, a migration target): a profile's settings, or
        this invocation's (credentials, -X) pointed at other brokers."""
        other = resolve(config=self.config, profile=profile or self.profile,
                        bootstrap_servers=bootstrap_servers,
                        x_props=[] if profile else self.x_props,
                        command_config=None if profile else self.command_config,
                        schema_registry=None, connect_url=None, timeout=self.timeout)
        other.verbose = self.verbose
        return other


def app_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppContext()
    return root.obj


def refuse_empty(*options: tuple[str, str | None]) -> None:
    """An option given as an empty string is a script's unset variable (`-b "$TARGET"`):
    falling back to the profile or the default would act on another cluster than meant."""
    from ..errors import UsageError

    for name, value in options:
        if value is not None and not value.strip():
            raise UsageError(f"{name} was given an empty value (an unset variable in a "
                             f"script?); give it a value, or leave {name} out.")
