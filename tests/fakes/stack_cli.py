"""What `docker stack deploy` makes of a compose file, for FakeSwarm: the service specs Docker
then stores (names prefixed with the stack, networks by ID, durations in nanoseconds, the
stack's namespace label), the named volumes its tasks make. Only what compose.py lets through is
translated; tests/contract/test_docker_contract.py compares the result with the real CLI's."""

from __future__ import annotations

import shlex
from typing import Any

from stacks.compose import parse_duration
from stacks.docker_adapter.labels import NAMESPACE_LABEL as NAMESPACE
from stacks.errors import SpecError
from stacks.limits import NANO


def unescape(node: Any) -> Any:
    """The CLI's interpolation: `$$` is a `$` (compose.render escapes every one)."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, dict):
        return {key: unescape(value) for key, value in node.items()}
    if isinstance(node, list):
        return [unescape(value) for value in node]
    return node


def service_spec(stack: str, name: str, service: dict[str, Any], networks: dict[str, str]) -> dict[str, Any]:
    deploy = service.get("deploy") or {}
    image = str(service["image"])
    container: dict[str, Any] = {"Image": image, "Labels": {**(service.get("labels") or {}), NAMESPACE: stack},
                                 "Isolation": "default"}
    for key, docker_key in (("working_dir", "Dir"), ("user", "User"), ("hostname", "Hostname"),
                            ("stop_signal", "StopSignal"), ("init", "Init"), ("read_only", "ReadOnly")):
        if service.get(key) not in (None, ""):
            container[docker_key] = service[key]
    if "command" in service:
        container["Args"] = _words(service["command"])
    if "entrypoint" in service:
        container["Command"] = _words(service["entrypoint"])
    if service.get("environment"):
        container["Env"] = sorted(f"{key}={value}" for key, value in service["environment"].items())
    if "stop_grace_period" in service:
        container["StopGracePeriod"] = parse_duration(service["stop_grace_period"])
    if service.get("cap_add"):
        container["CapabilityAdd"] = list(service["cap_add"])
    if service.get("cap_drop"):
        container["CapabilityDrop"] = list(service["cap_drop"])
    mounts = [_mount(stack, mount) for mount in service.get("volumes") or []]
    if mounts:
        container["Mounts"] = mounts
    if "healthcheck" in service:
        container["Healthcheck"] = _healthcheck(service["healthcheck"])
    template: dict[str, Any] = {"ContainerSpec": container, "ForceUpdate": 0, "Runtime": "container",
                                "Resources": _resources(deploy.get("resources") or {}),
                                "Placement": {"Constraints": list((deploy.get("placement") or {}).get("constraints") or [])}}
    if not template["Placement"]["Constraints"]:
        template["Placement"] = {}
    template["Networks"] = [{"Target": networks[f"{stack}_{network}"], "Aliases": [name]}
                            for network in sorted(service.get("networks") or {"default": {}})]
    logging = service.get("logging") or {}
    if logging:
        template["LogDriver"] = {"Name": logging.get("driver"), "Options": dict(logging.get("options") or {})}
    policy = deploy.get("restart_policy") or {}
    if policy:
        template["RestartPolicy"] = {"Condition": policy.get("condition", "any"),
                                     "Delay": parse_duration(policy.get("delay", "5s")),
                                     "MaxAttempts": policy.get("max_attempts", 0),
                                     "Window": parse_duration(policy.get("window", "0s"))}
    mode = {"Global": {}} if deploy.get("mode") == "global" else {"Replicated": {"Replicas": deploy.get("replicas", 1)}}
    return {"Name": f"{stack}_{name}", "Labels": {**(deploy.get("labels") or {}), NAMESPACE: stack,
                                                  "com.docker.stack.image": image},
            "TaskTemplate": template, "Mode": mode, "EndpointSpec": {"Mode": deploy.get("endpoint_mode", "vip")}}


def _words(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _mount(stack: str, mount: dict[str, Any]) -> dict[str, Any]:
    kind = mount.get("type", "volume")
    found: dict[str, Any] = {"Type": kind, "Target": mount["target"]}
    if mount.get("read_only"):
        found["ReadOnly"] = True
    if kind == "volume":
        found["Source"] = f"{stack}_{mount['source']}"
        found["VolumeOptions"] = {"Labels": {NAMESPACE: stack}}
        if (mount.get("volume") or {}).get("nocopy"):
            found["VolumeOptions"]["NoCopy"] = True
    elif kind == "tmpfs":
        found["TmpfsOptions"] = {"SizeBytes": int((mount.get("tmpfs") or {}).get("size") or 0)}
    else:
        found["Source"] = mount.get("source")
    return found


def _healthcheck(check: dict[str, Any]) -> dict[str, Any]:
    if check.get("disable"):
        return {"Test": ["NONE"]}
    found: dict[str, Any] = {}
    test = check.get("test")
    if test is not None:
        found["Test"] = ["CMD-SHELL", test] if isinstance(test, str) else list(test)
    for key in ("interval", "timeout", "start_period"):
        if key in check:
            found["StartPeriod" if key == "start_period" else key.capitalize()] = parse_duration(check[key])
    if "retries" in check:
        found["Retries"] = check["retries"]
    return found


def _resources(resources: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, docker_key in (("limits", "Limits"), ("reservations", "Reservations")):
        given = resources.get(key) or {}
        values: dict[str, Any] = {}
        if "cpus" in given:
            values["NanoCPUs"] = round(float(given["cpus"]) * NANO)
        if "memory" in given:
            values["MemoryBytes"] = int(given["memory"])
        if "pids" in given:
            values["Pids"] = int(given["pids"])
        if values:
            found[docker_key] = values
    return found


def named_volumes(stack: str, service: dict[str, Any], data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The named volumes a service mounts -> their labels (the CLI makes them on the task's node)."""
    declared = data.get("volumes") or {}
    found = {}
    for mount in service.get("volumes") or []:
        if mount.get("type", "volume") == "volume":
            source = mount["source"]
            found[f"{stack}_{source}"] = {**((declared.get(source) or {}).get("labels") or {}), NAMESPACE: stack}
    return found


def refuse(stack: str, why: str) -> SpecError:
    """What `docker stack deploy` refusing a file raises (for `fail_next("stack_deploy", ...)`)."""
    return SpecError(f"docker stack deploy refused the middleware: {why}")
