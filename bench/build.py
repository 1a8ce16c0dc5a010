"""Build speed: yadockeri's build step against the same BuildKit build run by hand, in the same
run, on the same app and engine.

The app is a multi-stage Dockerfile whose dependency step does real work (a few seconds of
shell arithmetic, like an install) behind a cache mount, then copies the sources. Each round:

- cold: the builder's cache is pruned and both sides' images removed before each side builds
  a fresh commit (new dependencies), so neither starts warm;
- second branch: a branch that changes one source file, built by each side after its cold build.

yadockeri's figure is its `build` step as the deployment reports it (reading the Dockerfile
from git, the checks, unpacking the commit's tree, the BuildKit build); the hand's is
`DOCKER_BUILDKIT=1 docker build` of a checkout the user already has. Rounds alternate which
side goes first.

    .venv/bin/python bench/build.py [--rounds 3]

Targets (issue 12): cold ratio <= 1.05; the second branch's build under 20% of the cold one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.config import AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Actor, Engine
from stacks.progress import Reporter
from stacks.router import ensure_router, remove_router
from tests.support.infra import SESSION_PREFIX, free_port, free_subnet, purge
from tests.support.sample_app import SampleRepo

ADMIN = Actor(id="cli:bench", source="cli", admin=True)
DOCKER = shutil.which("docker", path="/usr/bin:/usr/local/bin") or "docker"  # Debian's: BuildKit without buildx
WORK_LOOPS = 2_000_000  # the dependency step: about 5 s of shell arithmetic, a small install
DOCKERFILE = f"""\
FROM busybox:latest AS deps
COPY deps.txt /deps.txt
RUN --mount=type=cache,target=/cache sh -c 'key=$(sha256sum /deps.txt | cut -c1-16); \\
    if [ ! -f /cache/$key ]; then i=0; while [ $i -lt {WORK_LOOPS} ]; do i=$((i+1)); done; cp /deps.txt /cache/$key; fi; \\
    cp /cache/$key /installed.txt'
FROM busybox:latest
COPY --from=deps /installed.txt /installed.txt
COPY --chmod=755 www /www
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


class BuildTimer(Reporter):
    """Keeps the seconds of each deployment's build step."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}

    def step(self, deployment_id: int, name: str, state: str, seconds: float | None, detail: str | None) -> None:
        if name == "build" and state == "ok" and seconds is not None:
            self.seconds[deployment_id] = seconds


def run(*args: str, cwd: Path | None = None) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "DOCKER_BUILDKIT": "1"}
    subprocess.run(args, check=True, capture_output=True, cwd=cwd, env=env)


def prune(app: str) -> None:
    """A cold builder: no build cache (cache mounts included), no image of either side."""
    run(DOCKER, "builder", "prune", "--all", "--force")
    client = Swarm.manager().client
    for image in client.images.list(filters={"label": f"yadockeri.app={app}"}) + client.images.list(name="handbuild"):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass  # a stack's container on its way out still holds it: the build cache is what matters


class Sides:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-build-"))
        self.repo = SampleRepo(self.work / "app")
        self.app = f"{prefix}app"
        self.settings = Settings(
            data_dir=self.work / "data", apps={self.app: AppConfig(repo=str(self.repo.path), default=True)},
            router_network=f"{prefix}-router",
        router_subnet=free_subnet(), router_service=f"{prefix}-router", router_port=free_port(),
            router_base_image="yadockeri/nginx-base:local", domain="y.localhost", firewall=False,
        )
        self.timer = BuildTimer()
        self.count = 0

    def commit(self, branch: str, files: dict[str, str], start: str = "main") -> None:
        self.repo.branch(branch, start=start)
        self.repo.write(files)
        self.repo.commit(branch)

    def ours(self, engine: Engine, branch: str) -> float:
        self.count += 1
        record = engine.deploy(f"{self.prefix}{self.count:03d}", branch, ADMIN, reporter=self.timer).wait(600)
        if record.state != "succeeded":
            raise SystemExit(f"yadockeri's deploy failed: {record.error}")
        engine.destroy(record.stack, ADMIN).wait(300)  # only the build is measured; the stack goes
        return self.timer.seconds[record.id]

    def by_hand(self, branch: str) -> float:
        """The user's checkout is at the branch already; only the build is timed."""
        checkout = self.work / "checkout"
        if not checkout.exists():
            run("git", "clone", "--quiet", f"file://{self.repo.path}", str(checkout))
        run("git", "fetch", "--quiet", "origin", cwd=checkout)
        run("git", "checkout", "--quiet", "-B", branch, f"origin/{branch}", cwd=checkout)
        started = time.monotonic()
        run(DOCKER, "build", "--progress=plain", "-t", f"handbuild:{branch}", str(checkout))
        return time.monotonic() - started


def rounds(sides: Sides, engine: Engine, count: int) -> tuple[list[float], list[float], list[float], list[float]]:
    cold_ours, cold_hand, warm_ours, warm_hand = [], [], [], []
    for index in range(count):
        order = ["ours", "hand"] if index % 2 == 0 else ["hand", "ours"]
        for side in order:
            cold, warm = f"r{index}-{side}-cold", f"r{index}-{side}-warm"
            sides.commit(cold, {"deps.txt": f"deps {index} {side} {time.time_ns()}\n"})
            sides.commit(warm, {"www/content.txt": f"a change {time.time_ns()}"}, start=cold)  # one source file
            prune(sides.app)
            if side == "ours":
                cold_ours.append(sides.ours(engine, cold))
                warm_ours.append(sides.ours(engine, warm))
            else:
                cold_hand.append(sides.by_hand(cold))
                warm_hand.append(sides.by_hand(warm))
        print(f"round {index + 1}: cold {cold_ours[-1]:.2f} s vs {cold_hand[-1]:.2f} s by hand; "
              f"second branch {warm_ours[-1]:.2f} s vs {warm_hand[-1]:.2f} s", flush=True)
    return cold_ours, cold_hand, warm_ours, warm_hand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides = Sides(f"{SESSION_PREFIX}bb")
    sides.repo.write({"Dockerfile": DOCKERFILE, "deps.txt": "first\n",
                      ".yadockeri.yml": "processes:\n  web: {command: 'exec httpd -f -p $PORT -h /www'}\n"})
    sides.repo.commit("bench app")
    client = Swarm.manager().client
    ensure_router(Swarm(client), sides.settings)
    engine = Engine(sides.settings)
    engine.start()
    try:
        cold_ours, cold_hand, warm_ours, warm_hand = rounds(sides, engine, args.rounds)
    finally:
        engine.close()
        purge(client, sides.prefix)
        prune(sides.app)
        remove_router(Swarm(client), sides.settings)
        shutil.rmtree(sides.work, ignore_errors=True)
    co, ch, wo = statistics.median(cold_ours), statistics.median(cold_hand), statistics.median(warm_ours)
    print(f"\n{'measure':<28}{'yadockeri':>12}{'by hand':>12}   target")
    print(f"{'cold build (median)':<28}{co:>10.2f} s{ch:>10.2f} s   ratio {co / ch:.2f} (<= 1.05)")
    print(f"{'second branch (median)':<28}{wo:>10.2f} s{statistics.median(warm_hand):>10.2f} s   "
          f"{100 * wo / co:.0f}% of cold (< 20%)")


if __name__ == "__main__":
    main()
