"""Deploy speed as a user waits for it: the `yadockeri` command end to end against the 2016 way
end to end, in the same run, on the same app (a web process and one middleware service).

The 2016 way is the seed's shell steps with its own parts: `git clone`, `docker build`,
`docker stack deploy` for the middleware, `docker service create` of the web service named
after the stack on a plain router network, and a plain nginx with the seed's config
(`resolver 127.0.0.11 valid=5s`, `proxy_pass http://$subdomain:8080`) on its own port and
network. Nothing of yadockeri's router is on its path.

yadockeri runs as after `scripts/up.sh` (`yadockeri reaper`, the long-running process without
Slack), so the command is the thin client a user types (yadockeri/control.py).

Every run deploys a fresh commit as a new stack; pairs alternate which side goes first; both
sides are timed by the same outside poller (this process, asking the side's own router every
POLL seconds for the stack's page) from the moment the user starts until the page shows the
new commit and the command has returned.

A second table does the same for an env change (live: every request through the router shows
the new value; 2016: `docker service update -d --env-add`) and a no-change redeploy (2016:
`git pull`, a cached `docker build`, `docker service update -d --image`).

    .venv/bin/python bench/deploy.py [--pairs 5]

Targets (issue 10): cold deploy ratio <= 1.10; env change live < 2 s; no-change redeploy
< 0.5 s in the engine and < 1 s by the command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.config import AppConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Actor, Engine
from stacks.router import ensure_router, remove_router
from tests.support.infra import SESSION_PREFIX, env_for_cli, free_port, free_subnet, purge
from tests.support.sample_app import DOCKERFILE, SampleRepo

POLL = 0.05  # the outside poller's interval, the same for both sides
LIVE_WINDOW = 2.0  # a change is live once every answer for this long shows it
ADMIN = Actor(id="cli:bench", source="cli", admin=True)
COMPOSE = """\
version: '3.8'
services:
  cache:
    image: busybox:latest
    command: [sh, -c, 'mkdir -p /srv && echo middleware-ok > /srv/index.html && exec httpd -f -p 8080 -h /srv']
