"""The engine's parts wired to the fakes: settings, the real store on SQLite, a FakeSwarm, a
FakeRepo with the sample app and its FakeMirror, a FakeRouter. A test gets a World, shapes it
(scripts the swarm, commits to the repo), then runs the real pipeline, runner or maintenance
code on it and looks at what the store, the swarm and the reporter saw.

Timeouts are short (deploy and release 1 s, polls of 10 ms): the fakes answer at once, so a
wait that times out is one the test asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks import pipeline
from stacks.config import AppConfig, Settings
from stacks.maintenance import Maintenance
from stacks.progress import RecordingReporter, Reporter
from stacks.runner import JobRunner, StackEvent
from stacks.store import DeploymentRecord, StackRecord, Store
from tests.support.sample_app import DOCKERFILE, INDEX_CGI

from .mirror import FakeMirror, FakeRepo
from .router import FakeRouter
from .store import Databases
from .swarm import FakeSwarm

APP = "app"
ROUTER_NETWORK = "fake-router"
TOKEN = "ab" * 16
DOMAIN = "y.localhost"
SPEC = """\
processes:
  web: {command: "exec httpd -f -p $PORT -h /www"}
env:
  GREETING: from-spec
"""
APP_FILES: dict[str, str | bytes | None] = {
    "Dockerfile": DOCKERFILE, ".yadockeri.yml": SPEC, "www/cgi-bin/index.cgi": INDEX_CGI, "www/content.txt": "main-1",
}


@dataclass
class World:
    settings: Settings
    store: Store
    swarm: FakeSwarm
    builder: FakeSwarm  # the swarm itself unless a test gives images their own engine
    repo: FakeRepo
    mirror: FakeMirror
    router: FakeRouter
    reporter: RecordingReporter = field(default_factory=RecordingReporter)
    events: list[StackEvent] = field(default_factory=list)
    runners: list[JobRunner] = field(default_factory=list)

    # Jobs run directly ------------------------------------------------------------------------
    def job(self, stack: str = "akira", *, kind: str = "deploy", branch: str = "main", actor: str = "U1") -> pipeline.Job:
        """A deployment recorded and started as the runner does it (its stack created on a
        first deploy), and the pipeline's Job for it."""
        deployment, _ = self.store.create_deployment(stack=stack, app=APP, branch=branch, kind=kind, actor=actor,
                                                     source="cli", create=kind == "deploy")
        assert self.store.start_deployment(deployment.id, "test-runner")
        return self.make_job(self.store.get_deployment(deployment.id), self.store.require_stack(stack), self.reporter)

    def make_job(self, deployment: DeploymentRecord, stack: StackRecord, reporter: Reporter) -> pipeline.Job:
        """What Engine._job makes, on the fakes."""
        log = pipeline.DeploymentLog(self.settings.data_dir / "logs" / f"{deployment.id}.log", deployment.id, reporter,
                                     list(self.store.get_env(stack.name).values()))
        return pipeline.Job(settings=self.settings, store=self.store, swarm=self.swarm, mirror=self.mirror,
                            reporter=reporter, deployment=deployment, stack=stack, app_name=stack.app,
                            app=self.settings.apps[stack.app], log=log, connect_builder=lambda: self.builder)

    def steps(self, deployment_id: int) -> list[tuple[str, str]]:
        """(step, state) of a deployment, in order; build and middleware, which run side by side,
        as middleware then build."""
        found = [(s.name, s.state) for s in self.store.get_deployment(deployment_id).steps]
        names = [name for name, _ in found]
        if "build" in names and "middleware" in names:
            first, second = sorted((names.index("build"), names.index("middleware")))
            if second == first + 1:
                found[first:second + 1] = sorted(found[first:second + 1], key=lambda s: s[0] != "middleware")
        return found

    # The runner and maintenance ----------------------------------------------------------------
    def runner(self, make_job: Callable[[DeploymentRecord, StackRecord, Reporter], pipeline.Job] | None = None) -> JobRunner:
        runner = JobRunner(self.settings, self.store, make_job=make_job or self.make_job, emit=self.events.append)
        self.runners.append(runner)
        return runner

    def maintenance(self, runner: JobRunner) -> Maintenance:
        return Maintenance(self.settings, self.store, runner, emit=self.events.append, swarm=lambda: self.swarm,
                           builder=lambda: self.builder)

    def event_kinds(self, stack: str | None = None) -> list[str]:
        return [e.kind for e in self.events if stack is None or e.stack == stack]

    def close(self) -> None:
        """Stop everything, also after a failed test: held builds go on, and every unfinished
        deployment is marked interrupted (so no job waits for a lock forever)."""
        self.swarm.release_held_builds()
        self.builder.release_held_builds()
        self.store.recover_interrupted(lambda runner, heartbeat: True)
        for runner in self.runners:
            runner.close()
        self.router.close()
        self.store.close()


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait until check() is true: for what another thread (a job) does next."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f}s"
        time.sleep(0.005)


def make_world(folder: Path, databases: Databases, **overrides: Any) -> World:
    """A World in `folder` on the session's store, emptied (tests/fakes/store.py)."""
    swarm = FakeSwarm()
    swarm.ensure_network(ROUTER_NETWORK, {})
    swarm.calls.clear()
    repo = FakeRepo()
    repo.commit("main", APP_FILES, "first")
    router = FakeRouter(swarm, network=ROUTER_NETWORK, token=TOKEN)
    values: dict[str, Any] = {
        "data_dir": folder / "data", "database_url": databases.url,
        "apps": {APP: AppConfig(repo=repo.name, default=True)}, "router_url": router.url,
        "router_network": ROUTER_NETWORK, "router_token": TOKEN, "domain": DOMAIN, "deploy_timeout": 1,
        "release_timeout": 1, "update_monitor": 1, "poll_interval": 0.01, "secret_key": None,
    }
    values.update(overrides)
    settings = Settings(**values)
    store = databases.fresh(settings.apps)
    return World(settings=settings, store=store, swarm=swarm, builder=swarm, repo=repo,
                 mirror=FakeMirror(repo, folder / "git"), router=router)
