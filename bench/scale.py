"""A thousand stacks on one swarm: what one more stack costs as they pile up.

Stacks of the example app (examples/hello) are deployed in waves; between waves one more stack
is deployed and timed as its user waits for it (asked -> its page answers 200 through the
router), then destroyed. The baseline, timed at the same moments, is the 2016 way with its own
parts: a plain `docker service create` of the same image on a plain overlay network, waited for
until a plain nginx (not our router) answers for it. Then, at the full count (half of them
asleep): the scheduler pass and `list` in the engine, `yadockeri list` as a new process, the
memory of yadockeri (this process: the engine runs in it) and of the router. Last, a router
network made small on purpose (a /28) and filled: how fast the next deploy is refused, and how
fast a rollout that needs one address more fails.

    .venv/bin/python bench/scale.py [--stacks 1000] [--probes 3]

Targets: the stacks held; one more deploy at the full count within 1.2x of the one at 0; the
pass and list in the engine < 50 ms, the command < 1 s; a full network refused in < 5 s.
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
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import ADMIN, deploy_many, put_to_sleep, timed
from stacks import router_network
from stacks.config import EXAMPLE_APP_DIR, AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Engine
from stacks.errors import CapacityReached
from stacks.router import PAGE_HEADER, ensure_router, remove_router
from tests.support.infra import SESSION_PREFIX, env_for_cli, free_port, purge, stop_process
from tests.support.sample_app import SampleRepo

PLAIN_NGINX = "yadockeri/nginx-base:local"


def answers(port: int, host: str, timeout: float = 300) -> None:
    """Until a GET of `host` through the router on `port` answers 200 from the stack itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=5)
            if response.status_code == 200 and PAGE_HEADER not in response.headers:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{host} did not answer through the router within {timeout:.0f} s")


class Plain:
    """The 2016 way: `docker service create` on an overlay network, a plain nginx in front. Not
    bench/deploy.py's seed config: its `resolver valid=5s` would hold the poller's first "no such
    name" for 5 s and time nginx's cache, not the swarm; this one keeps names for 1 s, as ours."""

    def __init__(self, prefix: str, image: str) -> None:
        self.prefix, self.image, self.port = prefix, image, free_port()
        self.network = f"{prefix}-plainnet"
        self.work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-plain-"))
        docker("network", "create", "-d", "overlay", "--subnet", "172.16.248.0/22", self.network)
        (self.work / "nginx.conf").write_text(
            "worker_processes 1; error_log stderr warn; events { worker_connections 1024; }\n"
            "http { access_log off; resolver 127.0.0.11 valid=1s ipv6=off;\n"
            "  server { listen 80; location / { set $up $host; proxy_pass http://$up:8080; } } }\n")
        docker("service", "create", "-d", "--quiet", "--name", f"{prefix}-plainnginx", "--network", self.network,
               "--endpoint-mode", "dnsrr", "--publish", f"mode=host,target=80,published={self.port}",
               "--mount", f"type=bind,src={self.work},dst=/plain,readonly",
               PLAIN_NGINX, "nginx", "-c", "/plain/nginx.conf", "-g", "daemon off; user root;")

    def deploy(self, name: str) -> float:
        """A service as a user of the 2016 way makes one, timed until nginx answers for it."""
        started = time.perf_counter()
        docker("service", "create", "-d", "--quiet", "--name", f"{self.prefix}-p{name}",
               "--network", f"name={self.network},alias={name}", "--endpoint-mode", "dnsrr", self.image)
        answers(self.port, name)
        took = time.perf_counter() - started
        docker("service", "rm", f"{self.prefix}-p{name}")
        return took


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def probe(engine: Engine, settings: Settings, plain: Plain, label: str, count: int, probes: int) -> tuple[float, float]:
    """One more stack, `probes` times (each destroyed after), alternating with the baseline."""
    ours, theirs = [], []
    for index in range(probes):
        name = f"{label}{index}"
        for which in (("ours", "plain") if index % 2 == 0 else ("plain", "ours")):
            if which == "plain":
                theirs.append(plain.deploy(name))
                continue
            started = time.perf_counter()
            handle = engine.deploy(name, "main", ADMIN)
            answers(settings.router_port, f"{name}.{settings.domains[0]}")
            ours.append(time.perf_counter() - started)
            if handle.wait(600).state != "succeeded":
                raise SystemExit(f"probe {name} failed")
            engine.destroy(name, ADMIN).wait(600)
    print(f"one more stack at {count:5d} existing: yadockeri median {statistics.median(ours):6.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in ours)}); plain docker + nginx median "
          f"{statistics.median(theirs):6.2f} s", flush=True)
    return statistics.median(ours), statistics.median(theirs)


