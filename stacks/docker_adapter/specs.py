"""A stack's service specs as pure functions: plain values in, the kwargs of the docker SDK's
low-level `APIClient.create_service` / `update_service` out (Swarm.apply_service sends them).
yadockeri's own services (router, install, jobs on a node) are in system_specs.py.

Tested by equality; docker.types objects are dicts, so a spec compares equal to a plain dict.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from ..limits import NANO, capabilities, log_driver, restrict_privileges
from .labels import (
    DEPLOYMENT_LABEL,
    HASH_LABEL,
    PROCESS_LABEL,
    WEB_PORT,
    network_name,
    release_job_name,
    service_name,
    stack_labels,
    web_alias,
)


def process_env(
    *, spec_env: dict[str, str], stack_env: dict[str, str], stack: str, branch: str, commit: str, url: str
) -> dict[str, str]:
    """PORT, then the app's defaults, then the stack's own values; PORT always wins."""
    env = {"YADOCKERI_STACK": stack, "YADOCKERI_BRANCH": branch, "YADOCKERI_COMMIT": commit, "YADOCKERI_URL": url}
    env.update(spec_env)
    env.update(stack_env)
    env["PORT"] = str(WEB_PORT)
    return env


@dataclass(frozen=True)
class Hardening:
    """What every task of a stack gets, whatever the branch says: limits, the minimal capability
    set (plus what an admin added for the app), no new privileges, a rotating log driver."""

    cpus: float
    memory_bytes: int
    pids: int
    capabilities: tuple[str, ...] = tuple(capabilities())
    log_driver: dict[str, object] = field(default_factory=lambda: log_driver(None))


def harden(container: dict, template: dict, hardening: Hardening) -> None:
    """Apply a Hardening to a ContainerSpec and its TaskTemplate (both dicts, changed in place)."""
    restrict_privileges(container, hardening.capabilities)
    template["Resources"] = {"Limits": {
        "NanoCPUs": max(1, round(hardening.cpus * NANO)), "MemoryBytes": hardening.memory_bytes,
        "Pids": hardening.pids,
    }}
    template["LogDriver"] = copy.deepcopy(hardening.log_driver)


@dataclass(frozen=True)
class ProcessInput:
    """Everything a process service depends on."""

    stack: str
    app: str
    process: str
    image: str
    command: str | None
    env: dict[str, str]
    hardening: Hardening
    router_network: str
    endpoint_mode: str = "dnsrr"
    update_monitor_s: int = 5
    replicas: int = 1


def process_service_spec(p: ProcessInput) -> dict:
    """A process as a swarm service: on the stack's network; web also on the router network."""
    labels = stack_labels(p.stack, p.app, "process") | {PROCESS_LABEL: p.process}
    networks = [NetworkAttachmentConfig(network_name(p.stack), aliases=[p.process])]
    if p.process == "web":
        networks.append(NetworkAttachmentConfig(p.router_network, aliases=[web_alias(p.stack)]))
    container = ContainerSpec(
        image=p.image,
        # Like Heroku, a Procfile command runs in the image's shell (so $PORT expands). It comes
        # from the app's repository, never from a Slack or command-line user.
        command=["/bin/sh", "-c", p.command] if p.command else None,
        env=[f"{k}={v}" for k, v in sorted(p.env.items())],
        labels=labels,
        stop_grace_period=10 * NANO,
        init=True,  # PID 1 that forwards SIGTERM: an app's server stops at once, not after the grace period
    )
    template = TaskTemplate(
        container_spec=container,
        restart_policy=RestartPolicy(condition="any", delay=2 * NANO, max_attempts=0),
        networks=networks,
    )
    harden(container, template, p.hardening)
    spec = {
        "name": service_name(p.stack, p.process),
        "task_template": template,
        "mode": {"Replicated": {"Replicas": p.replicas}},  # ServiceMode would spell it "replicated"
        "endpoint_spec": EndpointSpec(mode=p.endpoint_mode),
        # start-first: the old task serves until the new one runs; a new one that dies within
        # the monitor window makes swarm roll back to the old spec.
        "update_config": UpdateConfig(
            parallelism=1, order="start-first", failure_action="rollback", monitor=p.update_monitor_s * NANO
        ),
        "rollback_config": RollbackConfig(parallelism=1, order="start-first"),
        "labels": labels,
    }
    return with_hash(spec)


def release_job_spec(*, stack: str, app: str, image: str, command: str, env: dict[str, str], deployment_id: int,
                     hardening: Hardening, task: str = "release") -> dict:
    """The release command (or the postdeploy or predestroy command: `task`) as a swarm
    replicated job: runs once, to completion, never restarts."""
    labels = stack_labels(stack, app, task) | {DEPLOYMENT_LABEL: str(deployment_id)}
    container = ContainerSpec(
        image=image, command=["/bin/sh", "-c", command], env=[f"{k}={v}" for k, v in sorted(env.items())],
        labels=labels, init=True,
    )
    template = TaskTemplate(
        container_spec=container,
        restart_policy=RestartPolicy(condition="none"),
        networks=[NetworkAttachmentConfig(network_name(stack))],
    )
    harden(container, template, hardening)
    return {
        "name": release_job_name(stack, task),
        "task_template": template,
        "mode": ServiceMode("replicated-job"),
        "labels": labels,
    }


def with_hash(spec: dict) -> dict:
    """Label the spec with a hash of itself, so an unchanged spec is never sent again."""
    digest = spec_hash(spec)
    spec = dict(spec)
    spec["labels"] = {**spec["labels"], HASH_LABEL: digest}
    container = spec["task_template"]["ContainerSpec"]
    container["Labels"] = {**container.get("Labels", {}), HASH_LABEL: digest}  # tasks carry it too
    return spec


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
