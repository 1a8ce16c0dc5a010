"""Several nodes: where a stack's parts run, and jobs on one given node.

- Images are built on the engine yadockeri talks to (a manager), or on YADOCKERI_BUILDER's, and
  reach the nodes through the registry (YADOCKERI_REGISTRY); with more than one node (or a
  builder) and no registry a deploy is refused up front (engine.py), as a task could never get
  its image.
- Process services go wherever swarm puts them (and move when a node is drained).
- Middleware with volumes is pinned to one node, chosen at the stack's first deploy (the
  schedulable node with the fewest pinned stacks) and kept in Stack.node: a volume lives on the
  node that made it, so the data stays with its service (compose.pin_volumes_to_node).
- On destroy its volumes are removed where they are: by a swarm replicated job on that node
  (the yadockeri image, YADOCKERI_IMAGE, with the Docker socket mounted), unless it is this node.

- Images that other nodes pulled are removed there when no stack runs them any more, by a
  global job of the same image that the scheduler's garbage collection starts.

`python -m stacks.nodes remove-volumes LABEL=VALUE` and `... collect-images` are what the jobs run.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .compose import PreparedCompose, pin_volumes_to_node
from .docker_adapter import Swarm
from .docker_adapter.labels import APP_LABEL, STACK_LABEL
from .docker_adapter.system_specs import volume_job_spec
from .errors import ConfigError, YadockeriError
from .polling import poll_until

if TYPE_CHECKING:
    from .config import Settings
    from .pipeline import Job
    from .ports import DockerPort

log = logging.getLogger(__name__)

JOB_TIMEOUT = 180.0


# Placement ---------------------------------------------------------------------------------------
def schedulable(node: dict) -> bool:
    return node.get("Status", {}).get("State") == "ready" and node.get("Spec", {}).get("Availability") == "active"


def node_name(node: dict) -> str:
    return node.get("Description", {}).get("Hostname") or node["ID"][:12]


def choose_node(nodes: list[dict], pinned: Counter[str]) -> str:
    """The schedulable node with the fewest stacks pinned to it (then by ID: deterministic)."""
    candidates = [n for n in nodes if schedulable(n)]
    if not candidates:
        raise YadockeriError("no swarm node is ready and active to run this stack's middleware "
                             "(`docker node ls`; a paused or drained node takes no new task)")
    return min(candidates, key=lambda n: (pinned.get(n["ID"], 0), n["ID"]))["ID"]


def pin_middleware(job: Job, compose: PreparedCompose | None) -> PreparedCompose | None:
    """Services with volumes run on the stack's node, chosen now if this is its first deploy."""
    if compose is None or not compose.has_volumes:
        return compose
    nodes = job.swarm.nodes()
    node = job.store.require_stack(job.name).node
    if node is None:
        pinned = Counter(s.node for s in job.store.list_stacks() if s.node)
        node = choose_node(nodes, pinned)
        job.store.update_stack(job.name, node=node)
        chosen = next(n for n in nodes if n["ID"] == node)
        job.log(f"middleware with volumes will live on node {node_name(chosen)} ({node[:12]})")
    elif node not in {n["ID"] for n in nodes}:
        raise YadockeriError(
            f"the node ({node[:12]}) that holds the volumes of `{job.name}`'s middleware has left the swarm; "
            f"its data is gone with it: destroy `{job.name}` and deploy it again"
        )
    return pin_volumes_to_node(compose, node)


def require_registry(swarm: DockerPort, settings: Settings) -> None:
    """Images are built on one engine; they reach the nodes only through a registry. With a
    separate builder, or more than one node, and no registry: refuse now, before anything is made."""
    if settings.registry:
        return
    if settings.builder:
        raise ConfigError(
            f"images are built on {settings.builder} (YADOCKERI_BUILDER) but no registry is set, so they "
            "could not reach the swarm: set YADOCKERI_REGISTRY too (docs/install.md)"
        )
    count = len(swarm.nodes())
    if count > 1:
        raise ConfigError(
            f"this swarm has {count} nodes but no registry is set, so an image built here could not run on the "
            "other nodes: set YADOCKERI_REGISTRY (and YADOCKERI_REGISTRY_USERNAME/PASSWORD if it needs a login); "
            "see docs/install.md"
        )


