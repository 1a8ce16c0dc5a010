"""The middleware compose file: checked and rewritten before `docker stack deploy -c -`.

The file comes from a branch anyone can push, and the docker CLI that reads it runs on
yadockeri's own machine, a swarm manager with the Docker socket. So:

- It is read by `stacks.untrusted_yaml` into plain JSON types (no tags, no duplicate keys,
  merge keys resolved, sizes bounded): the document checked is the document docker reads.
- A narrow allow-list: every service key, deploy key, mount, network and volume option that
  is not listed here is refused by name (`ports`, `container_name`, `restart`, `expose` are
  dropped with a note: common in compose files, meaningless or harmful on swarm).
- The output is built from the checked values only, in a regular form (environment and labels
  as mappings, mounts in long syntax, resources with every limit), plus what yadockeri
  decides for every service: all capabilities dropped but the minimal set, the engine's log
  driver with size caps (log drivers run inside dockerd, on the host's network), CPU, memory
  and pids limits, yadockeri's labels, the stack's `default` network.
- `PreparedCompose.yaml` is JSON (valid YAML that cannot carry tags or anchors), with every
  `$` escaped so the CLI's variable interpolation cannot read yadockeri's environment.

Refusals raise `SpecError` with one sentence naming the file, the service and the key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from .errors import SpecError
from .limits import MIN_CPUS, Limits, format_size, parse_size
from .names import echo
from .untrusted_yaml import json_text, load_untrusted

DEFAULT_SOURCE = "docker-compose-yadockeri.yml"
COMPOSE_VERSION = "3.9"  # 3.9 is the first with `deploy.resources.limits.pids`
SERVICE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
OBJECT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")  # networks and volumes (the CLI prefixes the stack)
DOCKER_NAME_MAX = 63
ENDPOINT_MODES = ("dnsrr", "vip")
ROUTER_NETWORK = "router"
# Labels that name yadockeri's, the stack's or Docker's own objects; a file may not set them.
RESERVED_LABEL_PREFIXES = ("yadockeri.", "com.docker.")
NANO = 1_000_000_000
SECOND, MINUTE = NANO, 60 * NANO

TOP_LEVEL_KEYS = ("version", "services", "networks", "volumes")
SERVICE_KEYS = (
    "image", "command", "entrypoint", "environment", "healthcheck", "volumes", "working_dir", "user",
    "labels", "depends_on", "deploy", "networks", "stop_grace_period", "stop_signal", "init", "hostname",
    "read_only", "cap_drop",
)
# Common in compose files written for `docker compose`; on swarm meaningless or harmful.
DROPPED_SERVICE_KEYS: dict[str, str] = {
    "ports": "published ports removed",  # only the router is reachable from outside
    "container_name": "container_name removed",  # swarm names containers; a fixed one collides
    "restart": "restart removed (swarm restarts tasks by `deploy.restart_policy`)",
    "expose": "expose removed (services on the stack's network reach each other's ports anyway)",
}

_HOST_NAMESPACE = "which yadockeri does not allow: it shares a host namespace"
_RESOLUTION = "which yadockeri does not allow: names resolve through the swarm's own DNS"
# Service keys refused with the reason said to the user; any key in neither list gets a
# sentence naming it and the allowed keys.
REFUSED_SERVICE_KEYS: dict[str, str] = {
    "privileged": "asks for privileged mode (`privileged`), which yadockeri does not allow: "
    "a privileged container controls the host",
    "network_mode": "sets `network_mode`, which yadockeri does not allow: services must stay on "
    "the stack's own network (`host` would share the machine's)",
    "pid": f"sets `pid`, {_HOST_NAMESPACE}",
    "ipc": f"sets `ipc`, {_HOST_NAMESPACE}",
    "uts": f"sets `uts`, {_HOST_NAMESPACE}",
    "cgroupns_mode": f"sets `cgroupns_mode`, {_HOST_NAMESPACE}",
    "userns_mode": "sets `userns_mode`, which yadockeri does not allow: it changes the host's user namespace mapping",
    "cgroup_parent": "sets `cgroup_parent`, which yadockeri does not allow: it escapes the container's cgroup",
    "devices": "asks for host devices (`devices`), which yadockeri does not allow",
    "device_cgroup_rules": "sets `device_cgroup_rules`, which yadockeri does not allow: it opens host devices",
    "cap_add": "adds capabilities (`cap_add`), which yadockeri does not allow: middleware keeps a minimal set "
    "(an admin can add some for the app in yadockeri.yml)",
    "security_opt": "sets `security_opt`, which yadockeri does not allow: it can turn off seccomp and AppArmor",
    "env_file": "uses `env_file`, which yadockeri does not allow: the docker CLI would read that file on "
    "yadockeri's own machine; put the values under `environment`",
    "extends": "uses `extends`, which yadockeri does not allow: it reads other files",
    "build": "has `build`, which yadockeri does not allow in the services file: middleware must name an `image`",
    "secrets": "uses `secrets`, which yadockeri does not allow: top-level secrets read files on "
    "yadockeri's own machine; use `environment`",
    "configs": "uses `configs`, which yadockeri does not allow: top-level configs read files on "
    "yadockeri's own machine; use `environment`",
    "credential_spec": "sets `credential_spec`, which yadockeri does not allow: it reads host files (Windows only)",
    "logging": "sets `logging`, which yadockeri does not allow: log drivers run inside dockerd on the host's "
    "network; every service gets the engine's default driver with size caps",
    "dns": f"sets `dns`, {_RESOLUTION}",
    "dns_search": f"sets `dns_search`, {_RESOLUTION}",
    "dns_opt": f"sets `dns_opt`, {_RESOLUTION}",
    "extra_hosts": f"sets `extra_hosts`, {_RESOLUTION}",
    "shm_size": "sets `shm_size`, which yadockeri does not allow: `docker stack deploy` ignores it; mount a "
    "`volumes` entry `{type: tmpfs, target: /dev/shm, tmpfs: {size: 64m}}` instead",
    "tmpfs": "sets `tmpfs`, which `docker stack deploy` silently ignores: use a `volumes` entry "
    "`{type: tmpfs, target: /path, tmpfs: {size: 64m}}`",
    "sysctls": "sets `sysctls`, which yadockeri does not allow: the container's kernel settings are not the "
    "branch's to change",
    "ulimits": "sets `ulimits`, which yadockeri does not allow: limits come from yadockeri's settings "
    "(`deploy.resources.limits`)",
    "links": "uses `links`, which yadockeri does not allow: services reach each other by name on the "
    "stack's network",
    "external_links": "uses `external_links`, which yadockeri does not allow: a stack reaches only its own services",
    "volumes_from": "uses `volumes_from`, which yadockeri does not allow: mount a named volume instead",
    "mac_address": "sets `mac_address`, which yadockeri does not allow: addresses are the swarm's",
    "isolation": "sets `isolation`, which yadockeri does not allow (Windows only)",
    "tty": "sets `tty`, which yadockeri does not allow: swarm services run without a terminal",
    "stdin_open": "sets `stdin_open`, which yadockeri does not allow: swarm services run without a terminal",
    "profiles": "uses `profiles`, which yadockeri does not allow: `docker stack deploy` does not read them",
}
for _key in ("mem_limit", "memswap_limit", "mem_reservation", "cpus", "cpu_shares", "cpu_quota", "cpuset",
             "pids_limit", "oom_kill_disable", "oom_score_adj", "storage_opt", "blkio_config"):
    REFUSED_SERVICE_KEYS[_key] = (
        f"sets `{_key}`, which yadockeri does not allow: resources are set by `deploy.resources.limits` "
        "(cpus, memory, pids) within yadockeri's maximums"
    )

DEPLOY_KEYS = ("mode", "replicas", "resources", "restart_policy", "labels", "endpoint_mode")
REFUSED_DEPLOY_KEYS: dict[str, str] = {
    "placement": "sets `deploy.placement`, which yadockeri does not allow: the only placement is the "
    "constraint yadockeri adds (services with volumes stay on the stack's node)",
    "update_config": "sets `deploy.update_config`, which yadockeri does not allow: yadockeri decides how "
    "middleware is updated",
    "rollback_config": "sets `deploy.rollback_config`, which yadockeri does not allow: yadockeri decides how "
    "middleware is updated",
    "max_replicas_per_node": "sets `deploy.max_replicas_per_node`, which yadockeri does not allow",
}
RESOURCE_KEYS = {"limits": ("cpus", "memory", "pids"), "reservations": ("cpus", "memory")}
RESTART_CONDITIONS = ("none", "on-failure", "any")
HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")
NETWORK_KEYS = ("driver", "driver_opts", "internal", "labels")
VOLUME_KEYS = ("driver", "labels")
_EXTERNAL = "is `external`, which yadockeri does not allow: a stack uses only its own objects"
_NAME = "sets `name`, which yadockeri does not allow: it would point outside the stack"
NETWORK_REASONS = {
    "external": _EXTERNAL, "name": _NAME,
    "ipam": "sets `ipam`, which yadockeri does not allow: custom subnets can collide with other networks",
    "attachable": "sets `attachable`, which yadockeri does not allow: containers outside the stack could join it",
}
VOLUME_REASONS = {
    "external": _EXTERNAL, "name": _NAME,
    # local with `o: bind, device: /path` is a host bind mount under another name.
    "driver_opts": "sets `driver_opts`, which yadockeri does not allow: they can bind-mount host paths",
}

# (minimum, maximum) in nanoseconds, and what the user reads.
HEALTHCHECK_DURATIONS = {
    "interval": (SECOND, 5 * MINUTE, "from 1s to 5m"),
    "timeout": (SECOND, 5 * MINUTE, "from 1s to 5m"),
    "start_period": (0, 10 * MINUTE, "at most 10m"),
}
# Counts: each overlay network takes a subnet from the swarm's shared pool, each mount a
# volume or a tmpfs; a review stack needs a few.
MAX_NETWORKS = 8  # declared in the file, besides `default`
MAX_VOLUMES = 16  # declared in the file
MAX_MOUNTS = 16  # `volumes` entries of one service
MAX_HEALTHCHECK_RETRIES = 100
MAX_STOP_GRACE = 2 * MINUTE
MAX_RESTART_DELAY = 60 * SECOND
MAX_RESTART_WINDOW = 10 * MINUTE
MAX_RESTART_ATTEMPTS = 100


@dataclass(frozen=True)
class MiddlewarePolicy:
    """What yadockeri decides for every middleware service, whatever the file says."""

    limits: Limits
    capabilities: tuple[str, ...]  # "CAP_*" names the containers keep; all others dropped
    log_driver: dict[str, object]  # stacks.limits.log_driver(engine default): {"Name": ..., "Options": {...}}
    registry: str | None  # YADOCKERI_REGISTRY: no middleware image may come from there
    own_images: frozenset[str]  # "sha256:<hex>" image IDs and repo digests of images yadockeri built
    max_bytes: int  # YADOCKERI_MAX_SPEC_BYTES


@dataclass(frozen=True)
class PreparedCompose:
    """The checked file. `.data` is the normalised data (strings unescaped, memory in bytes as
    an int: what `docker service inspect` should show); `.yaml` is `render(.data)`, the text
    that goes to `docker stack deploy -c -`."""

    data: dict[str, Any]
    yaml: str
    digest: str  # sha256 hex of .yaml: unchanged middleware need not be redeployed
    services: list[str] = field(default_factory=list)  # sorted
    has_volumes: bool = False  # named volumes, which outlive the containers
    warnings: list[str] = field(default_factory=list)  # what was silently rewritten


@dataclass(frozen=True)
class _Context:
    source: str
    stack: str
    process_names: frozenset[str]
    policy: MiddlewarePolicy
    warnings: list[str]
    services: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    volumes: frozenset[str] = frozenset()

    def refuse(self, message: str) -> SpecError:
        return SpecError(f"{self.source}: {message}")

    def refuse_service(self, service: str, message: str) -> SpecError:
        return SpecError(f"{self.source}: service `{_short(service)}` {message}")

    def where(self, service: str, key: str) -> str:
        """The start of a Limits message: `<file>: service `<name>` <key>`."""
        return f"{self.source}: service `{service}` {key}"

    def note(self, message: str) -> None:
        self.warnings.append(message)


def prepare_compose(
    text: str,
    *,
    stack: str,
    process_names: Iterable[str],
    endpoint_mode: str,
    labels: dict[str, str],
    policy: MiddlewarePolicy,
    source: str = DEFAULT_SOURCE,
) -> PreparedCompose:
    """Check the compose text and rewrite it for `docker stack deploy -c - <stack>`.

    Raises SpecError for anything refused. `labels` are added to every service (deploy and
    container labels), network and volume; they override labels of the same key.
    """
    if isinstance(process_names, str):  # a caller's slip: "web" would read as {"w", "e", "b"}
        raise TypeError("process_names must be a collection of names, not a string")
    if endpoint_mode not in ENDPOINT_MODES:
        raise ValueError(f"endpoint_mode must be one of {ENDPOINT_MODES}, not {endpoint_mode!r}")
    ctx = _Context(source=source, stack=stack, process_names=frozenset(process_names), policy=policy, warnings=[])
    data = _load(text, ctx)
    _check_top_level(data, ctx)
    services_in = _section(data, "services", ctx)
    networks_in = _section(data, "networks", ctx)
    volumes_in = _section(data, "volumes", ctx)
    _check_count(len(ctx.process_names), len(services_in), ctx)
    _check_at_most(len(networks_in.keys() - {"default"}), MAX_NETWORKS, "networks", ctx)
    _check_at_most(len(volumes_in), MAX_VOLUMES, "volumes", ctx)

    networks = {name: _network(name, spec, labels, ctx) for name, spec in networks_in.items()}
    networks.setdefault("default", {"driver": "overlay", "labels": dict(labels)})
    volumes = {name: _volume(name, spec, labels, ctx) for name, spec in volumes_in.items()}
    ctx = replace(ctx, services=frozenset(services_in), networks=frozenset(networks), volumes=frozenset(volumes))
    services = {name: _service(name, spec, endpoint_mode, labels, ctx) for name, spec in services_in.items()}

    out: dict[str, Any] = {"version": COMPOSE_VERSION, "services": services, "networks": networks}
    if volumes:  # `volumes: {}` is fine for the CLI, but absent says the same
        out["volumes"] = volumes
    return _prepared(out, sorted(services), ctx.warnings)


def _prepared(data: dict[str, Any], services: list[str], warnings: list[str]) -> PreparedCompose:
    text = render(data)
    has_volumes = bool(data.get("volumes")) or any(_has_volume_mount(s) for s in data["services"].values())
    return PreparedCompose(
        data=data, yaml=text, digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        services=services, has_volumes=has_volumes, warnings=warnings,
    )


# ---------------------------------------------------------------------------------------
# Loading and the top level


def _load(text: str, ctx: _Context) -> dict[str, Any]:
    data = load_untrusted(text, ctx.source, max_bytes=ctx.policy.max_bytes)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ctx.refuse("the top level must be a mapping (version, services, networks, volumes)")
    return data


def _check_top_level(data: dict[str, Any], ctx: _Context) -> None:
    for key in data:
        if key in ("secrets", "configs"):
            raise ctx.refuse(
                f"top-level `{key}` is not allowed: their `file:` would make the docker CLI read "
                "files of the machine yadockeri runs on; use `environment`"
            )
        if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            raise ctx.refuse(
                f"top-level key `{_short(key)}` is not allowed (allowed: version, services, networks, volumes, x-*)"
            )


def _section(data: dict[str, Any], key: str, ctx: _Context) -> dict[str, Any]:
    """services/networks/volumes: absent or empty means none; anything but a mapping is wrong."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.refuse(f"`{key}` must be a mapping of names")
    return value


