"""The middleware compose file: checked and rewritten before `docker stack deploy -c -`.

The file comes from a branch anyone can push, and the docker CLI that reads it runs on
yadockeri's own machine, a swarm manager with the Docker socket. So this module refuses
everything that reaches outside the stack (privileged mode, host namespaces, host bind
mounts, devices, capabilities, external networks and volumes, files read by the CLI) and
rewrites the rest so it stays inside: no published ports, every service on the stack's
`default` network, yadockeri's labels everywhere, and every `$` escaped so the CLI's
variable interpolation cannot read yadockeri's environment.

Refusals raise `SpecError` with one sentence naming the file, the service and the key.
The text handed to the CLI is `PreparedCompose.yaml`, never the original.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import yaml

from .appspec import load_yaml
from .errors import SpecError

DEFAULT_SOURCE = "docker-compose-yadockeri.yml"
COMPOSE_VERSION = "3.8"  # the Docker 20.10 CLI refuses a file without a version
MAX_NODES = 50_000  # after YAML aliases are expanded: stops "billion laughs" files
MAX_DEPTH = 40  # also stops self-referencing aliases (`&a [*a]`)
SERVICE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
DOCKER_NAME_MAX = 63
ENDPOINT_MODES = ("dnsrr", "vip")
ROUTER_NETWORK = "router"
# Labels that name yadockeri's or the stack's own objects; a file may not set them.
RESERVED_LABEL_PREFIXES = ("yadockeri.", "com.docker.stack.")

TOP_LEVEL_KEYS = frozenset({"version", "services", "networks", "volumes"})

# Service keys that reach outside the container, with the reason said to the user.
REFUSED_SERVICE_KEYS: dict[str, str] = {
    "privileged": "asks for privileged mode (`privileged`), which yadockeri does not allow: "
    "a privileged container controls the host",
    "network_mode": "sets `network_mode`, which yadockeri does not allow: services must stay on "
    "the stack's own network (`host` would share the machine's)",
    "pid": "sets `pid`, which yadockeri does not allow: it shares a host namespace",
    "ipc": "sets `ipc`, which yadockeri does not allow: it shares a host namespace",
    "uts": "sets `uts`, which yadockeri does not allow: it shares a host namespace",
    "userns_mode": "sets `userns_mode`, which yadockeri does not allow: it changes the host's user namespace mapping",
    "cgroup_parent": "sets `cgroup_parent`, which yadockeri does not allow: it escapes the container's cgroup",
    "cgroupns_mode": "sets `cgroupns_mode`, which yadockeri does not allow: it shares a host namespace",
    "devices": "asks for host devices (`devices`), which yadockeri does not allow",
    "device_cgroup_rules": "sets `device_cgroup_rules`, which yadockeri does not allow: it opens host devices",
    "cap_add": "adds capabilities (`cap_add`), which yadockeri does not allow",
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
}

# Everything else the compose 3.8 schema knows for a service (plus `x-*` keys). Unknown keys
# are refused here so a typo gets a clear answer before anything is deployed.
ALLOWED_SERVICE_KEYS = frozenset(
    {
        "cap_drop", "command", "container_name", "depends_on", "deploy", "dns", "dns_search",
        "domainname", "entrypoint", "environment", "expose", "external_links", "extra_hosts",
        "healthcheck", "hostname", "image", "init", "isolation", "labels", "links", "logging",
        "mac_address", "networks", "ports", "profiles", "read_only", "restart", "shm_size",
        "stdin_open", "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "ulimits",
        "user", "volumes", "working_dir",
    }
)
NETWORK_KEYS = frozenset({"name", "driver", "driver_opts", "ipam", "external", "internal", "attachable", "labels"})
VOLUME_KEYS = frozenset({"name", "driver", "driver_opts", "external", "labels"})
ALLOWED_MOUNT_TYPES = ("volume", "tmpfs")


@dataclass(frozen=True)
class PreparedCompose:
    """The rewritten compose file: `.yaml` is what goes to `docker stack deploy -c -`."""

    data: dict[str, Any]
    yaml: str
    digest: str  # sha256 hex of .yaml: unchanged middleware need not be redeployed
    services: list[str] = field(default_factory=list)  # sorted
    has_volumes: bool = False  # named or anonymous volumes that outlive the containers
    warnings: list[str] = field(default_factory=list)  # what was silently rewritten


@dataclass(frozen=True)
class _Context:
    source: str
    stack: str
    process_names: frozenset[str]

    def refuse(self, message: str) -> SpecError:
        return SpecError(f"{self.source}: {message}")

    def refuse_service(self, service: str, message: str) -> SpecError:
        return SpecError(f"{self.source}: service `{_short(service)}` {message}")


def prepare_compose(
    text: str,
    *,
    stack: str,
    process_names: Iterable[str],
    endpoint_mode: str,
    labels: dict[str, str],
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
    ctx = _Context(source=source, stack=stack, process_names=frozenset(process_names))
    data = _load(text, ctx)
    _check_top_level(data, ctx)
    services = _mapping_section(data, "services", ctx)
    networks = _mapping_section(data, "networks", ctx)
    volumes = _mapping_section(data, "volumes", ctx)
    for name, network in networks.items():
        _check_network(name, network, ctx)
    for name, volume in volumes.items():
        _check_volume(name, volume, ctx)
    for name, service in services.items():
        _check_service(name, service, ctx)

    warnings: list[str] = []
    rewritten = _rewrite(data, services, networks, volumes, endpoint_mode, labels, warnings)
    escaped = _escape_dollars(rewritten)
    text_out = dump_yaml(escaped)
    return PreparedCompose(
        data=escaped,
        yaml=text_out,
        digest=hashlib.sha256(text_out.encode("utf-8")).hexdigest(),
        services=sorted(services),
        has_volumes=bool(volumes) or any(_has_volume_mount(s) for s in services.values()),
        warnings=warnings,
    )


# ---------------------------------------------------------------------------------------
# Loading


def _load(text: str, ctx: _Context) -> dict[str, Any]:
    try:
        raw = load_yaml(text, ctx.source)
    except RecursionError:
        raise ctx.refuse("the file is nested too deeply") from None
    data = _copy_tree(raw, ctx, [0], 0)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ctx.refuse("the top level must be a mapping (version, services, networks, volumes)")
    return data


def _copy_tree(node: Any, ctx: _Context, count: list[int], depth: int) -> Any:
    """A fresh copy with no shared parts: YAML aliases share objects, and a rewrite of one
    service must not leak into another. Bounded, so alias bombs and cycles are refused."""
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ctx.refuse(f"the file is too large (more than {MAX_NODES} values once YAML aliases are expanded)")
    if depth > MAX_DEPTH:
        raise ctx.refuse("the file is nested too deeply (or an alias refers to itself)")
    if isinstance(node, dict):
        return {key: _copy_tree(value, ctx, count, depth + 1) for key, value in node.items()}
    if isinstance(node, (list, tuple, set)):
        return [_copy_tree(value, ctx, count, depth + 1) for value in node]
    return node


def _mapping_section(data: dict[str, Any], key: str, ctx: _Context) -> dict[Any, Any]:
    """services/networks/volumes: absent or empty means none; anything but a mapping is wrong."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.refuse(f"`{key}` must be a mapping of names")
    return value


