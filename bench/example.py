"""The notes example's first deploy as a user waits for it: `yadockeri deploy` of examples/notes
(a Flask app, PostgreSQL with a healthcheck, migrations in release, seed data in postdeploy)
against the 2016 way with its own parts, in the same run, timed by the same outside poller
until the page lists the seeded notes.

The 2016 way is what its users did by hand: `git clone`, `docker build`, `docker stack deploy`
of the compose file (PostgreSQL), and `docker service create` of the web named after the stack
on a plain nginx's network, its command chaining what yadockeri runs as steps: retry the
migration until the database answers, seed, then serve. The plain nginx is bench/deploy.py's
(the seed's config); nothing of yadockeri's router is on its path.

Images: python:3.11-slim and postgres:15 must be on the engine; where no registry is reachable
they are made offline first (tests/support/example_images.py), and that is timed too.

    .venv/bin/python bench/example.py [--pairs 2]
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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import DOCKER, POLL, Bench, Watch, line, run, serve, teardown, timed
from stacks.docker_adapter import Swarm
from stacks.secrets import load_fernet
from stacks.store import Store
from tests.support.example_images import ensure_example_images
from tests.support.infra import SESSION_PREFIX
from tests.support.sample_app import SampleRepo

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "notes"
SEEDED = "Seeded once"  # the last of the seed's notes: the page lists it once postdeploy ran
# The web's command the 2016 way: what yadockeri's steps do, chained in one shell by hand.
PLAIN_WEB = ("until python manage.py migrate; do sleep 1; done && python manage.py seed && "
             "exec gunicorn --bind 0.0.0.0:8080 --workers 2 app:app")


def setup(prefix: str) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-example-"))
    repo = SampleRepo(work / "app")
    repo.remove("www")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    repo.commit("the notes example")
    return serve(prefix, work, repo)


def plain_deploy(bench: Bench, stack: str) -> None:
    checkout = bench.work / f"checkout-{stack}"
    run("git", "clone", "--quiet", "--depth", "1", "--branch", "main", f"file://{bench.repo.path}", str(checkout))
    tag = f"plain2016/{stack}:latest"
    run(DOCKER, "build", "-q", "-t", tag, str(checkout), env={**os.environ, "DOCKER_BUILDKIT": "1"})
    compose = (checkout / "docker-compose-yadockeri.yml").read_text().replace(
        "    image: postgres:15\n", "    image: postgres:15\n    deploy: {endpoint_mode: dnsrr}\n")
    run(DOCKER, "stack", "deploy", "--resolve-image", "never", "-c", "-", stack, stdin=compose,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")})
    run(DOCKER, "service", "create", "-d", "--name", stack, "--endpoint-mode", "dnsrr",
        "--network", f"{stack}_default", "--network", bench.plain_network,
        "--env", "DATABASE_URL=postgresql://notes:notes@db:5432/notes",
        "--label", f"yadockeri.stack={stack}", "--container-label", f"yadockeri.stack={stack}", tag,
        "sh", "-c", PLAIN_WEB)


def steps_of(bench: Bench, stack: str) -> str:
    """Where yadockeri's time went: each step of the stack's deployment (build and middleware overlap)."""
    store = Store(bench.settings.db_url, load_fernet(None, bench.settings.data_dir))
    try:
        (deployment,) = store.deployments(stack)
        return "  ".join(f"{s.name} {s.seconds:.2f}" for s in deployment.steps if s.seconds is not None)
    finally:
        store.close()


def remove_volumes(prefix: str) -> None:
    client = Swarm.manager().client
    for volume in client.volumes.list():
        if volume.name.startswith(prefix):
            subprocess.run([DOCKER, "volume", "rm", "-f", volume.name], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    made = ensure_example_images(say=lambda text: print(f"  {text}", flush=True))
    images = time.monotonic() - started
    print(f"base images {', '.join(made)} ready in {images:.1f} s", flush=True)
    prefix = f"{SESSION_PREFIX}x"
    bench = setup(prefix)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        print(f"first deploys of the notes example (a new stack each; poller every {POLL} s):", flush=True)
        for pair in range(args.pairs):
            for who in (("yadockeri", "2016") if pair % 2 == 0 else ("2016", "yadockeri")):
                stack = f"{prefix}{'y' if who == 'yadockeri' else 'p'}{pair}"
                watch = Watch(f"http://127.0.0.1:{bench.settings.router_port if who == 'yadockeri' else bench.plain_port}/",
                              f"{stack}.y.localhost", SEEDED)
                action = partial(bench.yadockeri, "deploy", stack, "main") if who == "yadockeri" else \
                    partial(plain_deploy, bench, stack)
                took, returned = timed(watch, action)
                (ours if who == "yadockeri" else theirs).append(took)
                print(f"  pair {pair + 1}  {who:<9}  {took:6.2f} s  (command returned at {returned:5.2f} s)", flush=True)
                if who == "yadockeri":
                    print(f"           steps: {steps_of(bench, stack)}", flush=True)
    finally:
        teardown(bench, prefix)
        remove_volumes(prefix)
    print()
    print("the example's first deploy, end to end (until the page lists the seeded notes):")
    print(line("yadockeri deploy", ours))
    print(line("2016 way (by hand, own plain nginx)", theirs))
    print(f"  ratio yadockeri / 2016 way         {statistics.median(ours) / statistics.median(theirs):6.3f}")


if __name__ == "__main__":
    main()