def _check_count(processes: int, middleware: int, ctx: _Context) -> None:
    try:
        ctx.policy.limits.count(processes, middleware)
    except SpecError as error:
        raise ctx.refuse(str(error)) from None


def _check_at_most(count: int, bound: int, key: str, ctx: _Context) -> None:
    if count > bound:
        raise ctx.refuse(f"the top-level `{key}` declares {count}: at most {bound} are allowed")


def _structural_keys(what: str, spec: dict[str, Any], allowed: Iterable[str], reasons: dict[str, str],
                     ctx: _Context) -> dict[str, Any]:
    """The mapping without `x-*` keys (anchors' homes, never output); any key not allowed is
    refused, with its reason when there is one."""
    allowed = tuple(allowed)
    kept = {}
    for key, value in spec.items():
        if key.startswith("x-"):
            continue
        if key in reasons:
            raise ctx.refuse(f"{what} {reasons[key]}")
        if key not in allowed:
            raise ctx.refuse(f"{what} has key `{_short(key)}`, which yadockeri does not allow "
                             f"(allowed: {', '.join(allowed)})")
        kept[key] = value
    return kept


# ---------------------------------------------------------------------------------------
# Top-level networks and volumes


def _network(name: str, spec: Any, labels: dict[str, str], ctx: _Context) -> dict[str, Any]:
    what = f"network `{_short(name)}`"
    if name == ROUTER_NETWORK:
        raise ctx.refuse(f"{what} is not allowed: the router network is yadockeri's own, middleware never joins it")
    _check_object_name(what, name, ctx)
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ctx.refuse(f"{what} must be a mapping")
    spec = _structural_keys(what, spec, NETWORK_KEYS, NETWORK_REASONS, ctx)
    # Only the swarm's own overlay driver keeps the network inside the stack.
    driver = spec.get("driver", "overlay")
    if driver != "overlay":
        raise ctx.refuse(f"{what} asks for driver `{_short(str(driver))}`; only `overlay` is allowed")
    out: dict[str, Any] = {"driver": "overlay"}
    options = spec.get("driver_opts")
    if options is not None:
        if not isinstance(options, dict) or any(key != "encrypted" for key in options):
            raise ctx.refuse(f"{what} sets `driver_opts`, which yadockeri does not allow (except `encrypted`)")
        if options:
            out["driver_opts"] = {"encrypted": ""}  # the option is its presence
    if "internal" in spec:
        out["internal"] = _boolean(spec["internal"], f"{what} `internal`", ctx)
    out["labels"] = _merged_labels(spec.get("labels"), labels, f"{what} has `labels` that", f"network {name}: label", ctx)
    return out


