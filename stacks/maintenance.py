"""Maintenance: what the scheduler does besides running jobs. Idle stacks are put to sleep,
warned, un-warned and reaped as stacks/idle.py decides (conditional updates make a second
scheduler, or a rerun after a crash, do nothing twice); images and build cache no stack needs
are removed on every node and in the registry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from .commands import KEEP_DEFAULT
from .config import Settings
from .docker_adapter.labels import image_job_name
from .docker_adapter.system_specs import image_job_spec
from .errors import DockerUnavailable, PermissionDenied, YadockeriError
from .idle import FOREVER, Action, Timing, decide
from .limits import parse_size
from .models import utcnow
from .ports import DockerPort, StorePort
from .runner import SCHEDULER, Actor, JobHandle, JobRunner, StackEvent

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, settings: Settings, store: StorePort, jobs: JobRunner, *, emit: Callable[[StackEvent], None],
                 swarm: Callable[[], DockerPort], builder: Callable[[], DockerPort]) -> None:
        self.settings = settings
        self.store = store
        self.jobs = jobs
        self.emit = emit
        self.swarm = swarm  # connected when first needed
        self.builder = builder

    def idle_pass(self, now: datetime | None = None) -> list[Action]:
        """Sleep, warn, un-warn and reap what is due. Conditional updates make a second
        scheduler (or a rerun after a crash) do nothing twice."""
        now = now or utcnow()
        actions = decide(self.store.list_stacks(), self.store.busy_stacks(), Timing.of(self.settings), now)
        done = []
        for action in actions:
            try:
                if self._act(action, now):
                    done.append(action)
            except YadockeriError as error:
                log.warning("%s of %s failed: %s", action.kind, action.stack, error)
        return done

    def _act(self, action: Action, now: datetime) -> bool:
        stack = self.store.get_stack(action.stack)
        if stack is None:
            return False
        if action.kind == "sleep":
            self.jobs.submit(stack.name, stack.app, stack.branch, "sleep", SCHEDULER, None)
        elif action.kind == "warn":
            if not self.store.warn_stack(stack.name, now):
                return False
            self._record("warn", stack.name, action.reason)
            self.emit(StackEvent("warned", stack.name, SCHEDULER.id, action.reason, owner=stack.owner))
        elif action.kind == "unwarn":
            if not self.store.unwarn_stack(stack.name):
                return False
            self._record("unwarn", stack.name, action.reason)
        elif action.kind == "reap":
            if not self.store.set_stack_state(stack.name, "destroying", only_from=("warned", "destroying")):
                return False
            self.jobs.submit(stack.name, stack.app, stack.branch, "destroy", SCHEDULER, None)
        return True

    def wake(self, stack: str, actor: Actor) -> JobHandle | None:
        """Scale a sleeping stack back up (once, however many requests ask)."""
        record = self.store.get_stack(stack)
        if record is None or not record.asleep or "wake" in self.store.active_kinds(stack):
            return None
        return self.jobs.submit(stack, record.app, record.branch, "wake", actor, None)

    def keep(self, stack: str, actor: Actor, *, seconds: int | None = None, forever: bool = False) -> datetime:
        """Protect a stack from sleep and reap for a while (admins: forever)."""
        record = self.store.require_stack(stack)
        if forever and not actor.admin:
            self.store.add_event(actor=actor.id, source=actor.source, action="keep", stack=stack, result="refused",
                                 detail="forever: not an admin")
            raise PermissionDenied("only an admin may keep a stack forever; use --for (at most 30d)")
        until = FOREVER if forever else utcnow() + timedelta(seconds=seconds or KEEP_DEFAULT)
        self.store.keep_stack(record.name, until)
        self.store.unwarn_stack(record.name)
        detail = "forever" if forever else f"until {until.isoformat(timespec='minutes')}"
        self.store.add_event(actor=actor.id, source=actor.source, action="keep", stack=stack, result="ok", detail=detail)
        self.emit(StackEvent("kept", stack, actor.id, detail))
        if record.asleep:
            self.wake(stack, actor)
        return until

    def _record(self, action: str, stack: str, detail: str | None) -> None:
        self.store.add_event(actor=SCHEDULER.id, source=SCHEDULER.source, action=action, stack=stack, result="ok",
                             detail=detail)

    def collect_garbage(self) -> list[str]:
        """Remove this install's images that no stack runs or is about to run (older than
        IMAGE_MIN_AGE, so a build in flight is safe): on the manager, on the builder if images
        are built elsewhere, on the other nodes (a global job) and in the registry; and build
        cache older than its limit. Returns the image tags removed."""
        from . import nodes

        in_use, apps, min_age = self.store.images_in_use(), list(self.settings.apps), self.settings.image_min_age
        removed = nodes.collect_images(self.swarm(), apps, in_use, min_age)
        self._prune_build_cache(self.swarm())
        if self.settings.builder:
            try:
                removed += nodes.collect_images(self.builder(), apps, in_use, min_age)
                self._prune_build_cache(self.builder())
            except DockerUnavailable as error:  # the builder is down: its images wait for the next pass
                log.warning("builder not cleaned: %s", error)
        removed += self._collect_on_other_nodes(apps, in_use, min_age)
        removed = sorted(set(removed))
        if self.settings.registry and removed:  # what no stack runs goes from the registry too
            from . import registry

            registry.delete_images(self.settings, removed, log.info)
        return removed

    def _collect_on_other_nodes(self, apps: list[str], in_use: set[str], min_age: int) -> list[str]:
        """Images the other nodes pulled: a global job of the yadockeri image removes them there."""
        from . import nodes

        if not self.settings.registry:  # without a registry no other node has our images
            return []
        here = self.swarm().local_node_id()
        others = [n for n in self.swarm().nodes() if nodes.schedulable(n) and n["ID"] != here]
        if not others:
            return []
        spec = image_job_spec(name=image_job_name(self.settings.service_name), image=self.settings.image,
                                    apps=apps, in_use=in_use, min_age=min_age, skip_node=here)
        try:
            _, lines = nodes.run_on_node(self.swarm(), spec, tasks=len(others), poll=self.settings.poll_interval)
        except YadockeriError as error:  # a node that is away: next time
            log.warning("images on the other nodes not cleaned: %s", error)
            return []
        return [line.split(" ", 1)[1] for line in lines if line.startswith("removed ")]

    def _prune_build_cache(self, engine: DockerPort) -> None:
        try:
            engine.prune_build_cache(self.settings.build_cache_max_age, parse_size(self.settings.build_cache_max_size))
        except YadockeriError as error:  # an engine without BuildKit's prune filters: images still went
            log.info("build cache not pruned: %s", error)