# ---------------------------------------------------------------------------------------
# Top-level checks


def _check_top_level(data: dict[str, Any], ctx: _Context) -> None:
    for key in data:
        if not isinstance(key, str):
            raise ctx.refuse(f"top-level key `{_short(str(key))}` is not understood")
        if key in ("secrets", "configs"):
            raise ctx.refuse(
                f"top-level `{key}` is not allowed: their `file:` would make the docker CLI read "
                "files of the machine yadockeri runs on; use `environment`"
            )
        if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            raise ctx.refuse(
                f"top-level key `{_short(key)}` is not allowed (allowed: version, services, networks, volumes, x-*)"
            )


def _check_network(name: Any, network: Any, ctx: _Context) -> None:
    what = f"network `{_short(str(name))}`"
    if not isinstance(name, str):
        raise ctx.refuse(f"{what}: network names must be strings")
    if name == ROUTER_NETWORK:
        raise ctx.refuse(f"{what} is not allowed: the router network is yadockeri's own, middleware never joins it")
    if network is None:
        return
    if not isinstance(network, dict):
        raise ctx.refuse(f"{what} must be a mapping")
    _check_not_external(what, name, network, ctx)
    _check_known_keys(what, network, NETWORK_KEYS, ctx)
    _check_labels_shape(what, "labels", network.get("labels"), ctx)
    _check_network_driver(what, network, ctx)
    if "ipam" in network:
        raise ctx.refuse(
            f"{what} sets `ipam`, which yadockeri does not allow: custom subnets can collide with other networks"
        )


def _check_network_driver(what: str, network: dict[str, Any], ctx: _Context) -> None:
    # Only the swarm's own overlay driver keeps the network inside the stack.
    if network.get("driver", "overlay") != "overlay":
        raise ctx.refuse(f"{what} asks for driver `{_short(str(network['driver']))}`; only `overlay` is allowed")
    options = network.get("driver_opts") or {}
    if not isinstance(options, dict) or any(key != "encrypted" for key in options):
        raise ctx.refuse(f"{what} sets `driver_opts`, which yadockeri does not allow (except `encrypted`)")


