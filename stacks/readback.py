"""The second, independent reading: what Docker runs, compared with what yadockeri checked.

After a deploy, `docker service inspect` of every service yadockeri created (middleware through
`docker stack deploy`, processes through the SDK) is compared with the expectation built from
the checked data. Any difference stops the deploy (pipeline.py removes what it started): a
parser confusion between yadockeri and the docker CLI, or a CLI that reads a key differently,
must never run. Pure: inspected dicts in, sentences out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .docker_adapter.labels import NAMESPACE_LABEL
from .limits import NANO, parse_size

# ContainerSpec keys that may carry a value at all; anything else set (Hosts, Sysctls, Ulimits,
# Groups, Secrets, Configs, DNS servers, Privileges beyond no-new-privileges...) is a difference.
_CONTAINER_KEYS = frozenset({
    "Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "Init", "StopGracePeriod",
    "StopSignal", "ReadOnly", "Mounts", "Healthcheck", "CapabilityAdd", "CapabilityDrop", "Privileges",
    "DNSConfig", "Isolation", "TTY", "OpenStdin",
})
_TEMPLATE_KEYS = frozenset({
    "ContainerSpec", "Resources", "RestartPolicy", "Placement", "Networks", "LogDriver", "ForceUpdate", "Runtime",
})


@dataclass(frozen=True)
class Expected:
    """What a service must look like, from the checked data."""

    name: str
    image: str
    env_names: frozenset[str]
    mounts: tuple[tuple[str, str, str, bool], ...]  # (type, source, target, read_only); source "" for tmpfs
    tmpfs_max: int
    log_driver: dict[str, Any]
    cap_add: tuple[str, ...]
    nano_cpus: int
    memory_bytes: int
    pids: int
    replicas: int
    labels: dict[str, str]  # these keys with exactly these values (yadockeri's own)
    networks: frozenset[str]  # the network names it may join
    constraints: tuple[str, ...] = ()
    published_ports: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def network_ids(services: list[dict[str, Any] | None]) -> set[str]:
    """The networks inspected services are on (by ID): only those are looked up, not every
    stack's network (a read back must not cost more with a thousand stacks)."""
    return {network.get("Target", "") for service in services if service
            for network in service["Spec"].get("TaskTemplate", {}).get("Networks") or []} - {""}


def differences(inspected: dict[str, Any], expected: Expected, network_names: dict[str, str]) -> list[str]:
    """Every way the inspected service differs from the expectation, one sentence each.
    network_names maps network IDs to names (Docker's spec names networks by ID)."""
    spec = inspected.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    found: list[str] = []
    found += _unexpected_keys(template, _TEMPLATE_KEYS, "task template")
    found += _unexpected_keys(container, _CONTAINER_KEYS, "container")
    found += _image(container, expected)
    found += _env(container, expected)
    found += _mounts(container, expected)
    found += _privileges(container, expected)
    found += _resources(template, expected)
    found += _log_driver(template, expected)
    found += _placement_and_mode(spec, template, expected)
    found += _labels(spec, container, expected)
    found += _networks(template, expected, network_names)
    return [f"{expected.name}: {line}" for line in found]


def _unexpected_keys(part: dict[str, Any], allowed: frozenset[str], what: str) -> list[str]:
    return [f"{what} sets {key}, which yadockeri never sets" for key, value in sorted(part.items())
            if key not in allowed and value not in (None, {}, [], "", 0, False)]


def _image(container: dict[str, Any], expected: Expected) -> list[str]:
    image = str(container.get("Image") or "")
    # Docker may pin the image to a digest (`name:tag@sha256:...`); the name must stay ours.
    if image != expected.image and image.split("@", 1)[0] != expected.image:
        return [f"runs image {image!r}, not {expected.image!r}"]
    return []


def _env(container: dict[str, Any], expected: Expected) -> list[str]:
    names = {entry.split("=", 1)[0] for entry in container.get("Env") or []}
    if names != expected.env_names:
        extra, missing = sorted(names - expected.env_names), sorted(expected.env_names - names)
        return [f"has env {extra or ''} {'without ' + str(missing) if missing else ''}".strip()]
    return []


def _mounts(container: dict[str, Any], expected: Expected) -> list[str]:
    found = []
    seen = []
    for mount in container.get("Mounts") or []:
        kind = mount.get("Type")
        if kind not in ("volume", "tmpfs"):
            found.append(f"mounts a {kind} ({mount.get('Source')!r} at {mount.get('Target')!r})")
            continue
        options = mount.get("VolumeOptions") or {}
        driver = options.get("DriverConfig") or {}
        if driver.get("Name") not in (None, "", "local") or driver.get("Options"):
            found.append(f"mounts volume {mount.get('Source')!r} with driver options {driver}")
        if kind == "tmpfs":
            size = (mount.get("TmpfsOptions") or {}).get("SizeBytes") or 0
            if not 0 < size <= expected.tmpfs_max:
                found.append(f"mounts a tmpfs at {mount.get('Target')!r} of size {size or 'unbounded'}")
        seen.append((kind, mount.get("Source") or "", mount.get("Target") or "", bool(mount.get("ReadOnly"))))
    if sorted(seen) != sorted(expected.mounts):
        found.append(f"mounts {sorted(seen)}, not {sorted(expected.mounts)}")
    return found