"""
# The same file for the 2016 way, as it must be written on a kernel without IPVS (no VIPs):
# yadockeri's compose checker sets this itself.
PLAIN_COMPOSE = COMPOSE + "    deploy: {endpoint_mode: dnsrr}\n"
# A build with some real work in it, like an app's dependency install.
BENCH_DOCKERFILE = DOCKERFILE.replace("COPY www /www", "RUN for i in $(seq 1 200000); do :; done\nCOPY www /www")
DOCKER = shutil.which("docker", path="/usr/bin:/usr/local/bin") or "docker"  # Debian's, with `stack deploy`

# The seed's router config (reference/yadockeri-2016.txt), for this machine's domain, its
# offline nginx image (`user nginx`, pid under /run) and no log files.
PLAIN_NGINX_CONF = r"""
user nginx;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_timeout 65;
    resolver 127.0.0.11 valid=5s;
    server {
        listen 80;
        set_real_ip_from '10.0.0.0/8';
        real_ip_header X-Forwarded-For;
        proxy_set_header X-Forwarded-Scheme $http_x_forwarded_proto;
        proxy_set_header Host $host;
        server_name _;
        if ($host ~* ([^.]+)\.y\.localhost$) {
            set $subdomain $1;
        }
        location / {
            proxy_pass http://$subdomain:8080;
        }
    }
}
"""


# The outside poller ---------------------------------------------------------------------------
@dataclass
class Watch:
    """Polls one side's router for a stack's page from start() on, every POLL seconds."""

    url: str
    host: str
    wanted: str  # the page shows this when the change is there
    started: float = 0.0
    seen_at: list[tuple[float, bool]] = field(default_factory=list)  # (time since start, shows wanted)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watch:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                shown = self.wanted in session.get(self.url, headers={"Host": self.host}, timeout=2).text
            except requests.RequestException:
                shown = False
            self.seen_at.append((time.monotonic() - self.started, shown))
            time.sleep(POLL)

    def live_at(self) -> float | None:
        """When every answer from then on shows the change (for at least LIVE_WINDOW)."""
        last_bad = max((t for t, shown in self.seen_at if not shown), default=None)
        after = [t for t, shown in self.seen_at if shown and (last_bad is None or t > last_bad)]
        if not after or after[-1] - after[0] < LIVE_WINDOW:
            return None
        return after[0]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def timed(watch: Watch, action: Callable[[], None], timeout: float = 600) -> tuple[float, float]:
    """Run the user's action while the poller watches: (end to end, the action's own time).
    End to end: when the change is live through the router and the action has returned."""
    watch.start()
    action()
    returned = time.monotonic() - watch.started
    deadline = time.monotonic() + timeout
    while watch.live_at() is None:
        if time.monotonic() > deadline:
            watch.stop()
            raise SystemExit(f"{watch.host}: {watch.wanted!r} never became live")
        time.sleep(POLL)
    watch.stop()
    return max(returned, watch.live_at() or 0.0), returned


# The two ways ---------------------------------------------------------------------------------
def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(list(args), input=stdin, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed: {(result.stdout + result.stderr)[-800:]}")


@dataclass
class Bench:
    work: Path
    repo: SampleRepo
    settings: Settings
    env: dict[str, str]  # for the `yadockeri` command
    plain_port: int
    plain_network: str
    server: subprocess.Popen | None = None  # `yadockeri reaper`: the running yadockeri the command asks

    def yadockeri(self, *words: str) -> None:
        run(sys.executable, "-m", "yadockeri", *words, env=self.env)

    def ours(self, stack: str, wanted: str) -> Watch:
        return Watch(f"http://127.0.0.1:{self.settings.router_port}/", f"{stack}.y.localhost", wanted)

    def theirs(self, stack: str, wanted: str) -> Watch:
        return Watch(f"http://127.0.0.1:{self.plain_port}/", f"{stack}.y.localhost", wanted)

    def plain_deploy(self, stack: str) -> None:
        """The 2016 script: clone, build, middleware with stack deploy, web with service create."""
        checkout = self.work / f"checkout-{stack}"
        run("git", "clone", "--quiet", "--depth", "1", "--branch", "main", f"file://{self.repo.path}", str(checkout))
        tag = f"plain2016/{stack}:latest"
        run(DOCKER, "build", "-q", "-t", tag, str(checkout))
        run(DOCKER, "stack", "deploy", "--resolve-image", "never", "-c", "-", stack, stdin=PLAIN_COMPOSE,
            env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")})
        run(DOCKER, "service", "create", "-d", "--name", stack, "--endpoint-mode", "dnsrr",
            "--network", f"{stack}_default", "--network", self.plain_network,
            "--env", "PORT=8080", "--env", "MIDDLEWARE_URL=http://cache:8080/",
            "--label", f"yadockeri.stack={stack}", "--container-label", f"yadockeri.stack={stack}", tag,
            "sh", "-c", "exec httpd -f -p $PORT -h /www")

    def plain_redeploy(self, stack: str) -> None:
        checkout = self.work / f"checkout-{stack}"
        run("git", "-C", str(checkout), "pull", "--quiet", "--ff-only")
        tag = f"plain2016/{stack}:latest"
        run(DOCKER, "build", "-q", "-t", tag, str(checkout))
        run(DOCKER, "service", "update", "-d", "--image", tag, stack)


def plain_router(settings: Settings, prefix: str) -> tuple[int, str]:
    """The seed's nginx as a global service on its own overlay network and host port."""
    network, port = f"{prefix}-plainnet", free_port()
    run(DOCKER, "network", "create", "--driver", "overlay", network)
    run(DOCKER, "config", "create", f"{prefix}-plainconf", "-", stdin=PLAIN_NGINX_CONF)
    run(DOCKER, "service", "create", "-d", "--name", f"{prefix}-plainrouter", "--mode", "global",
        "--network", network, "--endpoint-mode", "dnsrr",
        "--publish", f"mode=host,target=80,published={port}",
        "--config", f"source={prefix}-plainconf,target=/etc/nginx/nginx.conf", "yadockeri/nginx-base:local")
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return port, network
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise SystemExit("the plain router did not start") from None
            time.sleep(0.2)