def _check_volume(name: Any, volume: Any, ctx: _Context) -> None:
    what = f"volume `{_short(str(name))}`"
    if not isinstance(name, str):
        raise ctx.refuse(f"{what}: volume names must be strings")
    if volume is None:
        return
    if not isinstance(volume, dict):
        raise ctx.refuse(f"{what} must be a mapping")
    _check_not_external(what, name, volume, ctx)
    _check_known_keys(what, volume, VOLUME_KEYS, ctx)
    _check_labels_shape(what, "labels", volume.get("labels"), ctx)
    if volume.get("driver", "local") != "local":
        raise ctx.refuse(
            f"{what} asks for driver `{_short(str(volume['driver']))}`, which yadockeri does not allow: only `local`"
        )
    if "driver_opts" in volume:
        # local with `o: bind, device: /path` is a host bind mount under another name.
        raise ctx.refuse(f"{what} sets `driver_opts`, which yadockeri does not allow: they can bind-mount host paths")


def _check_not_external(what: str, key: str, spec: dict[str, Any], ctx: _Context) -> None:
    # external / name would reach an object outside the stack (another stack's data, the router).
    if spec.get("external") not in (None, False):
        raise ctx.refuse(f"{what} is `external`, which yadockeri does not allow: a stack uses only its own objects")
    if "name" in spec and spec["name"] != f"{ctx.stack}_{key}":
        raise ctx.refuse(
            f"{what} sets `name`, which yadockeri does not allow: it would point outside the stack "
            f"(its name is `{ctx.stack}_{key}` anyway)"
        )


def _check_known_keys(what: str, spec: dict[str, Any], allowed: frozenset[str], ctx: _Context) -> None:
    for key in spec:
        if not (isinstance(key, str) and (key in allowed or key.startswith("x-"))):
            raise ctx.refuse(f"{what} has unknown key `{_short(str(key))}`")


# ---------------------------------------------------------------------------------------
# Service checks


def _check_service(name: Any, service: Any, ctx: _Context) -> None:
    _check_service_name(name, ctx)
    if not isinstance(service, dict):
        raise ctx.refuse_service(name, "must be a mapping (with at least an `image`)")
    _check_refused_keys(name, service, ctx)
    _check_known_service_keys(name, service, ctx)
    _check_image(name, service, ctx)
    _check_mounts(name, service, ctx)
    _check_service_networks(name, service, ctx)
    _check_labels_shape(f"service `{name}`", "labels", service.get("labels"), ctx)
    _check_deploy(name, service, ctx)