def _volume(name: str, spec: Any, labels: dict[str, str], ctx: _Context) -> dict[str, Any]:
    what = f"volume `{_short(name)}`"
    _check_object_name(what, name, ctx)
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ctx.refuse(f"{what} must be a mapping")
    spec = _structural_keys(what, spec, VOLUME_KEYS, VOLUME_REASONS, ctx)
    driver = spec.get("driver", "local")
    if driver != "local":
        raise ctx.refuse(f"{what} asks for driver `{_short(str(driver))}`, which yadockeri does not allow: only `local`")
    return {"driver": "local",
            "labels": _merged_labels(spec.get("labels"), labels, f"{what} has `labels` that", f"volume {name}: label", ctx)}


def _check_object_name(what: str, name: str, ctx: _Context) -> None:
    if not OBJECT_NAME.fullmatch(name):
        raise ctx.refuse(f"{what} has a name that is not allowed: letters, digits, `_`, `.` and `-`, "
                         "starting with a letter or digit, at most 63 characters")


# ---------------------------------------------------------------------------------------
# Services


def _service(name: str, spec: Any, endpoint_mode: str, labels: dict[str, str], ctx: _Context) -> dict[str, Any]:
    _check_service_name(name, ctx)
    if not isinstance(spec, dict):
        raise ctx.refuse_service(name, "must be a mapping (with at least an `image`)")
    spec = _service_keys(name, spec, ctx)
    policy = ctx.policy
    out: dict[str, Any] = {
        "image": _image(name, spec.get("image"), ctx),
        "environment": _environment(name, spec.get("environment"), ctx),
        "volumes": _mounts(name, spec.get("volumes"), ctx),
        "networks": _service_networks(name, spec.get("networks"), ctx),
        # An init as PID 1 forwards SIGTERM, so a destroy does not wait out every grace period.
        "init": _boolean(spec.get("init", True), f"service `{name}` `init`", ctx),
        "read_only": _boolean(spec.get("read_only", False), f"service `{name}` `read_only`", ctx),
        "labels": _merged_labels(spec.get("labels"), labels, f"service `{name}` has `labels` that",
                                 f"service {name}: label", ctx),
        "deploy": _deploy(name, spec.get("deploy"), endpoint_mode, labels, ctx),
        "cap_drop": ["ALL"],
        "cap_add": list(policy.capabilities),
        "logging": _logging(policy.log_driver),
    }
    for key in ("command", "entrypoint"):
        if key in spec:
            out[key] = _command(name, key, spec[key], ctx)
    optional = {
        "healthcheck": _healthcheck, "working_dir": _working_dir, "user": _user, "hostname": _hostname,
        "stop_signal": _stop_signal, "stop_grace_period": _stop_grace_period, "depends_on": _depends_on,
    }
    for key, check in optional.items():
        if key in spec:
            out[key] = check(name, spec[key], ctx)
    if "cap_drop" in spec:  # accepted from common files; superseded, everything is dropped anyway
        _string_list(name, "cap_drop", spec["cap_drop"], ctx)
    return out