def setup(prefix: str) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-"))
    repo = SampleRepo(work / "app")
    repo.write({
        "Dockerfile": BENCH_DOCKERFILE,
        ".yadockeri.yml": "processes:\n  web: {command: 'exec httpd -f -p $PORT -h /www'}\nservices: compose.yml\n"
                          "env: {MIDDLEWARE_URL: 'http://cache:8080/'}\n",
        "compose.yml": COMPOSE,
    })
    repo.commit("bench app")
    return serve(prefix, work, repo)


def serve(prefix: str, work: Path, repo: SampleRepo) -> Bench:
    """Both ways' routers for `repo`'s app, and yadockeri running as after `scripts/up.sh`."""
    settings = Settings(
        data_dir=work / "data", apps={f"{prefix}app": AppConfig(repo=str(repo.path), default=True)},
        router_network=f"{prefix}-router",
        router_subnet=free_subnet(), router_service=f"{prefix}-router", router_port=free_port(),
        router_base_image="yadockeri/nginx-base:local", domain="y.localhost",
        firewall=False,  # a bench router: the install's packet filter is not its to change
    )
    ensure_router(Swarm.manager(), settings)
    port, network = plain_router(settings, prefix)
    bench = Bench(work, repo, settings, env_for_cli(settings, work), port, network)
    # As after `scripts/up.sh`: yadockeri runs, and the command asks it (yadockeri/control.py).
    bench.server = subprocess.Popen([sys.executable, "-m", "yadockeri", "reaper"], env=bench.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (settings.data_dir / "control.sock").exists():
        if time.monotonic() > deadline or bench.server.poll() is not None:
            raise SystemExit("`yadockeri reaper` did not start")
        time.sleep(0.1)
    return bench


def teardown(bench: Bench, prefix: str) -> None:
    if bench.server is not None:
        bench.server.terminate()
        bench.server.wait(30)
    client = Swarm.manager().client
    purge(client, prefix)
    for service in client.api.services():
        if service["Spec"].get("Labels", {}).get("yadockeri.stack", "").startswith(prefix):
            client.api.remove_service(service["ID"])
    subprocess.run([DOCKER, "config", "rm", f"{prefix}-plainconf"], capture_output=True, check=False)
    subprocess.run([DOCKER, "network", "rm", bench.plain_network], capture_output=True, check=False)
    for image in client.images.list(name="plain2016"):
        subprocess.run([DOCKER, "rmi", "-f", image.id], capture_output=True, check=False)
    remove_router(Swarm(client), bench.settings)
    shutil.rmtree(bench.work, ignore_errors=True)


# Measuring ------------------------------------------------------------------------------------
def cold_pairs(bench: Bench, prefix: str, pairs: int) -> tuple[list, list]:
    ours, theirs = [], []
    for pair in range(pairs):
        order = ("yadockeri", "2016") if pair % 2 == 0 else ("2016", "yadockeri")
        for who in order:
            stack = f"{prefix}{'y' if who == 'yadockeri' else 'p'}{pair}"
            label = f"{who}-{pair}-{time.monotonic_ns()}"
            bench.repo.write({"www/content.txt": label})
            bench.repo.commit(label)  # a commit with no image yet: a cold deploy
            if who == "yadockeri":
                ours.append(timed(bench.ours(stack, f"content={label}"), partial(bench.yadockeri, "deploy", stack, "main")))
            else:
                theirs.append(timed(bench.theirs(stack, f"content={label}"), partial(bench.plain_deploy, stack)))
            took, returned = (ours if who == "yadockeri" else theirs)[-1]
            print(f"  pair {pair + 1}  {who:<9}  {took:6.2f} s  (command returned at {returned:5.2f} s)", flush=True)
    return ours, theirs


def change_pairs(bench: Bench, prefix: str, pairs: int, engine: Engine) -> dict[str, list[float]]:
    """Env changes and no-change redeploys of the stacks the cold pairs made."""
    results: dict[str, list[float]] = {"env yadockeri": [], "env 2016": [], "noop command": [], "noop engine": [],
                                       "noop 2016": []}
    for pair in range(pairs):
        ours, theirs, value = f"{prefix}y{pair}", f"{prefix}p{pair}", f"g{pair}x{time.monotonic_ns()}"
        order = ("yadockeri", "2016") if pair % 2 == 0 else ("2016", "yadockeri")
        for who in order:
            if who == "yadockeri":
                took, _ = timed(bench.ours(ours, f"greeting={value}"),
                                partial(bench.yadockeri, "env", ours, "set", f"GREETING={value}"))
            else:
                took, _ = timed(bench.theirs(theirs, f"greeting={value}"),
                                partial(run, DOCKER, "service", "update", "-d", "--env-add", f"GREETING={value}", theirs))
            results[f"env {who}"].append(took)
        # Main has moved on since the cold pairs: bring the stack to it (and past swarm's update
        # monitor, which holds the stack), so that the timed redeploys have nothing to change.
        engine.redeploy(ours, ADMIN).done.result(600)
        started = time.monotonic()
        bench.yadockeri("redeploy", ours)
        results["noop command"].append(time.monotonic() - started)
        started = time.monotonic()
        record = engine.redeploy(ours, ADMIN).wait(600)
        results["noop engine"].append(time.monotonic() - started)
        if record.state != "succeeded" or {s.name: s.state for s in record.steps}.get("build") != "skipped":
            raise SystemExit(f"the no-change redeploy was not one: {record.state} {record.error}")
        started = time.monotonic()
        bench.plain_redeploy(theirs)
        results["noop 2016"].append(time.monotonic() - started)
        print(f"  pair {pair + 1}  env {results['env yadockeri'][-1]:.2f} s vs {results['env 2016'][-1]:.2f} s;"
              f"  no-change redeploy: command {results['noop command'][-1]:.2f} s, engine "
              f"{results['noop engine'][-1]:.3f} s, 2016 {results['noop 2016'][-1]:.2f} s", flush=True)
    return results


def line(name: str, values: list[float], target: str = "") -> str:
    runs = ", ".join(f"{v:.2f}" for v in values)
    return f"  {name:<34} median {statistics.median(values):6.2f} s   {target:<14} runs {runs}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    prefix = f"{SESSION_PREFIX}b"
    bench = setup(prefix)
    engine = Engine(bench.settings)
    engine.start()
    try:
        print(f"cold deploys (a new commit, a new stack; poller every {POLL} s):", flush=True)
        ours, theirs = cold_pairs(bench, prefix, args.pairs)
        print("changes of those stacks:", flush=True)
        changes = change_pairs(bench, prefix, args.pairs, engine)
    finally:
        engine.close()
        teardown(bench, prefix)
    ours_e2e, theirs_e2e = [t for t, _ in ours], [t for t, _ in theirs]
    ratio = statistics.median(ours_e2e) / statistics.median(theirs_e2e)
    print()
    print("cold deploy, end to end (until the page shows the commit and the command returned):")
    print(line("yadockeri deploy", ours_e2e))
    print(line("2016 way (own plain nginx)", theirs_e2e))
    print(f"  ratio yadockeri / 2016 way         {ratio:6.3f}     (target <= 1.10)")
    print("  every pair (yadockeri / 2016):     " + ", ".join(f"{a / b:.2f}" for a, b in zip(ours_e2e, theirs_e2e, strict=True)))
    print()
    print("changes (end to end: live through the router and the command returned):")
    print(line("env set, yadockeri", changes["env yadockeri"], "(target < 2 s)"))
    print(line("env set, 2016 way (service update)", changes["env 2016"]))
    print(line("no-change redeploy, command", changes["noop command"], "(target < 1 s)"))
    print(line("no-change redeploy, engine", changes["noop engine"], "(target < 0.5 s)"))
    print(line("no-change redeploy, 2016 way", changes["noop 2016"]))


if __name__ == "__main__":
    main()
