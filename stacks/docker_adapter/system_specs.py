"""yadockeri's own service specs as pure functions: the router, the installed yadockeri
service, and the jobs it runs on a node (volume removal, image collection, uninstall).
Tested by equality (tests/test_router_render.py, tests/test_install_specs.py)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docker.types import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    Healthcheck,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    RestartPolicy,
    RollbackConfig,
    SecretReference,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from ..limits import LOG_MAX_FILE, LOG_MAX_SIZE, NANO, capabilities, restrict_privileges
from .labels import (
    CLEANUP_LABEL,
    DOCKER_SOCKET,
    HASH_LABEL,
    IMAGE_ID_LABEL,
    INSTALL_LABEL,
    ROLE_LABEL,
    STACK_LABEL,
    control_network,
    data_volume,
    volume_job_name,
)
from .specs import Hardening, harden, with_hash

if TYPE_CHECKING:
    from ..config import Settings

NO_HEALTHCHECK = Healthcheck(test=["NONE"])
# A node job is python and the docker SDK talking to the socket (root-owned: no capability needed
# beyond the minimal set).
JOB_HARDENING = Hardening(cpus=1.0, memory_bytes=512 * 1024**2, pids=256)
ROTATING_LOGS = {"Name": "json-file", "Options": {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILE}}
INSTALL_DATA_DIR = "/data"


# The router ----------------------------------------------------------------------------------
def router_service_spec(settings: Settings, *, image: str, config_name: str, config_id: str) -> dict[str, Any]:
    """Host-mode publishing (no ingress mesh, no IPVS needed) on a global service; stop-first
    updates because a new task cannot bind the host port while the old one holds it."""
    container = ContainerSpec(
        image=image,
        configs=[ConfigReference(config_id, config_name, filename="/etc/nginx/nginx.conf")],
        stop_grace_period=5 * NANO,
        labels={ROLE_LABEL: "router"},
    )
    # nginx binds port 80 and steps down to its user: the minimal set is enough. The router
    # faces the internet: no more privilege than that, and its logs rotate.
    restrict_privileges(container, capabilities())
    networks = [NetworkAttachmentConfig(settings.router_network)]
    if settings.control_network:  # installed: the network it shares with yadockeri only
        networks.append(NetworkAttachmentConfig(settings.control_network))
    template = TaskTemplate(container_spec=container, restart_policy=RestartPolicy(condition="any", delay=1 * NANO),
                            networks=networks, log_driver=ROTATING_LOGS)
    spec: dict[str, Any] = {
        "name": settings.router_service,
        "task_template": template,
        "mode": ServiceMode("global"),
        "endpoint_spec": EndpointSpec(
            mode="dnsrr",
            ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": settings.router_port, "PublishMode": "host"}],
        ),
        "update_config": UpdateConfig(parallelism=1, order="stop-first", failure_action="rollback", monitor=5 * NANO),
        "rollback_config": RollbackConfig(parallelism=1, order="stop-first", failure_action="pause"),
        "labels": {ROLE_LABEL: "router"},
    }
    spec["labels"] = {ROLE_LABEL: "router", HASH_LABEL: _router_hash(spec)}
    return spec


def _router_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# yadockeri as a swarm service (`yadockeri install`) ------------------------------------------------
@dataclass(frozen=True)
class Attached:
    """A secret or config the service mounts: its ID, name and the path inside."""

    id: str
    name: str
    path: str


def api_published(settings: Settings) -> bool:
    """The installed service publishes the HTTP API only when YADOCKERI_API_BIND says so (an
    admin who put a TLS terminator in front); otherwise it serves it inside its container only."""
    return bool(settings.api_port and settings.api_bind)


def install_service_spec(settings: Settings, *, image: str, image_id: str, env: dict[str, str],
                         secrets: list[Attached], configs: list[Attached], command: list[str] | None = None) -> dict:
    labels = {ROLE_LABEL: "yadockeri", INSTALL_LABEL: settings.service_name}
    container = ContainerSpec(
        image=image,
        command=command,
        env=[f"{key}={value}" for key, value in env.items()],
        labels={**labels, IMAGE_ID_LABEL: image_id},
        mounts=[
            Mount(DOCKER_SOCKET, DOCKER_SOCKET, type="bind"),
            Mount(INSTALL_DATA_DIR, data_volume(settings.service_name), type="volume",
                  labels={INSTALL_LABEL: settings.service_name}),
        ],
        secrets=[SecretReference(s.id, s.name, filename=s.path.rsplit("/", 1)[1], uid="0", gid="0", mode=0o400)
                 for s in secrets],
        configs=[ConfigReference(c.id, c.name, filename=c.path, uid="0", gid="0", mode=0o444) for c in configs],
        stop_grace_period=30 * NANO,
        init=True,
    )
    restrict_privileges(container, capabilities())  # root for the socket and /data: no capability more
    ports = []
    if settings.bot_mode == "http":
        ports = [{"Protocol": "tcp", "TargetPort": settings.bot_port, "PublishedPort": settings.bot_port,
                  "PublishMode": "host"}]
    if api_published(settings):  # the admin chose an address for the API: for a TLS terminator there
        ports.append({"Protocol": "tcp", "TargetPort": settings.api_port, "PublishedPort": settings.api_port,
                      "PublishMode": "host"})
    spec = {
        "name": settings.service_name,
        "task_template": TaskTemplate(
            container_spec=container,
            restart_policy=RestartPolicy(condition="any", delay=5 * NANO),
            placement=Placement(constraints=["node.role == manager"]),
            # Not the router network (every stack's web process is there): the control network,
            # which only the router shares with yadockeri.
            networks=[NetworkAttachmentConfig(settings.control_network or control_network(settings.service_name))],
            log_driver=ROTATING_LOGS,
        ),
        "mode": {"Replicated": {"Replicas": 1}},
        "endpoint_spec": EndpointSpec(mode="dnsrr", ports=ports),
        # One bot at a time (one SQLite writer, one host port): stop-first; back to the old
        # version if the new one does not become healthy.
        "update_config": UpdateConfig(parallelism=1, order="stop-first", failure_action="rollback", monitor=10 * NANO),
        "rollback_config": RollbackConfig(parallelism=1, order="stop-first"),
        "labels": {**labels, IMAGE_ID_LABEL: image_id},
    }
    return with_hash(spec)


def uninstall_job_spec(service: dict, *, name: str, node: str, labels: dict[str, str]) -> dict:
    """Every stack destroyed by the engine, in a job with the installed service's settings,
    secrets and data (its task template, another command), on the node holding its data."""
    template = service["Spec"]["TaskTemplate"]
    container = dict(template["ContainerSpec"])
    container["Command"] = ["python", "-m", "stacks.install", "destroy-all"]
    container["Healthcheck"] = dict(NO_HEALTHCHECK)  # the image's checks the bot, which this is not
    job_template = {
        "ContainerSpec": container,
        "RestartPolicy": {"Condition": "none"},
        "Placement": {"Constraints": [f"node.id == {node}"]},
        "Networks": template.get("Networks") or [],
    }
    return {"name": name, "task_template": job_template, "mode": ServiceMode("replicated-job"), "labels": dict(labels)}


# Jobs on one node ------------------------------------------------------------------------------------
def node_job_spec(*, name: str, image: str, command: list[str], constraint: str, labels: dict[str, str],
                  mode: str = "replicated-job") -> dict:
    """A job of the yadockeri image with this node's Docker socket, where `constraint` puts it.
    Trusted code, but limited like every task yadockeri starts."""
    container = ContainerSpec(
        image=image,
        command=command,
        mounts=[Mount(DOCKER_SOCKET, DOCKER_SOCKET, type="bind")],
        labels=labels,
        healthcheck=NO_HEALTHCHECK,  # the image's own checks the bot, which a job does not run
    )
    template = TaskTemplate(
        container_spec=container,
        restart_policy=RestartPolicy(condition="none"),
        placement=Placement(constraints=[constraint]),
    )
    harden(container, template, JOB_HARDENING)
    return {"name": name, "task_template": template, "mode": ServiceMode(mode), "labels": labels}


def remove_volumes_command(label: str) -> list[str]:
    return ["python", "-m", "stacks.nodes", "remove-volumes", label]


def volume_job_spec(*, stack: str, node_id: str, image: str) -> dict:
    """A replicated job on node `node_id` that removes the stack's volumes there."""
    return node_job_spec(name=volume_job_name(stack), image=image, command=remove_volumes_command(f"{STACK_LABEL}={stack}"),
                         constraint=f"node.id == {node_id}", labels={CLEANUP_LABEL: stack, ROLE_LABEL: "cleanup"})


def image_job_spec(*, name: str, image: str, apps: list[str], in_use: set[str], min_age: int, skip_node: str) -> dict:
    """A global job that runs collect_images on every node but `skip_node` (done directly)."""
    command = ["python", "-m", "stacks.nodes", "collect-images", "--min-age", str(min_age), "--apps", ",".join(apps),
               *sorted(in_use)]
    return node_job_spec(name=name, image=image, command=command, constraint=f"node.id != {skip_node}",
                         labels={ROLE_LABEL: "cleanup"}, mode="global-job")


def data_removal_spec(*, service: str, image: str, node: str) -> dict:
    """A job on `node` that removes the installed yadockeri's data volume there."""
    return node_job_spec(name=f"{service}-data-removal", image=image, constraint=f"node.id == {node}",
                         command=remove_volumes_command(f"{INSTALL_LABEL}={service}"),
                         labels={CLEANUP_LABEL: service, ROLE_LABEL: "cleanup"})
