"""Deploy speed: yadockeri against the same deploy done with plain docker commands, the way
the 2016 system did it (docker build, docker stack deploy, docker service create, wait until the
URL answers), on the same sample app (web + a middleware service), in the same run.

Five pairs, alternating which goes first, each deploy of a fresh commit (no image for it yet,
same build cache state for both), both polling every 0.1 s; then no-change redeploys.

    .venv/bin/python bench/deploy.py [--pairs 5]

Targets (issue #2): median ratio yadockeri/plain at most 1.10; no-change redeploy under 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.config import AppConfig, Settings  # noqa: E402
from stacks.engine import Actor, Engine  # noqa: E402
from stacks.router import ensure_router, remove_router, web_alias  # noqa: E402
from stacks.swarm import connect  # noqa: E402
from tests.conftest import SESSION_PREFIX, free_port, purge  # noqa: E402
from tests.support.sample_app import DOCKERFILE, SampleRepo  # noqa: E402

POLL = 0.1
ADMIN = Actor(id="cli:bench", source="cli", admin=True)
COMPOSE = """\
version: '3.8'
services:
  cache:
    image: busybox:latest
    command: [sh, -c, 'mkdir -p /srv && echo middleware-ok > /srv/index.html && exec httpd -f -p 8080 -h /srv']
"""
# A build with some real work in it, like an app's dependency install.
BENCH_DOCKERFILE = DOCKERFILE.replace("COPY www /www", "RUN for i in $(seq 1 200000); do :; done\nCOPY www /www")


def answered(settings: Settings, stack: str) -> bool:
    try:
        response = requests.get(settings.router_check_url + "/", headers={"Host": f"{stack}.{settings.domains[0]}"}, timeout=2)
    except requests.RequestException:
        return False
    return "X-Yadockeri-Page" not in response.headers


def docker_cli(*args: str, stdin: str | None = None) -> None:
    # The same CLI yadockeri runs `docker stack deploy` with (Debian's, matching the engine).
    docker = shutil.which("docker", path="/usr/bin:/usr/local/bin") or "docker"
    subprocess.run([docker, *args], input=stdin, check=True, capture_output=True, text=True)


def plain_docker_deploy(settings: Settings, repo: SampleRepo, stack: str, tag: str) -> float:
    """The 2016 shell script: build, stack deploy (middleware), service create (web), wait."""
    started = time.monotonic()
    docker_cli("build", "-q", "-t", tag, str(repo.path))
    docker_cli("stack", "deploy", "--resolve-image", "never", "-c", "-", stack, stdin=COMPOSE)
    docker_cli(
        "service", "create", "-d", "--name", f"{stack}_web", "--endpoint-mode", "dnsrr",
        "--network", f"name={stack}_default",
        "--network", f"name={settings.router_network},alias={web_alias(stack)}",
        "--env", "PORT=8080", "--env", "MIDDLEWARE_URL=http://cache:8080/", "--label", f"yadockeri.stack={stack}",
        "--container-label", f"yadockeri.stack={stack}", tag,
        "sh", "-c", "exec httpd -f -p $PORT -h /www",
    )
    while not answered(settings, stack):
        time.sleep(POLL)
    return time.monotonic() - started


def yadockeri_deploy(engine: Engine, stack: str) -> float:
    started = time.monotonic()
    record = engine.deploy(stack, "main", ADMIN).wait(600)
    if record.state != "succeeded":
        raise SystemExit(f"yadockeri deploy failed: {record.error}")
    return time.monotonic() - started


def no_change_redeploy(engine: Engine, stack: str) -> float:
    started = time.monotonic()
    record = engine.redeploy(stack, ADMIN).wait(600)
    took = time.monotonic() - started
    if record.state != "succeeded" or {s.name: s.state for s in record.steps}["build"] != "skipped":
        raise SystemExit(f"the no-change redeploy was not one: {record.state} {record.error}")
    return took


def new_commit(repo: SampleRepo, label: str) -> None:
    repo.write({"www/content.txt": label})
    repo.commit(label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    prefix = f"{SESSION_PREFIX}b"
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-"))
    repo = SampleRepo(work / "app")
    repo.write({
        "Dockerfile": BENCH_DOCKERFILE,
        ".yadockeri.yml": "processes:\n  web: {command: 'exec httpd -f -p $PORT -h /www'}\nservices: compose.yml\n"
                          "env: {MIDDLEWARE_URL: 'http://cache:8080/'}\n",
        "compose.yml": COMPOSE,
    })
    repo.commit("bench app")
    app = f"{prefix}app"
    settings = Settings(
        data_dir=work / "data", apps={app: AppConfig(repo=str(repo.path), default=True)},
        router_network=f"{prefix}-router", router_service=f"{prefix}-router", router_port=free_port(),
        router_base_image="yadockeri/nginx-base:local", poll_interval=POLL, update_monitor=2,
        firewall=False,  # a bench router: the install's packet filter is not its to change
    )
    client = connect()
    ensure_router(client, settings)
    engine = Engine(settings)
    engine.start()
    ours: list[float] = []
    plain: list[float] = []
    noop: list[float] = []
    try:
        for pair in range(args.pairs):
            order = ["yadockeri", "plain"] if pair % 2 == 0 else ["plain", "yadockeri"]
            for who in order:
                stack = f"{prefix}{who[0]}{pair}"
                new_commit(repo, f"{who}-{pair}")  # a commit with no image yet: a cold deploy
                if who == "yadockeri":
                    ours.append(yadockeri_deploy(engine, stack))
                    noop.append(no_change_redeploy(engine, stack))
                else:
                    plain.append(plain_docker_deploy(settings, repo, stack, f"yadockeri/{app}:plain{pair}"))
                print(f"pair {pair + 1}: {who:<9} {(ours if who == 'yadockeri' else plain)[-1]:6.2f} s", flush=True)
            for who in "yp":
                purge(client, f"{prefix}{who}{pair}")
    finally:
        engine.close()
        purge(client, prefix)
        remove_router(client, settings)
    ratio = statistics.median(ours) / statistics.median(plain)
    print()
    print(f"cold deploy, yadockeri      median {statistics.median(ours):6.2f} s   runs {', '.join(f'{t:.2f}' for t in ours)}")
    print(f"cold deploy, plain docker   median {statistics.median(plain):6.2f} s   runs {', '.join(f'{t:.2f}' for t in plain)}")
    print(f"ratio yadockeri/plain       {ratio:6.3f}   (target <= 1.10)")
    print(f"no-change redeploy          median {statistics.median(noop):6.3f} s   runs {', '.join(f'{t:.3f}' for t in noop)}"
          f"   (target < 1 s)")


if __name__ == "__main__":
    main()