def _check_service_name(name: str, ctx: _Context) -> None:
    if not SERVICE_NAME.fullmatch(name):
        raise ctx.refuse_service(
            name,
            "has a name that is not allowed: lowercase letters, digits and dashes, 1-32 characters, "
            "starting and ending with a letter or digit",
        )
    if name in ctx.process_names:
        # Both would answer to the same name on the stack's network.
        raise ctx.refuse_service(name, f"has the same name as the app's process `{name}`; rename one")
    full = f"{ctx.stack}_{name}"
    if len(full) > DOCKER_NAME_MAX:
        raise ctx.refuse_service(
            name, f"makes the Docker service name `{full}` longer than {DOCKER_NAME_MAX} characters; use a shorter name"
        )


def _service_keys(name: str, spec: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    kept = {}
    for key, value in spec.items():
        if key.startswith("x-"):
            continue
        if key in REFUSED_SERVICE_KEYS:
            raise ctx.refuse_service(name, REFUSED_SERVICE_KEYS[key])
        if key in DROPPED_SERVICE_KEYS:
            if value not in (None, [], {}):  # `ports: []` says nothing worth a note
                ctx.note(f"service {name}: {DROPPED_SERVICE_KEYS[key]}")
            continue
        if key not in SERVICE_KEYS:
            raise ctx.refuse_service(name, f"has key `{_short(key)}`, which yadockeri does not allow for "
                                           f"middleware (allowed: {', '.join(SERVICE_KEYS)})")
        kept[key] = value
    return kept


def _logging(driver: dict[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {"driver": driver["Name"]}
    if driver.get("Options"):
        out["options"] = dict(driver["Options"])  # type: ignore[call-overload]
    return out


# ---------------------------------------------------------------------------------------
# Images

_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?",
    re.ASCII,
)
_IMAGE_ID = re.compile(r"(?:sha256|sha384|sha512):", re.IGNORECASE)
_ALL_HEX = re.compile(r"[0-9a-fA-F]+")
OWN_REPOSITORY = "yadockeri"  # stacks.specs.image_tag: [registry/]yadockeri/<app>:<commit>


@dataclass(frozen=True)
class ImageReference:
    """A Docker image reference, normalised as the docker CLI and dockerd read it."""

    domain: str  # lowercase, `docker.io` for Docker Hub (also when written `index.docker.io`)
    path: str  # `library/postgres` for `postgres`
    tag: str | None
    digest: str | None  # lowercase


def parse_image_reference(text: str) -> ImageReference | None:
    """Docker's reference grammar (distribution/reference); None when it does not parse."""
    match = _REFERENCE.fullmatch(text)
    if match is None or len(match["name"]) > 255:
        return None
    name = match["name"]
    first, slash, rest = name.partition("/")
    # As splitDockerDomain: the first component is a registry only if it looks like a host.
    if not slash or not (any(char in first for char in ".:") or first == "localhost"):
        domain, path = "docker.io", name
    else:
        domain, path = first.lower(), rest
    if path != path.lower():
        return None
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    digest = match["digest"].lower() if match["digest"] else None
    return ImageReference(domain=domain, path=path, tag=match["tag"], digest=digest)


def _image(name: str, image: Any, ctx: _Context) -> str:
    if not isinstance(image, str) or not image.strip():
        raise ctx.refuse_service(name, "needs an `image` (a string, like `postgres:15`)")
    what = f"has image `{_short(image)}`, which"
    if _IMAGE_ID.match(image):
        # dockerd runs an image ID (or a prefix of one) from the node's store, without a pull.
        raise ctx.refuse_service(name, f"{what} is an image ID: it could be an image yadockeri built; "
                                       "name the image by repository and tag, like `postgres:15`")
    if _ALL_HEX.fullmatch(image):
        raise ctx.refuse_service(name, f"{what} dockerd could read as a truncated image ID (all hexadecimal "
                                       f"digits), maybe of an image yadockeri built; add a tag, like `{_short(image)}:latest`")
    reference = parse_image_reference(image)
    if reference is None:
        raise ctx.refuse_service(name, f"{what} is not a Docker image reference (like `postgres:15` or "
                                       "`registry.example.com/team/redis:7`)")
    _check_not_own_image(name, what, reference, ctx)
    return image


def _check_not_own_image(name: str, what: str, reference: ImageReference, ctx: _Context) -> None:
    """However it is spelled, a middleware image is never one yadockeri built (another app's
    code, pulled with yadockeri's registry login)."""
    if reference.path == OWN_REPOSITORY or reference.path.startswith(f"{OWN_REPOSITORY}/"):
        raise ctx.refuse_service(name, f"{what} names an image yadockeri builds (`{OWN_REPOSITORY}/...`): "
                                       "middleware must be another image, like `postgres:15`")
    registry = ctx.policy.registry
    if registry and _host(reference.domain) == _host(registry.lower()):
        raise ctx.refuse_service(name, f"{what} comes from yadockeri's registry ({_short(registry)}), which holds "
                                       "the apps' images: middleware must come from elsewhere")
    own = {entry.lower().rpartition("@")[2] for entry in ctx.policy.own_images}
    if reference.digest is not None and reference.digest in own:
        raise ctx.refuse_service(name, f"{what} is an image yadockeri built (by its digest): middleware must be "
                                       "another image")


def _host(domain: str) -> str:
    """`Registry.example.com.:5000` -> `registry.example.com`: one host however it is written."""
    host = domain.rsplit(":", 1)[0] if re.search(r":[0-9]+$", domain) else domain
    return host.rstrip(".").lower()


# ---------------------------------------------------------------------------------------
# Environment, commands, small keys

_ENV_KEY_BAD = re.compile(r"[=\s\x00]")


def _environment(name: str, value: Any, ctx: _Context) -> dict[str, str]:
    """A mapping or `KEY=VALUE` list -> a mapping of strings. An entry without a value would be
    filled by the docker CLI from its own environment: yadockeri's secrets."""
    if value is None:
        return {}
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [_env_entry(name, entry, ctx) for entry in value]
    else:
        raise ctx.refuse_service(name, "has `environment` that is neither a mapping nor a list of `KEY=VALUE` strings")
    out: dict[str, str] = {}
    for key, raw in pairs:
        if not key or _ENV_KEY_BAD.search(key):
            raise ctx.refuse_service(name, f"has environment key `{_short(key)}`, which is not allowed: "
                                           "not empty, no `=`, no whitespace")
        if key in out:
            raise ctx.refuse_service(name, f"sets environment `{_short(key)}` twice")
        out[key] = _env_value(name, key, raw, ctx)
    return out


def _env_entry(name: str, entry: Any, ctx: _Context) -> tuple[str, Any]:
    if not isinstance(entry, str):
        raise ctx.refuse_service(name, "has an `environment` entry that is not a `KEY=VALUE` string")
    key, equals, value = entry.partition("=")
    return key, (value if equals else None)


def _env_value(name: str, key: str, value: Any, ctx: _Context) -> str:
    what = f"environment `{_short(key)}`"
    if value is None or value == "":
        raise ctx.refuse_service(name, f"{what} has no value or an empty one, which yadockeri does not allow: "
                                       "the docker CLI would fill it from yadockeri's own environment")
    if isinstance(value, bool):
        raise ctx.refuse_service(name, f"{what} is a boolean (YAML reads true/false/yes/no/on/off so); "
                                       f"quote it: `{_short(key)}: \"true\"`")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise ctx.refuse_service(name, f"{what} must be a string or a number")
    if "\0" in value:
        raise ctx.refuse_service(name, f"{what} contains a NUL character")
    return value


def _command(name: str, key: str, value: Any, ctx: _Context) -> str | list[str]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return list(value)
    raise ctx.refuse_service(name, f"has `{key}` that is neither a string nor a list of strings")


def _string_list(name: str, key: str, value: Any, ctx: _Context) -> list[str]:
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return list(value)
    raise ctx.refuse_service(name, f"has `{key}` that is not a list of strings")


def _boolean(value: Any, what: str, ctx: _Context) -> bool:
    if not isinstance(value, bool):
        raise ctx.refuse(f"{what} must be true or false")
    return value


def _working_dir(name: str, value: Any, ctx: _Context) -> str:
    if not isinstance(value, str) or not value.startswith("/") or _has_control(value):
        raise ctx.refuse_service(name, "has `working_dir` that is not an absolute path")
    return value


_USER = re.compile(r"[A-Za-z0-9_.-]{1,32}(?::[A-Za-z0-9_.-]{1,32})?")


def _user(name: str, value: Any, ctx: _Context) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value
    if not isinstance(text, str) or not _USER.fullmatch(text):
        raise ctx.refuse_service(name, "has `user` that is not a user name or ID (like `postgres` or `999:999`)")
    return text


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _hostname(name: str, value: Any, ctx: _Context) -> str:
    # Also keeps out swarm's templates (`{{.Node.Hostname}}`), which would name the node.
    if not isinstance(value, str) or not _HOSTNAME.fullmatch(value):
        raise ctx.refuse_service(name, "has `hostname` that is not a host name (letters, digits, `-` and `.`)")
    return value


_SIGNAL = re.compile(r"(?:SIG)?[A-Z][A-Z0-9+-]{0,15}|[0-9]{1,2}")


def _stop_signal(name: str, value: Any, ctx: _Context) -> str:
    if not isinstance(value, str) or not _SIGNAL.fullmatch(value):
        raise ctx.refuse_service(name, "has `stop_signal` that is not a signal name (like `SIGINT`)")
    return value


def _stop_grace_period(name: str, value: Any, ctx: _Context) -> str:
    return _duration(name, "stop_grace_period", value, 0, MAX_STOP_GRACE, "at most 2m", ctx)


def _depends_on(name: str, value: Any, ctx: _Context) -> list[str]:
    names = _string_list(name, "depends_on", value, ctx)
    for other in names:
        if other not in ctx.services:
            raise ctx.refuse_service(name, f"has `depends_on` `{_short(other)}`, which is no service of this file")
    return names


def _has_control(text: str) -> bool:
    return any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text)


# ---------------------------------------------------------------------------------------
# Durations (Go's time.ParseDuration, as the docker CLI reads them)

_DURATION = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|0")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": NANO, "m": MINUTE, "h": 3600 * NANO}