def memory_mib(container_filter: str) -> float:
    """Resident memory of the router's containers (cgroup v2, as `docker stats` reads it)."""
    ids = docker("ps", "-q", "--filter", container_filter).split()
    total = 0.0
    for container in ids:
        out = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).split("/")[0].strip()
        number, unit = float(out.rstrip("KMGiB")), out.lstrip("0123456789.")
        total += number * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}.get(unit, 1)
    return total


def own_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def at_full_count(engine: Engine, settings: Settings, work: Path) -> None:
    passes = [timed(engine.idle_pass) for _ in range(7)]
    lists = [timed(lambda: [engine.next_for(s) for s in engine.list_stacks()]) for _ in range(7)]
    env = env_for_cli(settings, work)
    listing = [sys.executable, "-m", "yadockeri", "list"]
    alone = [timed(lambda: subprocess.run(listing, env=env, check=True, capture_output=True)) for _ in range(3)]
    served = through_running(env, settings, listing)
    python = [timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(3)]
    found = router_network.addresses(engine.swarm, settings)
    stacks = engine.list_stacks()
    print(f"\nat {len(stacks)} stacks ({sum(s.asleep for s in stacks)} asleep): "
          f"{found.describe() if found else 'router network: ?'}")
    print(f"scheduler pass (engine)      median {statistics.median(passes) * 1000:7.1f} ms   (target < 50 ms)")
    print(f"list with schedules (engine) median {statistics.median(lists) * 1000:7.1f} ms   (target < 50 ms)")
    print(f"`yadockeri list` (a process) median {statistics.median(served) * 1000:7.1f} ms   (target < 1 s; "
          "through the running yadockeri, as with scripts/up.sh)")
    print(f"  the same with no yadockeri running: median {statistics.median(alone) * 1000:.0f} ms (it loads the "
          f"engine itself; python's own start {statistics.median(python) * 1000:.0f} ms)")
    print(f"memory: yadockeri (this process, engine in it) {own_rss_mib():.0f} MiB; router "
          f"{memory_mib(f'label=com.docker.swarm.service.name={settings.router_service}'):.0f} MiB", flush=True)