# Jobs on one node --------------------------------------------------------------------------------
def run_on_node(swarm: DockerPort, spec: dict, *, tasks: int = 1, timeout: float = JOB_TIMEOUT,
                poll: float = 0.5) -> tuple[str, list[str]]:
    """Run a job spec until `tasks` of its tasks ended (a global job: one a node); returns the
    final state (`complete` if all did) and the output. Removes the job."""
    name = spec["name"]
    swarm.create_job(spec)

    def ended() -> tuple[str, str | None] | None:
        done = [t for t in swarm.tasks(name) if t["Status"]["State"] in ("complete", "failed", "rejected", "orphaned")]
        if len(done) < tasks:
            return None
        failed = [t for t in done if t["Status"]["State"] != "complete"]
        return (failed[0]["Status"]["State"], failed[0]["Status"].get("Err")) if failed else ("complete", None)

    try:
        state, error = poll_until(ended, timeout=timeout, interval=poll,
                                  timed_out=lambda: ("timeout", f"did not finish within {timeout:.0f}s")) or ("", None)
        lines = swarm.service_logs(name, tail=200 * tasks)
    finally:
        swarm.remove_service(name)
    if state != "complete":
        tail = "\n".join(lines[-10:])
        raise YadockeriError(f"job {name} {state}" + (f" ({error})" if error else "") + (f":\n{tail}" if tail else ""))
    return state, lines


def remove_stack_volumes(job: Job) -> list[str]:
    """The stack's volumes: here directly, and on its middleware's node by a job there."""
    labels = {STACK_LABEL: job.name}
    removed = job.swarm.remove_volumes(**labels)
    node = job.stack.node
    if node and node != job.swarm.local_node_id():
        if node not in {n["ID"] for n in job.swarm.nodes()}:
            job.log(f"note: node {node[:12]} has left the swarm; the volumes of `{job.name}` went with it")
            return removed
        spec = volume_job_spec(stack=job.name, node_id=node, image=job.settings.image)
        _, lines = run_on_node(job.swarm, spec, poll=job.settings.poll_interval)
        removed += [line.split(" ", 1)[1] for line in lines if line.startswith("removed ")]
    return removed


# Images no stack uses -----------------------------------------------------------------------------
def collect_images(engine: DockerPort, apps: Iterable[str], in_use: set[str], min_age: float) -> list[str]:
    """Remove the images of these apps on this engine that no stack runs or is about to run and
    that are older than min_age seconds (a build in flight is younger); returns the tags removed."""
    oldest = time.time() - min_age
    removed = []
    for app in apps:
        for image in engine.images(**{APP_LABEL: app}):
            tags = image.get("RepoTags") or []
            if image.get("Created", 0) > oldest or not tags or any(tag in in_use for tag in tags):
                continue
            # Old tasks' stopped containers (swarm keeps a few per service) still hold it.
            engine.remove_containers(exited_only=True, ancestor=image["Id"])
            for tag in tags:
                try:
                    if engine.remove_image(tag):
                        removed.append(tag)
                except YadockeriError as error:  # still used (a container on its way out): next time
                    log.info("image %s kept for now: %s", tag, error)
    return removed


# What the jobs run -------------------------------------------------------------------------------
def remove_volumes_here(labels: list[str], *, attempts: int = 60, say: Callable[[str], None] = print) -> int:
    """Remove this node's volumes with these labels (what the job runs); 0 when all went."""
    return Swarm.local().free_and_remove_volumes(labels, attempts=attempts, say=say)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m stacks.nodes", description="jobs yadockeri runs on a node")
    verbs = parser.add_subparsers(dest="verb", required=True)
    volumes = verbs.add_parser("remove-volumes", help="remove this node's volumes with these labels")
    volumes.add_argument("labels", nargs="+", metavar="LABEL=VALUE")
    images = verbs.add_parser("collect-images", help="remove this node's images of these apps that no stack uses")
    images.add_argument("--apps", required=True, help="comma-separated app names")
    images.add_argument("--min-age", type=int, required=True, help="seconds: younger images stay")
    images.add_argument("in_use", nargs="*", metavar="IMAGE", help="images that stacks run: they stay")
    args = parser.parse_args(argv)
    if args.verb == "remove-volumes":
        if not all("=" in label for label in args.labels):
            parser.error("labels are LABEL=VALUE")
        return remove_volumes_here(args.labels, say=say)
    return collect_images_here(args.apps.split(","), set(args.in_use), args.min_age, say=say)


def say(line: str) -> None:
    print(line, flush=True)  # the job's output is what the engine reads, line by line


def collect_images_here(apps: list[str], in_use: set[str], min_age: int, *, say: Callable[[str], None] = print) -> int:
    for tag in collect_images(Swarm.local(), apps, in_use, min_age):
        say(f"removed {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
