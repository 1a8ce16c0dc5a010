"""Idle stacks at scale, and what activity tracking costs the router.

1. 100 real stacks of the sample app, half of them sleeping: the time of one scheduler pass
   (the idle decisions over all stacks) and of one `list` (in-process, and the CLI as a user
   runs it). Target: each under 1 s.
2. The router's throughput with activity tracking on (access log to stdout, followed by
   yadockeri) and off (`access_log off`), two routers on one network, alternating runs of
   `ab` in the same run. Target: within 1%.
3. 10,000 requests through the tracked router: every one counted in the stack's `requests`.

    .venv/bin/python bench/idle.py [--stacks 100] [--rounds 5] [--requests 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import ADMIN, deploy_many, put_to_sleep, timed
from stacks.config import AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Engine
from stacks.router import ensure_router, remove_router
from stacks.scheduler import Scheduler
from tests.support.infra import SESSION_PREFIX, env_for_cli, free_port, free_subnet, purge
from tests.support.sample_app import SampleRepo


def need_ab() -> str:
    if not shutil.which("ab"):
        subprocess.run(["apt-get", "install", "-y", "-q", "apache2-utils"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("ab") or "ab"


FAILURES: list[str] = []


def ab(url_port: int, host: str, requests_: int, concurrency: int = 8) -> float:
    """Requests per second of `ab` with keep-alive against a router (failures are reported)."""
    out = subprocess.run(
        [need_ab(), "-q", "-k", "-n", str(requests_), "-c", str(concurrency), "-H", f"Host: {host}",
         f"http://127.0.0.1:{url_port}/content.txt"], capture_output=True, text=True, check=True,
    ).stdout
    failed = int(_found(r"Failed requests:\s+(\d+)", out))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if failed or non2xx:
        FAILURES.append(f"port {url_port}: {failed} failed, {non2xx.group(1) if non2xx else 0} non-2xx of {requests_}")
    return float(_found(r"Requests per second:\s+([\d.]+)", out))


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"ab said something unexpected (no {pattern!r}):\n{text[-800:]}")
    return match.group(1)


STATIC_CONF = """\
worker_processes 1;
error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    server { listen 8080; root /www; }
}
"""


def static_repo(path: Path) -> SampleRepo:
    """A fast upstream for the throughput runs (nginx serving a file): the router's own cost shows."""
    repo = SampleRepo(path)
    repo.write({
        "Dockerfile": "FROM yadockeri/nginx-base:local\nCOPY app.conf /etc/nginx/app.conf\nCOPY www /www\n"
                      'CMD ["nginx", "-c", "/etc/nginx/app.conf", "-g", "daemon off; user root;"]\n',
        "app.conf": STATIC_CONF, ".yadockeri.yml": "processes:\n  web: {}\n", "www/content.txt": "x" * 512,
    })
    repo.commit("static")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20000, help="per throughput run")
    args = parser.parse_args()
    prefix = f"{SESSION_PREFIX}i"
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-idle-"))
    repo = SampleRepo(work / "app")
    repo.write({".yadockeri.yml": "processes:\n  web: {command: 'exec httpd -f -p $PORT -h /www'}\n"
                                  "resources: {web: {memory: 16m}}\n",
                "www/content.txt": "x" * 512})
    repo.commit("bench app")
    static = static_repo(work / "static")
    common: dict[str, Any] = dict(
        data_dir=work / "data", apps={f"{prefix}app": AppConfig(repo=str(repo.path), default=True),
                                      f"{prefix}static": AppConfig(repo=str(static.path))},
        router_network=f"{prefix}-router",
        router_subnet=free_subnet(), router_base_image="yadockeri/nginx-base:local", poll_interval=0.2,
        update_monitor=1, workers=8, sleep_after=3600, reap_after=30 * 86400, reaper_interval=3600,
        status_port=free_port(), activity_flush=1.0,
        firewall=False,  # bench routers: the install's packet filter is not theirs to change
    )
    tracked = Settings(router_service=f"{prefix}-on", router_port=free_port(), activity_tracking=True, **common)
    untracked = Settings(router_service=f"{prefix}-off", router_port=free_port(), activity_tracking=False, **common)
    client = Swarm.manager().client
    ensure_router(Swarm(client), tracked)
    ensure_router(Swarm(client), untracked)
    engine = Engine(tracked)
    engine.start()
    names = [f"{prefix}{i:03d}" for i in range(args.stacks)]
    try:
        started = time.monotonic()
        deploy_many(engine, names)
        print(f"{args.stacks} stacks deployed in {time.monotonic() - started:.0f} s", flush=True)
        put_to_sleep(engine, names[: args.stacks // 2])
        print(f"{args.stacks // 2} of them asleep", flush=True)
        scale_figures(engine, tracked, work)
        target = f"{prefix}fast"
        record = engine.deploy(target, "main", ADMIN, app=f"{prefix}static").wait(600)
        if record.state != "succeeded":
            raise SystemExit(f"the static stack failed: {record.error}")
        throughput_figures(engine, tracked, untracked, target, args.rounds, args.requests)
    finally:
        engine.close()
        purge(client, prefix)
        remove_router(Swarm(client), tracked)
        remove_router(Swarm(client), untracked)


def scale_figures(engine: Engine, settings: Settings, work: Path) -> None:
    passes = [timed(engine.idle_pass) for _ in range(5)]
    lists = [timed(lambda: [engine.next_for(s) for s in engine.list_stacks()]) for _ in range(5)]
    env = env_for_cli(settings, work)
    cli = [timed(lambda: subprocess.run([sys.executable, "-m", "yadockeri", "list"], env=env, check=True,
                                        capture_output=True)) for _ in range(3)]
    baseline = [timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(3)]
    print()
    print(f"scheduler pass over {len(engine.list_stacks())} stacks  median {statistics.median(passes) * 1000:7.1f} ms"
          f"   (target < 1 s)")
    print(f"list (engine, with schedules)      median {statistics.median(lists) * 1000:7.1f} ms   (target < 1 s)")
    print(f"`yadockeri list` (a new process)   median {statistics.median(cli) * 1000:7.1f} ms"
          f"   (python startup alone: {statistics.median(baseline) * 1000:.0f} ms)")


def throughput_figures(engine: Engine, tracked: Settings, untracked: Settings, stack: str, rounds: int,
                       per_run: int) -> None:
    host = f"{stack}.{tracked.domains[0]}"
    scheduler = Scheduler(engine, serve_status=False).start()  # follows the tracked router's log
    try:
        deadline = time.monotonic() + 30
        while scheduler.tracker is None and time.monotonic() < deadline:
            time.sleep(0.2)
        ab(tracked.router_port, host, 2000)  # warm both up
        ab(untracked.router_port, host, 2000)
        on: list[float] = []
        off: list[float] = []
        for index in range(rounds):  # pairs, alternating which goes first: drift cancels out
            for which in (["on", "off"] if index % 2 == 0 else ["off", "on"]):
                settings = tracked if which == "on" else untracked
                (on if which == "on" else off).append(ab(settings.router_port, host, per_run))
        time.sleep(2 * tracked.activity_flush + 1)
        before = engine.store.require_stack(stack).requests
        ab(tracked.router_port, host, 10_000)
        deadline = time.monotonic() + 60
        while engine.store.require_stack(stack).requests < before + 10_000 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2 * tracked.activity_flush + 1)  # and nothing more arrives
        counted = engine.store.require_stack(stack).requests - before
    finally:
        scheduler.stop()
    ratio = statistics.median(on) / statistics.median(off)
    paired = statistics.median(a / b for a, b in zip(on, off, strict=True))
    print()
    for name, runs in (("on ", on), ("off", off)):
        print(f"router throughput, tracking {name}  median {statistics.median(runs):8.0f} req/s   "
              f"runs {', '.join(f'{r:.0f}' for r in runs)}")
    print(f"on/off (medians)                 {ratio:8.3f}   (target within 1%: 0.99..1.01)")
    print(f"on/off (median of paired runs)   {paired:8.3f}")
    print(f"10,000 requests through the tracked router: {counted} counted   (target: all 10,000)")
    print(f"requests that did not get a 200: {'; '.join(FAILURES) if FAILURES else 'none'}")


if __name__ == "__main__":
    main()