def _check_service_name(name: Any, ctx: _Context) -> None:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise ctx.refuse_service(
            str(name),
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


def _check_refused_keys(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    for key, reason in REFUSED_SERVICE_KEYS.items():
        if key in service:
            raise ctx.refuse_service(name, reason)


def _check_known_service_keys(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    for key in service:
        if not (isinstance(key, str) and (key in ALLOWED_SERVICE_KEYS or key.startswith("x-"))):
            raise ctx.refuse_service(name, f"has unknown key `{_short(str(key))}`")


def _check_image(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    image = service.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ctx.refuse_service(name, "needs an `image` (a string, like `postgres:15`)")


def _check_mounts(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    mounts = service.get("volumes")
    if mounts is None:
        return
    if not isinstance(mounts, list):
        raise ctx.refuse_service(name, "has `volumes` that is not a list")
    for mount in mounts:
        if isinstance(mount, str):
            _check_short_mount(name, mount, ctx)
        elif isinstance(mount, dict):
            _check_long_mount(name, mount, ctx)
        else:
            raise ctx.refuse_service(name, "has a `volumes` entry that is neither a string nor a mapping")


def _check_short_mount(name: str, spec: str, ctx: _Context) -> None:
    if "\0" in spec:  # the docker CLI reads NUL as the end of the spec
        raise ctx.refuse_service(name, "has a `volumes` entry with a NUL character")
    source = short_mount_source(spec)
    if source and _is_host_path(source):
        raise ctx.refuse_service(
            name,
            f"bind-mounts the host path `{_short(source)}` (`volumes`), which yadockeri does not allow: "
            "use a named volume",
        )


def _check_long_mount(name: str, mount: dict[Any, Any], ctx: _Context) -> None:
    kind = mount.get("type")
    if kind not in ALLOWED_MOUNT_TYPES:
        raise ctx.refuse_service(
            name,
            f"has a `volumes` entry of type `{_short(str(kind))}`, which yadockeri does not allow: "
            "only `volume` and `tmpfs` (no host bind mounts)",
        )
    source = mount.get("source")
    if isinstance(source, str) and source and _is_host_path(source):
        raise ctx.refuse_service(
            name, f"mounts the host path `{_short(source)}` (`volumes`), which yadockeri does not allow"
        )


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
    if source[0] in "./~" or any(char in source for char in "/\\$"):
        return True
    return len(source) >= 2 and source[0].isalpha() and source[1] == ":"


def _check_service_networks(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    networks = service.get("networks")
    if networks is None:
        return
    if isinstance(networks, list):
        if not all(isinstance(network, str) for network in networks):
            raise ctx.refuse_service(name, "has `networks` entries that are not names")
        entries: dict[Any, Any] = dict.fromkeys(networks)
    elif isinstance(networks, dict):
        entries = networks
    else:
        raise ctx.refuse_service(name, "has `networks` that is neither a list nor a mapping")
    for network, options in entries.items():
        if network == ROUTER_NETWORK:
            raise ctx.refuse_service(
                name, "asks to join network `router` (`networks`), which yadockeri does not allow: "
                "only web processes are on the router network",
            )
        _check_aliases(name, options, ctx)


def _check_aliases(name: str, options: Any, ctx: _Context) -> None:
    # An alias equal to a process name would capture that process's traffic on the stack network.
    aliases = options.get("aliases") if isinstance(options, dict) else None
    for alias in aliases if isinstance(aliases, list) else []:
        if alias in ctx.process_names:
            raise ctx.refuse_service(name, f"has network alias `{alias}`, the name of the app's process; rename it")


def _check_labels_shape(what: str, key: str, labels: Any, ctx: _Context) -> None:
    if labels is None or isinstance(labels, dict):
        return
    if isinstance(labels, list) and all(isinstance(item, str) for item in labels):
        return
    raise ctx.refuse(f"{what} has `{key}` that is neither a mapping nor a list of `key=value` strings")


def _check_deploy(name: str, service: dict[Any, Any], ctx: _Context) -> None:
    deploy = service.get("deploy")
    if deploy is None:
        return
    if not isinstance(deploy, dict):
        raise ctx.refuse_service(name, "has `deploy` that is not a mapping")
    _check_labels_shape(f"service `{name}`", "deploy.labels", deploy.get("labels"), ctx)


# ---------------------------------------------------------------------------------------
# Rewrites (on the fresh copy; the checks above have passed)


def _rewrite(
    data: dict[str, Any],
    services: dict[str, Any],
    networks: dict[str, Any],
    volumes: dict[str, Any],
    endpoint_mode: str,
    labels: dict[str, str],
    warnings: list[str],
) -> dict[str, Any]:
    out = dict(data)
    out["version"] = COMPOSE_VERSION
    for name, service in services.items():
        _rewrite_service(name, service, endpoint_mode, labels, warnings)
    out["services"] = services
    out["networks"] = _rewrite_networks(networks, labels, warnings)
    out.pop("volumes", None)  # `volumes: null` is not valid for the CLI; empty means none
    if volumes:
        out["volumes"] = {
            name: _with_labels(spec, labels, f"volume {name}", warnings) for name, spec in volumes.items()
        }
    return out


def _rewrite_service(
    name: str, service: dict[str, Any], endpoint_mode: str, labels: dict[str, str], warnings: list[str]
) -> None:
    _drop_ports(name, service, warnings)
    _drop_container_name(name, service, warnings)
    _join_default_network(service)
    # An init as PID 1 forwards SIGTERM, so a destroy does not wait out every grace period.
    service.setdefault("init", True)
    deploy = dict(service.get("deploy") or {})
    _set_endpoint_mode(name, deploy, endpoint_mode, warnings)
    deploy["labels"] = _merged_labels(deploy.get("labels"), labels, f"service {name}: deploy label", warnings)
    service["deploy"] = deploy
    service["labels"] = _merged_labels(service.get("labels"), labels, f"service {name}: label", warnings)


def _drop_ports(name: str, service: dict[str, Any], warnings: list[str]) -> None:
    # Only the router is reachable from outside; a published port would bypass it.
    if service.pop("ports", None):
        warnings.append(f"service {name}: published ports removed")


def _drop_container_name(name: str, service: dict[str, Any], warnings: list[str]) -> None:
    # Swarm names containers itself; a fixed name would also collide between stacks.
    if "container_name" in service:
        del service["container_name"]
        warnings.append(f"service {name}: container_name removed")


def _join_default_network(service: dict[str, Any]) -> None:
    # Services that list networks leave `default` unless told; the processes are on `default`.
    networks = service.get("networks")
    if isinstance(networks, list) and "default" not in networks:
        service["networks"] = [*networks, "default"]
    elif isinstance(networks, dict) and "default" not in networks:
        service["networks"] = {**networks, "default": None}


def _set_endpoint_mode(name: str, deploy: dict[str, Any], endpoint_mode: str, warnings: list[str]) -> None:
    previous = deploy.get("endpoint_mode")
    if previous is not None and previous != endpoint_mode:
        warnings.append(f"service {name}: deploy.endpoint_mode {previous} replaced by {endpoint_mode}")
    deploy["endpoint_mode"] = endpoint_mode


def _rewrite_networks(networks: dict[str, Any], labels: dict[str, str], warnings: list[str]) -> dict[str, Any]:
    out = dict(networks)
    out.setdefault("default", {})
    return {name: _with_labels(network, labels, f"network {name}", warnings) for name, network in out.items()}


def _with_labels(spec: dict[str, Any] | None, labels: dict[str, str], what: str, warnings: list[str]) -> dict[str, Any]:
    spec = dict(spec or {})
    spec["labels"] = _merged_labels(spec.get("labels"), labels, f"{what}: label", warnings)
    return spec


def _merged_labels(existing: Any, labels: dict[str, str], what: str, warnings: list[str]) -> dict[str, Any]:
    """The file's labels as a mapping, minus reserved ones, plus ours (ours win)."""
    merged = _labels_mapping(existing)
    for key in list(merged):
        if isinstance(key, str) and key.startswith(RESERVED_LABEL_PREFIXES) and key not in labels:
            del merged[key]
            warnings.append(f"{what} {key} removed (reserved for yadockeri)")
    merged.update(labels)
    return merged


def _labels_mapping(labels: Any) -> dict[str, Any]:
    """`["a=b", "c"]` -> `{"a": "b", "c": ""}`, as the docker CLI reads list-form labels."""
    if labels is None:
        return {}
    if isinstance(labels, dict):
        return dict(labels)
    mapping: dict[str, Any] = {}
    for item in labels:
        key, _, value = item.partition("=")
        mapping[key] = value
    return mapping


def _has_volume_mount(service: dict[str, Any]) -> bool:
    for mount in service.get("volumes") or []:
        if isinstance(mount, dict) and mount.get("type") == "tmpfs":
            continue
        return True
    return False


def pin_volumes_to_node(prepared: PreparedCompose, node_id: str) -> PreparedCompose:
    """Services that mount volumes run on node `node_id` only (`deploy.placement.constraints`
    gains `node.id == <id>`): a volume lives on the node that made it, so a stack's data stays
    where its first deploy put it. Other services go wherever swarm puts them."""
    if not re.fullmatch(r"[a-z0-9]{1,64}", node_id):
        raise ValueError(f"not a swarm node ID: {node_id!r}")
    services = {}
    for name, service in (prepared.data.get("services") or {}).items():
        service = dict(service)
        if _has_volume_mount(service):
            deploy = dict(service.get("deploy") or {})
            placement = dict(deploy["placement"]) if isinstance(deploy.get("placement"), dict) else {}
            constraints = [c for c in placement.get("constraints") or [] if isinstance(c, str)]
            wanted = f"node.id == {node_id}"
            placement["constraints"] = constraints if wanted in constraints else [*constraints, wanted]
            deploy["placement"] = placement
            service["deploy"] = deploy
        services[name] = service
    data = {**prepared.data, "services": services}
    text = dump_yaml(data)
    return replace(prepared, data=data, yaml=text, digest=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _escape_dollars(node: Any) -> Any:
    """Every `$` in a value becomes `$$`: the docker CLI interpolates `$VAR` from its own
    environment (yadockeri's secrets); escaped, the container gets the text as written.
    Keys are not interpolated by the CLI, so they stay as they are."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {key: _escape_dollars(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_escape_dollars(value) for value in node]
    return node


# ---------------------------------------------------------------------------------------
# Dumping


class _Dumper(yaml.SafeDumper):
    """safe_dump without anchors, and with strings quoted whenever the Go YAML parser of the
    docker CLI (YAML 1.1: `y`, `n`, `1e3`...) could read them as something else."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_./-]*$")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    plain = bool(_PLAIN.match(value)) and value.lower() not in _YAML_WORDS
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain else '"')


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """Deterministic YAML text (sorted keys, ASCII, no line folding)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1 << 20)


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("`", "'").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