def through_running(env: dict[str, str], settings: Settings, listing: list[str]) -> list[float]:
    """`yadockeri list` while a long-running yadockeri (here `yadockeri reaper`) serves the
    everyday commands on its control socket (yadockeri/control.py), as a user has it."""
    running = subprocess.Popen([sys.executable, "-m", "yadockeri", "reaper"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (settings.data_dir / "control.sock").exists():
            if time.monotonic() > deadline or running.poll() is not None:
                raise SystemExit("`yadockeri reaper` did not start serving its control socket")
            time.sleep(0.2)
        return [timed(lambda: subprocess.run(listing, env=env, check=True, capture_output=True)) for _ in range(5)]
    finally:
        stop_process(running)


def full_network(base: dict[str, Any], prefix: str) -> None:
    """A /28 router network filled with stacks: the next deploy's refusal and a rollout's failure, timed."""
    settings = Settings(**{**base, "router_network": f"{prefix}-smallnet", "router_service": f"{prefix}-small",
                           "router_port": free_port(), "router_subnet": "172.16.252.0/28",
                           "data_dir": base["data_dir"].parent / "small"})
    ensure_router(Swarm.manager(), settings)
    engine = Engine(settings)
    engine.start()
    try:
        found = router_network.addresses(engine.swarm, settings)
        names = [f"{prefix}f{i:02d}" for i in range(found.free if found else 0)]
        deploy_many(engine, names)
        started = time.perf_counter()
        try:
            engine.deploy(f"{prefix}fx", "main", ADMIN)
            raise SystemExit("a deploy on a full router network was not refused")
        except CapacityReached as error:
            refused = time.perf_counter() - started
            said = str(error)
        started = time.perf_counter()
        _, handle = engine.change_env(names[0], {"WAVE": "2"}, [], ADMIN)
        record = handle.wait(600) if handle else None
        failed = time.perf_counter() - started
        print(f"\nfull /28 router network ({len(names)} stacks): next deploy refused in {refused * 1000:.0f} ms "
              f"(target < 5 s): {said[:110]}…")
        print(f"a rollout that needs one address more: {record.state if record else '?'} after {failed:.1f} s "
              f"(its deploy timeout is {settings.deploy_timeout} s)", flush=True)
    finally:
        engine.close()
        purge(Swarm.manager().client, f"{prefix}f")
        remove_router(Swarm.manager(), settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=3)
    args = parser.parse_args()
    prefix = f"{SESSION_PREFIX}s"
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-scale-"))
    repo = SampleRepo(work / "app")
    shutil.copytree(EXAMPLE_APP_DIR, repo.path, dirs_exist_ok=True)
    repo.commit("the example app")
    base: dict[str, Any] = dict(
        data_dir=work / "data", apps={f"{prefix}app": AppConfig(repo=str(repo.path), default=True)},
        router_base_image=PLAIN_NGINX, poll_interval=0.2, update_monitor=1, workers=8, sleep_after=3600,
        reap_after=30 * 86400, reaper_interval=3600, status_port=free_port(), activity_tracking=False,
        firewall=False,  # a bench router: the install's packet filter is not its to change
    )
    settings = Settings(**base, router_network=f"{prefix}-router", router_service=f"{prefix}-router",
                        router_port=free_port(), router_subnet="172.16.32.0/20")
    client = Swarm.manager().client
    ensure_router(Swarm(client), settings)
    engine = Engine(settings)
    engine.start()
    plain: Plain | None = None
    names = [f"{prefix}{i:04d}" for i in range(args.stacks)]
    half = args.stacks // 2
    try:
        deploy_many(engine, names[:1], timeout=1800)  # builds the image once: every stack after runs the same commit
        image = engine.store.require_stack(names[0]).image or ""
        plain = Plain(prefix, image)
        figures = {0: probe(engine, settings, plain, f"{prefix}z", 1, args.probes)}
        started = time.monotonic()
        deploy_many(engine, names[1:half], timeout=1800)
        print(f"{half} stacks deployed in {time.monotonic() - started:.0f} s", flush=True)
        figures[half] = probe(engine, settings, plain, f"{prefix}h", half, args.probes)
        put_to_sleep(engine, names[:half], timeout=1800)
        started = time.monotonic()
        deploy_many(engine, names[half:], timeout=1800)
        print(f"{args.stacks - half} more deployed in {time.monotonic() - started:.0f} s; the first {half} asleep",
              flush=True)
        figures[args.stacks] = probe(engine, settings, plain, f"{prefix}f", args.stacks, args.probes)
        at_full_count(engine, settings, work)
        (ours0, plain0), (ours_n, plain_n) = figures[0], figures[args.stacks]
        print(f"\none more deploy at {args.stacks} / at 0: yadockeri {ours_n / ours0:.2f}x (target <= 1.2x); "
              f"plain docker + nginx {plain_n / plain0:.2f}x (the swarm's own part)")
        full_network(base, prefix)
    finally:
        engine.close()
        purge(client, prefix)
        remove_router(Swarm(client), settings)


if __name__ == "__main__":
    main()
