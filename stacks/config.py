"""Settings: `YADOCKERI_*` environment variables, Docker secrets files, and an optional
`yadockeri.yml` (`YADOCKERI_CONFIG`, else `./yadockeri.yml`) that names the apps.

Every setting has a default that works on one machine: SQLite under the data folder, a
one-node swarm, no registry, domain `y.localhost`, and the example app in `examples/hello`.
"""

from __future__ import annotations

import math
import os
from ipaddress import IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .config_types import (
    DOCKER_NAME,
    HOST_NAME,
    HTTP_URL,
    REGISTRY,
    DockerName,
    Domains,
    HexToken,
    HttpHostPort,
    IpAddress,
    Networks,
    OptionalDockerName,
    Port,
    RegistryHost,
    Seconds,
    Size,
)
from .errors import ConfigError, InvalidName, NotFound, YadockeriError
from .limits import MIN_CPUS, MIN_MEMORY, normal_capability, parse_size
from .names import check_app_name

__all__ = [
    "DOCKER_NAME", "EXAMPLE_APP_DIR", "HOST_NAME", "HTTP_URL", "PROJECT_ROOT", "REGISTRY", "ROUTER_DIR", "AppConfig",
    "Seconds", "Settings", "config_file", "load_settings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP_DIR = PROJECT_ROOT / "examples" / "hello"
ROUTER_DIR = PROJECT_ROOT / "router"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "yadockeri"


def config_file() -> Path | None:
    named = os.environ.get("YADOCKERI_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"YADOCKERI_CONFIG names {path}, which is not a file")
        return path
    local = Path("yadockeri.yml")
    return local if local.is_file() else None


class BuildSecret(BaseModel):
    """Where a build secret's value is: an environment variable of yadockeri, or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BuildSecret:
        if (self.env is None) == (self.file is None):
            raise ValueError("a build secret is either {env: VARIABLE} or {file: /path}")
        if self.file is not None and not self.file.is_absolute():
            raise ValueError(f"a build secret's file must be an absolute path, not {self.file}")
        return self


class PullRequestsConfig(BaseModel):
    """`apps.<app>.pull_requests` in yadockeri.yml: review stacks for the app's pull requests."""

    model_config = ConfigDict(extra="forbid")

    stack: str | None = None  # a template of {number} and {app}; default pr-{number} (one app) or {app}-pr-{number}
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], str] = Field(default_factory=dict)
    forks: bool = False  # deploy pull requests from forks (outside code on the swarm; never with build secrets)


class AppConfig(BaseModel):
    """An app yadockeri knows how to build: its repository and default branch. Only admins write
    yadockeri.yml, so `capabilities` (added back to the minimal set for this app's processes and
    middleware, when an image truly needs one) and `build_secrets` (BuildKit secrets its builds may
    mount, by id) are trusted; a branch can never ask for one. Unknown keys are refused: a
    misspelt `build_secrets` must not go unnoticed."""

    model_config = ConfigDict(extra="forbid")

    repo: str
    branch: str = "main"
    default: bool = False
    capabilities: list[str] = Field(default_factory=list)
    build_secrets: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")], BuildSecret] = Field(
        default_factory=dict)
    github: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")] | None = None  # owner/repo
    pull_requests: PullRequestsConfig | None = None  # with `github`: a review stack per pull request

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, value: list[str]) -> list[str]:
        return sorted({normal_capability(name) for name in value})


def _check_app_names(value: dict[str, AppConfig]) -> dict[str, AppConfig]:
    for name in value:
        try:
            check_app_name(name)
        except InvalidName as error:
            raise ValueError(str(error)) from None
    if sum(1 for app in value.values() if app.default) > 1:
        raise ValueError("only one app may be marked default: true")
    return value