def _privileges(container: dict[str, Any], expected: Expected) -> list[str]:
    found = []
    if list(container.get("CapabilityDrop") or []) != ["ALL"]:
        found.append(f"drops capabilities {container.get('CapabilityDrop')}, not ALL")
    if sorted(container.get("CapabilityAdd") or []) != sorted(expected.cap_add):
        found.append(f"keeps capabilities {container.get('CapabilityAdd')}, not {list(expected.cap_add)}")
    privileges = container.get("Privileges") or {}
    for key, value in privileges.items():
        if key != "NoNewPrivileges" and value not in (None, {}, ""):
            found.append(f"sets privileges {key}={value}")
    return found


def _resources(template: dict[str, Any], expected: Expected) -> list[str]:
    limits = (template.get("Resources") or {}).get("Limits") or {}
    want = {"NanoCPUs": expected.nano_cpus, "MemoryBytes": expected.memory_bytes, "Pids": expected.pids}
    return [f"has {key} {limits.get(key)}, not {value}" for key, value in want.items() if limits.get(key) != value]


def _log_driver(template: dict[str, Any], expected: Expected) -> list[str]:
    driver = template.get("LogDriver") or {}
    have = {"Name": driver.get("Name"), "Options": driver.get("Options") or {}}
    want = {"Name": expected.log_driver.get("Name"), "Options": expected.log_driver.get("Options") or {}}
    return [] if have == want else [f"logs with {have}, not {want}"]


def _placement_and_mode(spec: dict[str, Any], template: dict[str, Any], expected: Expected) -> list[str]:
    found = []
    placement = template.get("Placement") or {}
    if sorted(placement.get("Constraints") or []) != sorted(expected.constraints):
        found.append(f"is placed by {placement.get('Constraints')}, not {list(expected.constraints)}")
    for key in ("Preferences", "Platforms", "MaxReplicas"):
        if placement.get(key):
            found.append(f"sets placement {key}")
    mode = spec.get("Mode") or {}
    if set(mode) != {"Replicated"} or (mode["Replicated"] or {}).get("Replicas") != expected.replicas:
        found.append(f"runs in mode {mode}, not {expected.replicas} replicas")
    ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
    if ports and not expected.published_ports:
        found.append(f"publishes ports {[p.get('PublishedPort') for p in ports]}")
    return found


def _labels(spec: dict[str, Any], container: dict[str, Any], expected: Expected) -> list[str]:
    found = []
    for where, labels in (("service", spec.get("Labels") or {}), ("container", container.get("Labels") or {})):
        for key, value in expected.labels.items():
            if labels.get(key) != value:
                found.append(f"{where} label {key} is {labels.get(key)!r}, not {value!r}")
    return found


def _networks(template: dict[str, Any], expected: Expected, network_names: dict[str, str]) -> list[str]:
    found = []
    for attachment in template.get("Networks") or []:
        target = attachment.get("Target", "")
        name = network_names.get(target, target)
        if name not in expected.networks:
            found.append(f"joins network {name!r}")
    return found


# Expectations ---------------------------------------------------------------------------------
def middleware_expected(stack: str, name: str, service: dict[str, Any], *, tmpfs_max: int) -> Expected:
    """The expectation for one middleware service of the checked compose data (compose.py's
    normalised form: mapping environment, long-syntax volumes, deploy.resources.limits)."""
    deploy = service.get("deploy") or {}
    limits = (deploy.get("resources") or {}).get("limits") or {}
    logging = service.get("logging") or {}
    constraints = tuple((deploy.get("placement") or {}).get("constraints") or ())
    networks = service.get("networks") or {}
    names = networks if isinstance(networks, (list, dict)) else []
    return Expected(
        name=f"{stack}_{name}",
        image=str(service.get("image")),
        env_names=frozenset((service.get("environment") or {}).keys()),
        mounts=tuple(_compose_mount(stack, mount) for mount in service.get("volumes") or []),
        tmpfs_max=tmpfs_max,
        log_driver={"Name": logging.get("driver"), "Options": logging.get("options") or {}},
        cap_add=tuple(service.get("cap_add") or ()),
        nano_cpus=round(float(limits["cpus"]) * NANO),
        memory_bytes=parse_size(str(limits["memory"])),
        pids=int(limits["pids"]),
        replicas=int(deploy.get("replicas", 1)),
        labels=_yadockeri_labels(deploy.get("labels") or {}),
        networks=frozenset(f"{stack}_{network}" for network in names),
        constraints=constraints,
    )


def _compose_mount(stack: str, mount: dict[str, Any]) -> tuple[str, str, str, bool]:
    kind = mount.get("type", "volume")
    source = f"{stack}_{mount['source']}" if kind == "volume" else ""  # stack deploy prefixes volume names
    return kind, source, str(mount.get("target")), bool(mount.get("read_only"))


def process_expected(spec: dict[str, Any]) -> Expected:
    """The expectation for a process or job spec that specs.py built (what apply_service sent)."""
    template = spec["task_template"]
    container = template["ContainerSpec"]
    limits = template["Resources"]["Limits"]
    mode = spec.get("mode") or {}
    return Expected(
        name=spec["name"],
        image=container["Image"],
        env_names=frozenset(entry.split("=", 1)[0] for entry in container.get("Env") or []),
        mounts=(),
        tmpfs_max=0,
        log_driver=dict(template["LogDriver"]),
        cap_add=tuple(container["CapabilityAdd"]),
        nano_cpus=limits["NanoCPUs"],
        memory_bytes=limits["MemoryBytes"],
        pids=limits["Pids"],
        replicas=(mode.get("Replicated") or {}).get("Replicas", 1),
        labels=_yadockeri_labels(spec["labels"]),
        networks=frozenset(net["Target"] for net in template.get("Networks") or []),
    )


def _yadockeri_labels(labels: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in labels.items()
            if key.startswith("yadockeri.") or key == NAMESPACE_LABEL}
