"""Labels, names and ports of the Docker objects yadockeri makes, defined once.

A stack's objects carry STACK/APP/ROLE labels: that is how destroy, sleep and the reaper find
them. Names are `<stack>_<process>` like `docker stack deploy`'s; `__` never occurs in a
process name, so a stack's jobs never collide with its services.
"""

from __future__ import annotations

WEB_PORT = 8080  # what a web process listens on ($PORT) and the router connects to

NAMESPACE_LABEL = "com.docker.stack.namespace"  # makes `docker stack ps/rm STACK` see our services too
SERVICE_NAME_LABEL = "com.docker.swarm.service.name"  # swarm's, on each task's container
TASK_ID_LABEL = "com.docker.swarm.task.id"  # swarm's, on each task's container
STACK_LABEL = "yadockeri.stack"
APP_LABEL = "yadockeri.app"
ROLE_LABEL = "yadockeri.role"  # process, middleware, release (postdeploy, predestroy), network, router, cleanup, yadockeri
PROCESS_LABEL = "yadockeri.process"
DEPLOYMENT_LABEL = "yadockeri.deployment"
COMMIT_LABEL = "yadockeri.commit"
HASH_LABEL = "yadockeri.spec-hash"  # a spec's hash of itself: an unchanged spec is never sent again
CLEANUP_LABEL = "yadockeri.cleanup"  # on a volume job: the stack whose volumes it removes
INSTALL_LABEL = "yadockeri.install"  # on everything install makes; the value is the service name
IMAGE_ID_LABEL = "yadockeri.image-id"  # a new image under the same tag is a new spec
SECRET_ROLE_LABEL = "yadockeri.secret"
CONFIG_ROLE_LABEL = "yadockeri.config"

ALIAS_SUFFIX = "yadockeri-web"
DOCKER_SOCKET = "/var/run/docker.sock"


def label_filters(labels: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in labels.items()]


def stack_labels(stack: str, app: str, role: str) -> dict[str, str]:
    """Labels on every Docker object of a stack: how destroy and the reaper find them."""
    return {NAMESPACE_LABEL: stack, STACK_LABEL: stack, APP_LABEL: app, ROLE_LABEL: role}


def service_name(stack: str, process: str) -> str:
    return f"{stack}_{process}"


def network_name(stack: str) -> str:
    return f"{stack}_default"


ONE_OFF_TASKS = ("release", "postdeploy", "predestroy")  # the app's commands run as one-off jobs


def release_job_name(stack: str, task: str = "release") -> str:
    """The one-off job of a stack's release command (or postdeploy, predestroy)."""
    assert task in ONE_OFF_TASKS, task
    return f"{stack}__{task}"


def volume_job_name(stack: str) -> str:
    return f"{stack}__volumes"


def image_job_name(service: str) -> str:
    return f"{service}__images"  # a stack's service name never has `__`


def web_alias(stack: str) -> str:
    """The DNS alias that only yadockeri gives a stack's web service on the router network."""
    return f"{stack}.{ALIAS_SUFFIX}"


def image_tag(app: str, commit: str, registry: str | None) -> str:
    name = f"yadockeri/{app}:{commit}"
    return f"{registry.rstrip('/')}/{name}" if registry else name


def control_network(service: str) -> str:
    """The installed yadockeri's network, shared with the router only."""
    return f"{service}-control"


def data_volume(service: str) -> str:
    return f"{service}-data"