Apps = Annotated[dict[str, AppConfig], AfterValidator(_check_app_names)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YADOCKERI_", extra="ignore", secrets_dir=os.environ.get("YADOCKERI_SECRETS_DIR")
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    domain: Domains = "y.localhost"
    url_scheme: Literal["http", "https"] = "http"

    # Infrastructure names, so that tests (or a second install) can run beside a real one.
    router_network: DockerName = "router"
    # The router network's subnet: every web process takes one address of it (stacks/router_network.py).
    # Outside the swarm's default pool (10.0.0.0/8, each stack's own network) and Docker's local ones.
    router_subnet: IPv4Network = IPv4Network("172.16.0.0/19")
    router_service: DockerName = "router"
    router_port: Port = 80
    router_image: str | None = None  # prebuilt; unset: build router/ from router_base_image
    router_base_image: str = "nginx:stable-alpine"
    router_url: HttpHostPort = None  # where yadockeri reaches the router; default http://127.0.0.1:PORT
    # Installed as a service (`yadockeri install` sets it): the network yadockeri shares with the
    # router only. Stacks never join it, so no web process can reach yadockeri's ports.
    control_network: OptionalDockerName = None
    endpoint_mode: Literal["dnsrr", "vip"] = "dnsrr"

    registry: RegistryHost = None
    registry_username: str | None = None
    registry_password: SecretStr | None = None
    # The Docker engine images are built on, as a DOCKER_HOST URL (tcp://host:2376, unix://...);
    # unset: the manager yadockeri talks to. Needs the registry. Its TLS client certificate: the
    # PEM texts of the CA, certificate and key (Docker secrets when installed), all or none.
    builder: str | None = None
    builder_tls_ca: SecretStr | None = None
    builder_tls_cert: SecretStr | None = None
    builder_tls_key: SecretStr | None = None

    # yadockeri on the swarm it manages (`yadockeri install`, docs/install.md).
    image: str = "yadockeri/yadockeri:latest"  # the image install runs; jobs on other nodes run it too
    service_name: DockerName = "yadockeri"  # the service install makes; prefix of its secrets, configs, data volume
    bot_mode: Literal["socket", "http"] = "socket"  # http: the bot port is published in host mode

    secret_key: SecretStr | None = None
    git_ssh_key: SecretStr | None = None
    git_token: SecretStr | None = None
    # GitHub (docs/github.md): the REST API's token and URL (GitHub Enterprise: https://HOST/api/v3),
    # and the secret webhooks are signed with.
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    github_webhook_secret: SecretStr | None = None
    github_sync_interval: Seconds = 600  # how often open pull requests are reconciled (missed deliveries)

    # Limits of every task yadockeri starts (stacks/limits.py): defaults for a task that says
    # nothing, maximums for one that asks. Sizes: 512m, 4g.
    default_cpus: float = 1.0
    default_memory: Size = "512m"
    max_cpus: float = 4.0
    max_memory: Size = "4g"
    default_pids: int = 1024
    max_pids: int = 4096
    max_replicas: int = 4
    max_processes: int = 16  # processes plus middleware services of one stack
    max_tmpfs: Size = "256m"  # each tmpfs mount of a middleware service
    # Stacks (stacks/capacity.py): None is no limit. Per owner: admins and pull requests' `github` are not limited.
    max_stacks: int | None = None
    max_stacks_per_owner: int | None = None
    # What is read from a branch: checked against git's own sizes before anything is read.
    max_spec_bytes: int = 256 * 1024  # .yadockeri.yml and the compose file, each
    max_context_bytes: Size = "1g"  # the build context (the commit's tree under build.context)
    build_timeout: Seconds = 30 * 60
    deploy_timeout: Seconds = 300
    release_timeout: Seconds = 600
    update_monitor: Seconds = 5
    workers: int = 4
    poll_interval: float = 0.5

    # Idle stacks (step 3): sleep to zero, warn, reap. Durations: 90s, 30m, 2h, 7d.
    reaper_interval: Seconds = 60
    sleep_after: Seconds = 2 * 3600
    reap_after: Seconds = 7 * 86400
    reap_warning: Seconds = 86400
    activity_tracking: bool = True  # count requests per stack in the router (off: it counts nothing)
    router_request_log: bool = False  # the router also logs every request as JSON (debugging)
    activity_flush: float = 2.0  # seconds between batched activity writes
    status_port: Port = 8081  # the narrow endpoint the router asks about a stack it cannot reach
    status_url: HttpHostPort = None  # how the router reaches it; default: this host on docker_gwbridge
    status_bind: IpAddress = None  # where it listens; default: the address the router reaches
    # Host packet filter (stacks/firewall.py): stack containers reach no port of the host but
    # the status endpoint, and no link-local address (cloud metadata). Applied by `yadockeri router`.
    firewall: bool = True
    firewall_block: Networks = ""  # more networks stack containers may not reach (CIDRs, comma-separated)
    # Proxies in front of the router (CIDRs, comma-separated) whose X-Forwarded-* it believes.
    trusted_proxies: Networks = ""
    # The router's secret toward the status endpoint (install sets it); default: derived from the key.
    router_token: HexToken = None
    image_gc_interval: Seconds = 3600
    image_min_age: Seconds = 600  # never remove an image younger than this (a build in flight)
    build_cache_max_age: Seconds = 7 * 86400
    build_cache_max_size: Size = "10g"  # the build cache kept on each builder (least recently used goes first)
    # `# syntax=` frontends a Dockerfile may name (fnmatch patterns, comma-separated); BuildKit runs
    # them with the build's secrets. Without the line, the engine's built-in frontend builds.
    build_frontends: str = "docker/dockerfile:*"

    # Slack (step 2); the usual names without prefix.
    slack_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"))
    slack_api_url: str | None = Field(None, validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url"))
    notify_channel: str | None = None
    admins: str = ""  # comma-separated Slack user IDs
    channels: str = ""  # comma-separated channel IDs where commands work; empty: everywhere
    bot_port: Port = 3000
    bot_bind: IpAddress = None  # default: every address in HTTP mode (Slack posts), 127.0.0.1 otherwise

    # The HTTP API (api/, docs/api.md): 0 turns it off. Reach it through a TLS terminator.
    api_port: int = Field(8000, ge=0, le=65535)
    api_bind: IpAddress = None  # default 127.0.0.1: put a TLS terminator in front, or set 0.0.0.0 behind one
    api_rate: str = Field("20/s", pattern=r"^[1-9][0-9]{0,5}/(s|m|h)$")  # requests per token: N/s, N/m or N/h
    api_keepalive: float = 15.0  # seconds between keep-alive comments on an idle event stream

    apps: Apps = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, file_secret_settings]
        path = config_file()
        if path is not None:
            sources.append(_RelativeYamlSource(settings_cls, path))
        return tuple(sources)

    @model_validator(mode="after")
    def _limits_make_sense(self) -> Settings:
        pairs = [
            ("DEFAULT_CPUS", self.default_cpus, "MAX_CPUS", self.max_cpus, MIN_CPUS),
            ("DEFAULT_MEMORY", parse_size(self.default_memory), "MAX_MEMORY", parse_size(self.max_memory), MIN_MEMORY),
            ("DEFAULT_PIDS", self.default_pids, "MAX_PIDS", self.max_pids, 1),
        ]
        for low_name, low, high_name, high, minimum in pairs:
            if not (math.isfinite(low) and math.isfinite(high) and minimum <= low <= high):
                raise ValueError(f"YADOCKERI_{low_name} must be at least {minimum:g} and at most YADOCKERI_{high_name}")
        if self.max_replicas < 1 or self.max_processes < 1 or self.max_spec_bytes < 1024:
            raise ValueError("YADOCKERI_MAX_REPLICAS and YADOCKERI_MAX_PROCESSES must be at least 1, "
                             "YADOCKERI_MAX_SPEC_BYTES at least 1024")
        return self

    @field_validator("max_stacks", "max_stacks_per_owner")
    @classmethod
    def _stack_caps_positive(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"YADOCKERI_{(info.field_name or '').upper()} must be at least 1, not {value} "
                             "(leave it unset for no limit)")
        return value

    @field_validator("router_subnet")
    @classmethod
    def _router_subnet_fits(cls, value: IPv4Network) -> IPv4Network:
        if not 8 <= value.prefixlen <= 28:
            raise ValueError("YADOCKERI_ROUTER_SUBNET must be between a /8 and a /28 (16 addresses), "
                             f"not {value}: every web process takes one of its addresses")
        return value

    @model_validator(mode="after")
    def _builder_tls_all_or_none(self) -> Settings:
        given = [self.builder_tls_ca, self.builder_tls_cert, self.builder_tls_key]
        if any(given) and not all(given):
            raise ValueError("YADOCKERI_BUILDER_TLS_CA, _CERT and _KEY go together: set all three or none")
        return self

    @model_validator(mode="after")
    def _example_app_when_none(self) -> Settings:
        if not self.apps:
            self.apps = {"hello": AppConfig(repo=str(self.data_dir / "examples" / "hello"), branch="main", default=True)}
        return self

    # Derived values -------------------------------------------------------------------------
    @property
    def domains(self) -> list[str]:
        return self.domain.split(",")

    @property
    def builder_tls(self) -> tuple[str, str, str] | None:
        """(CA, certificate, key) PEM texts for YADOCKERI_BUILDER, if it speaks TLS."""
        if not (self.builder_tls_ca and self.builder_tls_cert and self.builder_tls_key):
            return None
        return (self.builder_tls_ca.get_secret_value(), self.builder_tls_cert.get_secret_value(),
                self.builder_tls_key.get_secret_value())

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'yadockeri.db'}"

    @property
    def router_check_url(self) -> str:
        return (self.router_url or f"http://127.0.0.1:{self.router_port}").rstrip("/")

    @property
    def trusted_proxy_networks(self) -> list[str]:
        return [part for part in self.trusted_proxies.split(",") if part]

    @property
    def firewall_block_networks(self) -> list[str]:
        return [part for part in self.firewall_block.split(",") if part]

    @property
    def admin_ids(self) -> set[str]:
        return {a.strip() for a in self.admins.split(",") if a.strip()}

    @property
    def channel_ids(self) -> set[str]:
        return {c.strip() for c in self.channels.split(",") if c.strip()}

    def stack_url(self, stack: str, domain: str | None = None) -> str:
        host = f"{stack}.{domain or self.domains[0]}"
        default_port = 80 if self.url_scheme == "http" else 443
        port = "" if self.url_scheme == "https" or self.router_port == default_port else f":{self.router_port}"
        return f"{self.url_scheme}://{host}{port}"

    @property
    def frontend_patterns(self) -> list[str]:
        return [p.strip() for p in self.build_frontends.split(",") if p.strip()]

    def stack_urls(self, stack: str) -> list[str]:
        return [self.stack_url(stack, domain) for domain in self.domains]

    def app(self, name: str | None) -> tuple[str, AppConfig]:
        """The app a command means: the named one, the only one, or the default one."""
        if name:
            if name not in self.apps:
                known = ", ".join(sorted(self.apps)) or "none"
                raise NotFound(f"no app named `{name}` (known apps: {known})")
            return name, self.apps[name]
        if len(self.apps) == 1:
            return next(iter(self.apps.items()))
        for app_name, app in self.apps.items():
            if app.default:
                return app_name, app
        raise NotFound(f"several apps are configured ({', '.join(sorted(self.apps))}): say which with --app")


class _RelativeYamlSource(YamlConfigSettingsSource):
    """yadockeri.yml, with relative repo paths read relative to the file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        self._path = path
        super().__init__(settings_cls, yaml_file=path)

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for app in (data.get("apps") or {}).values():
            repo = app.get("repo") if isinstance(app, dict) else None
            if isinstance(repo, str) and repo.startswith("."):
                app["repo"] = str((self._path.parent / repo).resolve())
        return data


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except ValidationError as error:
        raise ConfigError(f"configuration is invalid: {describe(error)}") from None
    except YadockeriError as error:  # a check raised before pydantic could say where (a duration)
        raise ConfigError(f"configuration is invalid: {error}") from None


def describe(error: ValidationError) -> str:
    """pydantic's errors as a person reads them: where (`apps.shop.build_secret`), then what."""
    said = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "the settings"
        what = "is not a known key" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        said.append(f"{where}: {what}")
    return "; ".join(said)