def parse_duration(text: Any) -> int | None:
    """`10s`, `1m30s`, `500ms`, `1.5h` -> nanoseconds; None if it is not a Go duration
    (negative ones and bare numbers other than 0 included)."""
    if text == 0 and type(text) is int:  # YAML reads `0` as a number; it is 0s all the same
        return 0
    if not isinstance(text, str) or len(text) > 32 or not _DURATION.fullmatch(text):
        return None
    total = sum(Decimal(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    return int(total)


def format_duration(nanoseconds: int) -> str:
    """Nanoseconds -> the shortest Go duration text in whole units (`1m30s`, `500ms`)."""
    if nanoseconds == 0:
        return "0s"
    if nanoseconds % NANO:
        for unit, factor in (("ms", 10**6), ("us", 10**3), ("ns", 1)):
            if nanoseconds % factor == 0:
                return f"{nanoseconds // factor}{unit}"
    hours, rest = divmod(nanoseconds // NANO, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if value)


def _duration(name: str, key: str, value: Any, low: int, high: int, bounds: str, ctx: _Context) -> str:
    nanoseconds = parse_duration(value)
    if nanoseconds is None:
        raise ctx.refuse_service(name, f"has `{key}` that is not a duration (like `10s`, `1m30s` or `500ms`)")
    if not low <= nanoseconds <= high:
        raise ctx.refuse_service(name, f"has `{key}` {_short(str(value))}: it must be {bounds}")
    return format_duration(nanoseconds)


def _whole_number(name: str, key: str, value: Any, low: int, high: int, ctx: _Context) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ctx.refuse_service(name, f"has `{key}` that must be a whole number from {low} to {high}")
    return value


# ---------------------------------------------------------------------------------------
# Healthcheck


def _healthcheck(name: str, value: Any, ctx: _Context) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ctx.refuse_service(name, "has `healthcheck` that is not a mapping")
    spec = _nested_keys(name, "healthcheck", value, HEALTHCHECK_KEYS, {}, ctx)
    out: dict[str, Any] = {}
    if "disable" in spec:
        out["disable"] = _boolean(spec["disable"], f"service `{name}` `healthcheck.disable`", ctx)
        if out["disable"] and "test" in spec:
            raise ctx.refuse_service(name, "has `healthcheck` with both `test` and `disable: true`; keep one")
    if "test" in spec:
        out["test"] = _healthcheck_test(name, spec["test"], ctx)
    for key, (low, high, bounds) in HEALTHCHECK_DURATIONS.items():
        if key in spec:
            out[key] = _duration(name, f"healthcheck.{key}", spec[key], low, high, bounds, ctx)
    if "retries" in spec:
        out["retries"] = _whole_number(name, "healthcheck.retries", spec["retries"], 1, MAX_HEALTHCHECK_RETRIES, ctx)
    return out


def _healthcheck_test(name: str, test: Any, ctx: _Context) -> str | list[str]:
    if isinstance(test, str) and test.strip():
        return test  # the CLI runs it with CMD-SHELL
    if isinstance(test, list) and test and all(isinstance(part, str) for part in test):
        if test[0] == "NONE" and len(test) == 1:
            return list(test)
        if test[0] in ("CMD", "CMD-SHELL") and len(test) > 1:
            return list(test)
    raise ctx.refuse_service(name, "has `healthcheck.test` that is neither a command string nor a list "
                                   "starting with CMD, CMD-SHELL (and the command) or NONE")


def _nested_keys(name: str, key: str, spec: dict[str, Any], allowed: Iterable[str], reasons: dict[str, str],
                 ctx: _Context) -> dict[str, Any]:
    allowed = tuple(allowed)
    kept = {}
    for inner, value in spec.items():
        if inner.startswith("x-"):
            continue
        if inner in reasons:
            raise ctx.refuse_service(name, reasons[inner])
        if inner not in allowed:
            raise ctx.refuse_service(name, f"has `{key}.{_short(inner)}`, which yadockeri does not allow "
                                           f"(allowed in `{key}`: {', '.join(allowed)})")
        kept[inner] = value
    return kept


# ---------------------------------------------------------------------------------------
# Mounts


def _mounts(name: str, mounts: Any, ctx: _Context) -> list[dict[str, Any]]:
    if mounts is None:
        return []
    if not isinstance(mounts, list):
        raise ctx.refuse_service(name, "has `volumes` that is not a list")
    if len(mounts) > MAX_MOUNTS:
        raise ctx.refuse_service(name, f"has {len(mounts)} `volumes` entries: at most {MAX_MOUNTS} are allowed")
    out = []
    for mount in mounts:
        if isinstance(mount, str):
            out.append(_short_mount(name, mount, ctx))
        elif isinstance(mount, dict):
            out.append(_long_mount(name, mount, ctx))
        else:
            raise ctx.refuse_service(name, "has a `volumes` entry that is neither a string nor a mapping")
    targets: set[str] = set()
    for mount in out:
        if mount["target"] in targets:
            raise ctx.refuse_service(name, f"mounts two `volumes` at `{_short(mount['target'])}`")
        targets.add(mount["target"])
    return out


def _short_mount(name: str, spec: str, ctx: _Context) -> dict[str, Any]:
    """`name:/path[:ro|rw]` -> the long syntax; host paths and anonymous volumes refused."""
    if "\0" in spec:  # the docker CLI reads NUL as the end of the spec
        raise ctx.refuse_service(name, "has a `volumes` entry with a NUL character")
    source = short_mount_source(spec)
    if source is None:
        raise ctx.refuse_service(name, f"has an anonymous volume `{_short(spec)}` (`volumes`), which yadockeri does "
                                       "not allow: destroy could never find it; use a named volume `name:/path`")
    if _is_host_path(source) or not source:
        raise ctx.refuse_service(
            name,
            f"bind-mounts the host path `{_short(source)}` (`volumes`), which yadockeri does not allow: "
            "use a named volume",
        )
    parts = spec[len(source) + 1:].split(":")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("ro", "rw")):
        raise ctx.refuse_service(name, f"has a `volumes` entry `{_short(spec)}` that is not `name:/path`, "
                                       "`name:/path:ro` or `name:/path:rw`")
    read_only = len(parts) == 2 and parts[1] == "ro"
    return _volume_mount(name, source, parts[0], read_only, False, ctx)


def _long_mount(name: str, mount: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    kind = mount.get("type")
    if kind == "volume":
        return _long_volume_mount(name, mount, ctx)
    if kind == "tmpfs":
        return _tmpfs_mount(name, mount, ctx)
    raise ctx.refuse_service(
        name,
        f"has a `volumes` entry of type `{_short(str(kind))}`, which yadockeri does not allow: "
        "only `volume` and `tmpfs` (no host bind mounts)",
    )


def _long_volume_mount(name: str, mount: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    spec = _nested_keys(name, "volumes", mount, ("type", "source", "target", "read_only", "volume"), {}, ctx)
    source = spec.get("source")
    if source is None or source == "":
        raise ctx.refuse_service(name, "has a `volumes` entry without a `source`: an anonymous volume, which "
                                       "yadockeri does not allow (destroy could never find it); name one")
    if not isinstance(source, str):
        raise ctx.refuse_service(name, "has a `volumes` entry whose `source` is not a volume name")
    if _is_host_path(source):
        raise ctx.refuse_service(
            name, f"mounts the host path `{_short(source)}` (`volumes`), which yadockeri does not allow"
        )
    read_only = _boolean(spec.get("read_only", False), f"service `{name}` `volumes` entry `read_only`", ctx)
    options = spec.get("volume") or {}
    if not isinstance(options, dict) or any(key != "nocopy" for key in options):
        raise ctx.refuse_service(name, "has a `volumes` entry with `volume` options other than `nocopy`, which "
                                       "yadockeri does not allow")
    nocopy = _boolean(options.get("nocopy", False), f"service `{name}` `volumes` entry `volume.nocopy`", ctx)
    return _volume_mount(name, source, spec.get("target"), read_only, nocopy, ctx)


def _volume_mount(name: str, source: str, target: Any, read_only: bool, nocopy: bool, ctx: _Context) -> dict[str, Any]:
    if source not in ctx.volumes:
        raise ctx.refuse_service(name, f"mounts volume `{_short(source)}`, which the top-level `volumes` does not "
                                       "declare; add it there")
    return {"type": "volume", "source": source, "target": _target(name, target, ctx), "read_only": read_only,
            "volume": {"nocopy": nocopy}}


def _tmpfs_mount(name: str, mount: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    spec = _nested_keys(name, "volumes", mount, ("type", "target", "tmpfs"), {}, ctx)
    options = spec.get("tmpfs") or {}
    if not isinstance(options, dict) or any(key != "size" for key in options):
        raise ctx.refuse_service(name, "has a tmpfs `volumes` entry with `tmpfs` options other than `size`")
    where = ctx.where(name, "tmpfs `volumes` entry size")
    size = None
    if options.get("size") is not None:
        size = _size(options["size"], where, ctx)
    return {"type": "tmpfs", "target": _target(name, spec.get("target"), ctx),
            "tmpfs": {"size": ctx.policy.limits.tmpfs(size, where)}}


def _target(name: str, target: Any, ctx: _Context) -> str:
    if not isinstance(target, str) or not target.startswith("/") or target == "/" or _has_control(target):
        raise ctx.refuse_service(name, "has a `volumes` entry whose target is not an absolute path in the container")
    return target


def short_mount_source(spec: str) -> str | None:
    """The source of a short-syntax mount, split as the docker CLI splits it (a Windows drive
    letter `C:` is not a separator); None for an anonymous volume (`/data`)."""
    if len(spec) <= 2:
        return None
    buffer = ""
    for char in spec:
        if char == ":" and len(buffer) == 1 and buffer.isalpha():
            buffer += char
        elif char == ":":
            return buffer
        else:
            buffer += char
    return None


def _is_host_path(source: str) -> bool:
    """What the docker CLI would bind-mount from the host (and more: any `/`, and `$`, which
    the CLI would expand to a path from yadockeri's environment were it not escaped)."""
    if not source:
        return False
    if source[0] in "./~" or any(char in source for char in "/\\$"):
        return True
    return len(source) >= 2 and source[0].isalpha() and source[1] == ":"


def _size(value: Any, where: str, ctx: _Context) -> int:
    try:
        return parse_size(value)
    except ValueError as error:
        raise SpecError(f"{where}: {error}") from None


# ---------------------------------------------------------------------------------------
# Networks of a service


_ALIAS = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?")


def _service_networks(name: str, networks: Any, ctx: _Context) -> dict[str, dict[str, Any]]:
    """Always a mapping, always with `default`: the processes are on `default`."""
    if networks is None:
        entries: dict[str, Any] = {}
    elif isinstance(networks, list):
        if not all(isinstance(network, str) for network in networks):
            raise ctx.refuse_service(name, "has `networks` entries that are not names")
        entries = dict.fromkeys(networks)
    elif isinstance(networks, dict):
        entries = networks
    else:
        raise ctx.refuse_service(name, "has `networks` that is neither a list nor a mapping")
    out: dict[str, dict[str, Any]] = {}
    for network, options in entries.items():
        if network == ROUTER_NETWORK:
            raise ctx.refuse_service(
                name, "asks to join network `router` (`networks`), which yadockeri does not allow: "
                "only web processes are on the router network",
            )
        if network not in ctx.networks:
            raise ctx.refuse_service(name, f"joins network `{_short(network)}`, which the top-level `networks` "
                                           "does not declare")
        out[network] = _network_options(name, options, ctx)
    out.setdefault("default", {})
    return out


def _network_options(name: str, options: Any, ctx: _Context) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ctx.refuse_service(name, "has `networks` options that are not a mapping")
    spec = _nested_keys(name, "networks", options, ("aliases",), {}, ctx)
    if "aliases" not in spec:
        return {}
    aliases = _string_list(name, "networks.aliases", spec["aliases"], ctx)
    for alias in aliases:
        if alias in ctx.process_names:
            # It would capture that process's traffic on the stack network.
            raise ctx.refuse_service(name, f"has network alias `{_short(alias)}`, the name of the app's process; "
                                           "rename it")
        if not _ALIAS.fullmatch(alias):
            raise ctx.refuse_service(name, f"has network alias `{_short(alias)}`, which is not a host name")
    return {"aliases": aliases}


# ---------------------------------------------------------------------------------------
# Deploy


def _deploy(name: str, value: Any, endpoint_mode: str, labels: dict[str, str], ctx: _Context) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ctx.refuse_service(name, "has `deploy` that is not a mapping")
    spec = _nested_keys(name, "deploy", value, DEPLOY_KEYS, REFUSED_DEPLOY_KEYS, ctx)
    mode = spec.get("mode", "replicated")
    if mode == "global":
        raise ctx.refuse_service(name, "sets `deploy.mode: global`, which yadockeri does not allow: it runs a task on "
                                       "every node of the swarm; use `replicas`")
    if mode != "replicated":
        raise ctx.refuse_service(name, f"sets `deploy.mode` `{_short(str(mode))}`; only `replicated` is allowed")
    limits = ctx.policy.limits
    out: dict[str, Any] = {
        "mode": "replicated",
        "replicas": limits.replicas(spec.get("replicas"), ctx.where(name, "deploy.replicas")),
        "resources": _resources(name, spec.get("resources"), ctx),
        "endpoint_mode": _endpoint_mode(name, spec.get("endpoint_mode"), endpoint_mode, ctx),
        "labels": _merged_labels(spec.get("labels"), labels, f"service `{name}` has `deploy.labels` that",
                                 f"service {name}: deploy label", ctx),
    }
    if "restart_policy" in spec:
        out["restart_policy"] = _restart_policy(name, spec["restart_policy"], ctx)
    return out


def _endpoint_mode(name: str, previous: Any, endpoint_mode: str, ctx: _Context) -> str:
    if previous is not None and previous != endpoint_mode:
        ctx.note(f"service {name}: deploy.endpoint_mode {_short(str(previous))} replaced by {endpoint_mode}")
    return endpoint_mode


def _resources(name: str, value: Any, ctx: _Context) -> dict[str, Any]:
    """Every service gets all three limits; reservations, if any, within them."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ctx.refuse_service(name, "has `deploy.resources` that is not a mapping")
    spec = _nested_keys(name, "deploy.resources", value, RESOURCE_KEYS, {}, ctx)
    given = {key: _resource_keys(name, key, spec.get(key), ctx) for key in RESOURCE_KEYS}
    limits = ctx.policy.limits
    where = "deploy.resources.limits"
    cpus = limits.cpus(_cpus_number(name, f"{where}.cpus", given["limits"].get("cpus"), ctx),
                       ctx.where(name, f"{where}.cpus"))
    memory = limits.memory(_memory_bytes(name, f"{where}.memory", given["limits"].get("memory"), ctx),
                           ctx.where(name, f"{where}.memory"))
    pids = limits.pids(given["limits"].get("pids"), ctx.where(name, f"{where}.pids"))
    out: dict[str, Any] = {"limits": {"cpus": cpus_text(cpus), "memory": memory, "pids": pids}}
    reservations = _reservations(name, given["reservations"], cpus, memory, ctx)
    if reservations:
        out["reservations"] = reservations
    return out


def _resource_keys(name: str, key: str, value: Any, ctx: _Context) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.refuse_service(name, f"has `deploy.resources.{key}` that is not a mapping")
    reasons = {"generic_resources": f"sets `deploy.resources.{key}.generic_resources`, which yadockeri does not allow",
               "devices": f"sets `deploy.resources.{key}.devices`, which yadockeri does not allow: no host devices"}
    return _nested_keys(name, f"deploy.resources.{key}", value, RESOURCE_KEYS[key], reasons, ctx)


def _reservations(name: str, given: dict[str, Any], cpus: float, memory: int, ctx: _Context) -> dict[str, Any]:
    where = "deploy.resources.reservations"
    out: dict[str, Any] = {}
    if given.get("cpus") is not None:
        reserved = _cpus_number(name, f"{where}.cpus", given["cpus"], ctx) or 0.0  # not None: given
        if not MIN_CPUS <= reserved <= cpus:
            raise ctx.refuse_service(name, f"has `{where}.cpus` {reserved:g}: it must be between {MIN_CPUS:g} and "
                                           f"the limit, {cpus:g}")
        out["cpus"] = cpus_text(reserved)
    if given.get("memory") is not None:
        reserved_bytes = _memory_bytes(name, f"{where}.memory", given["memory"], ctx)
        if reserved_bytes is not None and reserved_bytes > memory:
            raise ctx.refuse_service(name, f"has `{where}.memory` {format_size(reserved_bytes)}: it must be at most "
                                           f"the limit, {format_size(memory)}")
        out["memory"] = reserved_bytes
    return out


_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,12})?|\.[0-9]{1,12}")


def _cpus_number(name: str, key: str, value: Any, ctx: _Context) -> float | None:
    """A number, or a string like "0.5" (what compose files usually write)."""
    if value is None:
        return None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e6:
        return float(value)
    raise ctx.refuse_service(name, f"has `{key}` that is not a number of CPUs, like 0.5 or 2")


def _memory_bytes(name: str, key: str, value: Any, ctx: _Context) -> int | None:
    if value is None:
        return None
    return _size(value, ctx.where(name, key), ctx)


def cpus_text(cpus: float) -> str:
    """0.5 -> "0.5": the CLI reads CPUs as a decimal with at most 9 places (nano-CPUs)."""
    text = format(Decimal(repr(cpus)).quantize(Decimal("0.000000001")).normalize(), "f")
    return text


def _restart_policy(name: str, value: Any, ctx: _Context) -> dict[str, Any]:
    key = "deploy.restart_policy"
    if not isinstance(value, dict):
        raise ctx.refuse_service(name, f"has `{key}` that is not a mapping")
    spec = _nested_keys(name, key, value, ("condition", "delay", "max_attempts", "window"), {}, ctx)
    out: dict[str, Any] = {}
    if "condition" in spec:
        if spec["condition"] not in RESTART_CONDITIONS:
            raise ctx.refuse_service(name, f"has `{key}.condition` that is not one of {', '.join(RESTART_CONDITIONS)}")
        out["condition"] = spec["condition"]
    if "delay" in spec:
        out["delay"] = _duration(name, f"{key}.delay", spec["delay"], 0, MAX_RESTART_DELAY, "at most 60s", ctx)
    if "max_attempts" in spec:
        out["max_attempts"] = _whole_number(name, f"{key}.max_attempts", spec["max_attempts"], 0,
                                            MAX_RESTART_ATTEMPTS, ctx)
    if "window" in spec:
        out["window"] = _duration(name, f"{key}.window", spec["window"], 0, MAX_RESTART_WINDOW, "at most 10m", ctx)
    return out


# ---------------------------------------------------------------------------------------
# Labels


def _merged_labels(existing: Any, labels: dict[str, str], what: str, note: str, ctx: _Context) -> dict[str, str]:
    """The file's labels as a mapping of strings, minus reserved ones, plus ours (ours win).
    `what` starts the refusal of a malformed value (`service `db` has `labels` that`), `note`
    the warning of a removed label (`service db: label`)."""
    merged = _labels_mapping(existing, what, ctx)
    for key in list(merged):
        if key.startswith(RESERVED_LABEL_PREFIXES):
            del merged[key]
            if key not in labels:
                ctx.note(f"{note} {_short(key)} removed (reserved for yadockeri)")
    merged.update(labels)
    return merged


def _labels_mapping(labels: Any, what: str, ctx: _Context) -> dict[str, str]:
    """`["a=b", "c"]` -> `{"a": "b", "c": ""}`, as the docker CLI reads list-form labels."""
    shape = f"{what} is neither a mapping nor a list of `key=value` strings"
    if labels is None:
        return {}
    if isinstance(labels, dict):
        pairs = list(labels.items())
    elif isinstance(labels, list) and all(isinstance(item, str) for item in labels):
        pairs = [(key, value) for key, _, value in (item.partition("=") for item in labels)]
    else:
        raise ctx.refuse(shape)
    mapping: dict[str, str] = {}
    for key, value in pairs:
        if not key or key in mapping:
            raise ctx.refuse(f"{what} has an empty or repeated label key `{_short(key)}`")
        mapping[key] = _label_value(value, shape, ctx)
    return mapping


def _label_value(value: Any, shape: str, ctx: _Context) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as YAML wrote it, not Python's `True`
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ctx.refuse(shape)


# ---------------------------------------------------------------------------------------
# Output


def _has_volume_mount(service: dict[str, Any]) -> bool:
    return any(mount.get("type") == "volume" for mount in service.get("volumes") or [])


def pin_volumes_to_node(prepared: PreparedCompose, node_id: str) -> PreparedCompose:
    """Services that mount volumes run on node `node_id` only (`deploy.placement.constraints`
    is `node.id == <id>`, the only placement a middleware service has): a volume lives on the
    node that made it, so a stack's data stays where its first deploy put it."""
    if not re.fullmatch(r"[a-z0-9]{1,64}", node_id):
        raise ValueError(f"not a swarm node ID: {node_id!r}")
    services = {}
    for name, service in prepared.data["services"].items():
        if _has_volume_mount(service):
            deploy = {**service["deploy"], "placement": {"constraints": [f"node.id == {node_id}"]}}
            service = {**service, "deploy": deploy}
        services[name] = service
    return _prepared({**prepared.data, "services": services}, prepared.services, prepared.warnings)


def render(data: dict[str, Any]) -> str:
    """The text for `docker stack deploy -c -`: JSON (valid YAML, which cannot carry tags),
    every `$` in a value escaped, memory sizes as the strings of bytes the CLI reads."""
    return json_text(_for_docker(data, ()))


def _for_docker(node: Any, path: tuple[str, ...]) -> Any:
    """Every `$` in a value becomes `$$`: the docker CLI interpolates `$VAR` from its own
    environment (yadockeri's secrets); escaped, the container gets the text as written.
    Keys are not interpolated by the CLI, so they stay as they are."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {key: _for_docker(value, (*path, key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_for_docker(value, path) for value in node]
    if path[-3:-1] in (("resources", "limits"), ("resources", "reservations")) and path[-1] == "memory":
        return str(node)  # the 20.10 CLI refuses an integer here ("must be a string")
    return node


def _short(text: str, limit: int = 60) -> str:
    """User text in a message: bounded, one line, no backticks, invisible characters escaped."""
    return echo(text, limit)
