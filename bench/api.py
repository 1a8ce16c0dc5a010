"""The HTTP API as its users meet it: listing what runs, and following a deployment, each against
what a user had without it, measured in the same run.

The API is served as in production (`ApiServer`: uvicorn on its thread, in the engine's
process) by a real engine on SQLite, with records written the way the engine writes them. No
Docker is needed: the engine is pointed at a socket that does not exist, so nothing here can
touch the swarm or its router.

1. What runs: `GET /api/v1/stacks` with STACKS stack records, from CLIENTS concurrent clients
   sending back to back with a named token, REQUESTS requests in all, then from one client
   alone. The clients are a cheap load generator in a process of their own (one keep-alive
   connection per client, all coroutines on one loop, like wrk): with a thread and a
   requests.Session each, on 2 cores, most of what was measured was the clients' own GIL.
   Baseline: `docker stack ls` with the /usr/bin/docker CLI, timed per call, one at a time,
   on this machine's swarm (what a user ran to see what runs, the 2016 way).
2. Following a deployment: STREAMS clients (in a process of their own too) hold
   `GET /api/v1/deployments/{id}/events` open while this process changes the deployment's
   steps CHANGES times exactly as the pipeline does (the store's write, then the job's
   ReporterGuard, which tells the feed), 0.15-0.45 s apart. A change's delay runs from just
   before the store's write to the moment a client has read that step's event (both processes
   read the system's monotonic clock). Baseline: one client polling
   `GET /api/v1/deployments/{id}` every 1 s, as a script without streams does, timed for the
   same changes. A change counts as seen when the step shows that state or a later one (a poll
   can miss a short `running`).

    .venv/bin/python bench/api.py [--stacks 100] [--clients 50] [--requests 2000]
                                  [--streams 10] [--changes 50]

Targets: the list's p99 under 100 ms with 50 clients; a step's event on every open stream
within 100 ms (p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.server import ApiServer
from stacks.config import AppConfig, Settings
from stacks.engine import Actor, Engine
from stacks.progress import ReporterGuard

ADMIN = Actor(id="cli:bench", source="cli", admin=True)
DOCKER = "/usr/bin/docker"  # the 2016 way's CLI (Debian's, with `stack ls`)
NO_DOCKER = "unix:///nonexistent/yadockeri-bench-api.sock"  # the engine must never reach a swarm
TOKEN_VARIABLE = "YADOCKERI_BENCH_API_TOKEN"  # how the load process gets its token (not argv)
POLL = 1.0  # the baseline script's interval
TARGET_MS = 100.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (of 20 values, p99 is the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# 1. What runs ----------------------------------------------------------------------------------
def load(url: str, clients: int, total: int) -> None:
    """In the load process: CLIENTS connections send TOTAL requests back to back; prints JSON.

    A cheap load generator, like wrk: each client is a coroutine holding one HTTP/1.1 keep-alive
    connection, all on one event loop. (With a thread and a requests.Session per client, on this
    2-core machine most of what was measured was the clients' own wait for their process's GIL.)"""
    asyncio.run(_load(url, clients, total))


async def _load(url: str, clients: int, total: int) -> None:
    parts = urlsplit(url)
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Authorization: Bearer {os.environ[TOKEN_VARIABLE]}\r\n\r\n").encode()
    per_client = max(1, total // clients)
    latencies: list[float] = []
    failures: list[str] = []
    ready = asyncio.Barrier(clients)

    async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        await reader.readexactly(length)
        return int(lines[0].split()[1])

    async def client() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        for _ in range(2):  # the connection and the token are warm before the clock starts
            await ask(reader, writer)
        await ready.wait()
        for _ in range(per_client):
            started = time.perf_counter()
            status = await ask(reader, writer)
            took = time.perf_counter() - started
            if status == 200:
                latencies.append(took)
            else:
                failures.append(str(status))
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    print(json.dumps({"latencies": latencies, "failures": failures, "seconds": time.perf_counter() - started}))


@dataclass
class LoadResult:
    latencies: list[float]
    failures: list[str]
    seconds: float


def run_load(url: str, token: str, clients: int, total: int) -> LoadResult:
    env = {**os.environ, TOKEN_VARIABLE: token}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load", url, str(clients), str(total)],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the load process failed:\n{done.stderr}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return LoadResult(answer["latencies"], answer["failures"], answer["seconds"])


@dataclass
class Baseline:
    latencies: list[float]
    stacks: int
    problem: str | None = None


def docker_stack_ls(calls: int) -> Baseline:
    """`docker stack ls`, one call at a time, as a user types it."""
    if not Path(DOCKER).exists():
        return Baseline([], 0, f"{DOCKER} is not installed")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    latencies: list[float] = []
    stacks = 0
    for _ in range(calls):
        started = time.perf_counter()
        done = subprocess.run([DOCKER, "stack", "ls"], env=env, capture_output=True, text=True, timeout=60, check=False)
        took = time.perf_counter() - started
        if done.returncode != 0:
            return Baseline([], 0, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "it failed")
        latencies.append(took)
        stacks = max(0, len(done.stdout.strip().splitlines()) - 1)
    return Baseline(latencies, stacks)


# 2. Following a deployment ---------------------------------------------------------------------
@dataclass
class Seen:
    """When one client first knew of each change: (step, state) -> perf_counter()."""

    at: dict[tuple[str, str], float] = field(default_factory=dict)
    ended: bool = False
    problem: str | None = None

    def saw(self, step: str, state: str, now: float) -> None:
        self.at.setdefault((step, "running"), now)  # a step that shows at all has started
        if state != "running":
            self.at.setdefault((step, state), now)


def follow(base: str, token: str, deployment_id: int, seen: Seen, opened: threading.Event) -> None:
    """One client of the event stream: reads events as they arrive until `end`."""
    url = f"{base}/api/v1/deployments/{deployment_id}/events"
    try:
        with requests.get(url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=120) as response:
            if response.status_code != 200:
                seen.problem = f"answered {response.status_code}"
                return
            buffer = b""
            for chunk in response.iter_content(chunk_size=None):  # as each HTTP chunk arrives
                now = time.perf_counter()
                buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    fields: dict[str, str] = {}
                    for line in block.decode().splitlines():
                        key, _, value = line.partition(": ")
                        if key:  # a line starting with ":" is a comment (the keep-alive)
                            fields[key] = value
                    if fields.get("event") == "step":
                        data = json.loads(fields["data"])
                        seen.saw(data["name"], data["state"], now)
                    elif fields.get("event") == "state":
                        opened.set()
                    elif fields.get("event") == "end":
                        seen.ended = True
                        return
    except requests.RequestException as error:
        seen.problem = str(error)


def poll(base: str, token: str, deployment_id: int, seen: Seen, stop: threading.Event) -> None:
    """The baseline: GET the deployment every POLL seconds until it finished."""
    url = f"{base}/api/v1/deployments/{deployment_id}"
    with requests.Session() as session:
        while not stop.is_set():
            asked = time.perf_counter()
            response = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            now = time.perf_counter()
            if response.status_code != 200:
                seen.problem = f"answered {response.status_code}"
                return
            record = response.json()
            for step in record["steps"]:
                seen.saw(step["name"], step["state"], now)
            if record["state"] in ("succeeded", "failed", "interrupted"):
                seen.ended = True
                return
            stop.wait(max(0.0, POLL - (time.perf_counter() - asked)))


def change_steps(engine: Engine, deployment_id: int, changes: int, rng: random.Random) -> dict[tuple[str, str], float]:
    """Steps started and ended as the pipeline does them; returns when each change began."""
    guard = ReporterGuard(None, engine.feed)  # what the job runner gives the pipeline
    began: dict[tuple[str, str], float] = {}
    for index in range((changes + 1) // 2):
        name = f"step-{index:02d}"
        began[(name, "running")] = step_began = time.perf_counter()
        step_id = engine.store.start_step(deployment_id, name)
        guard.step(deployment_id, name, "running", None, None)
        time.sleep(rng.uniform(0.15, 0.45))
        if len(began) == changes:
            break
        began[(name, "ok")] = time.perf_counter()
        engine.store.end_step(step_id, "ok", None)
        guard.step(deployment_id, name, "ok", time.perf_counter() - step_began, None)
        time.sleep(rng.uniform(0.15, 0.45))
    return began


def follow_all(base: str, deployment_id: int, streams: int) -> None:
    """In the followers' process: STREAMS streams and the poller; says `open` once every stream
    has its first event, then prints when each client first saw each change (JSON)."""
    token = os.environ[TOKEN_VARIABLE]
    followers = [Seen() for _ in range(streams)]
    opened = [threading.Event() for _ in range(streams)]
    threads = [threading.Thread(target=follow, args=(base, token, deployment_id, seen, event), daemon=True)
               for seen, event in zip(followers, opened, strict=True)]
    poller, stop = Seen(), threading.Event()
    threads.append(threading.Thread(target=poll, args=(base, token, deployment_id, poller, stop), daemon=True))
    for thread in threads:
        thread.start()
    for event in opened:
        event.wait(60)
    print("open", flush=True)
    for thread in threads:
        thread.join(120)
    stop.set()
    print(json.dumps([{"at": {f"{step}|{state}": at for (step, state), at in seen.at.items()}, "ended": seen.ended,
                       "problem": seen.problem} for seen in [*followers, poller]]), flush=True)


@dataclass
class Delays:
    streams: list[float]
    polling: list[float]
    missed: int  # changes some client never saw
    problems: list[str]


def stream_delays(engine: Engine, base: str, token: str, streams: int, changes: int) -> Delays:
    """The clients run in a process of their own (perf_counter is the system's monotonic clock,
    the same in both); this one changes the steps as a deployment's job does."""
    deployment, _ = engine.store.create_deployment(stack="followed", app="shop", branch="main", kind="deploy",
                                                   actor=ADMIN.id, source="cli", create=True)
    guard = ReporterGuard(None, engine.feed)
    engine.store.start_deployment(deployment.id, engine.runner)
    guard.started(engine.store.get_deployment(deployment.id))
    clients = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--follow", base, str(deployment.id),
                                str(streams)], env={**os.environ, TOKEN_VARIABLE: token}, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert clients.stdout is not None
        if clients.stdout.readline().strip() != "open":  # every stream had its first event
            raise SystemExit("the followers' process did not start")
        began = change_steps(engine, deployment.id, changes, random.Random(7))
        time.sleep(POLL + 0.5)  # the poller's next look shows the last change
        engine.store.finish_deployment(deployment.id, "succeeded")
        guard.finished(engine.store.get_deployment(deployment.id), [])
        output, _ = clients.communicate(timeout=120)
    finally:
        if clients.poll() is None:
            clients.kill()
            clients.wait()
    seen = [Seen({(key.partition("|")[0], key.partition("|")[2]): at for key, at in client["at"].items()},
                 client["ended"], client["problem"]) for client in json.loads(output.strip().splitlines()[-1])]
    followers, poller = seen[:-1], seen[-1]
    problems = [f"stream {i + 1}: {s.problem}" for i, s in enumerate(followers) if s.problem]
    problems += [f"stream {i + 1}: no end event" for i, s in enumerate(followers) if not s.ended and not s.problem]
    problems += [f"poller: {poller.problem}"] if poller.problem else []
    missed = sum(1 for client in seen for key in began if key not in client.at)
    return Delays([client.at[key] - at for client in followers for key, at in began.items() if key in client.at],
                  [poller.at[key] - at for key, at in began.items() if key in poller.at], missed, problems)


# Together --------------------------------------------------------------------------------------
def setup(work: Path, stacks: int) -> Engine:
    settings = Settings(data_dir=work / "data", database_url=None, api_rate="100000/s", api_keepalive=15.0,
                        apps={"shop": AppConfig(repo=str(work / "repo"), default=True)})
    engine = Engine(settings, docker_host=NO_DOCKER)
    engine.start()
    for index in range(stacks):  # records as a deploy writes them: a stack, its owner, a deployment
        engine.store.create_deployment(stack=f"review-{index:03d}", app="shop", branch=f"feature-{index}",
                                       kind="deploy", actor=f"U{index:08d}", source="slack", create=True)
    return engine


def row(name: str, values: list[float], target: str = "") -> str:
    if not values:
        return f"{name:<52}{'-':>10}{'-':>10}   {target}"
    p50, p99 = percentile(values, 0.50) * 1000, percentile(values, 0.99) * 1000
    return f"{name:<52}{p50:>7.1f} ms{p99:>7.1f} ms   {target}"


def verdict(values: list[float]) -> str:
    return "✓" if values and percentile(values, 0.99) * 1000 < TARGET_MS else "✗"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--load":  # the clients' process (run_load)
        load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--follow":  # the followers' process (stream_delays)
        follow_all(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--docker-calls", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-api-"))
    engine = setup(work, args.stacks)
    server: ApiServer | None = None
    try:
        server = ApiServer(engine, port=0).start()
        token = engine.tokens.create_named("bench", ADMIN)
        url = f"{server.url}/api/v1/stacks"
        print(f"API on {server.url} (SQLite, {args.stacks} stacks); {args.clients} clients send "
              f"{args.requests} requests ...", flush=True)
        many = run_load(url, token, args.clients, args.requests)
        print("one client sends 200 requests ...", flush=True)
        one = run_load(url, token, 1, 200)
        print(f"baseline: `docker stack ls` {args.docker_calls} times ...", flush=True)
        docker = docker_stack_ls(args.docker_calls)
        print(f"{args.streams} open streams and a poller every {POLL:g} s follow {args.changes} step changes ...",
              flush=True)
        delays = stream_delays(engine, server.url, token, args.streams, args.changes)
    finally:
        if server is not None:
            server.stop()
        engine.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'measure':<52}{'p50':>10}{'p99':>10}   target")
    print(row(f"GET /api/v1/stacks, {args.clients} clients ({len(many.latencies)} answers)", many.latencies,
              f"p99 < {TARGET_MS:.0f} ms {verdict(many.latencies)}"))
    print(row("GET /api/v1/stacks, 1 client alone (200 answers)", one.latencies))
    print(row(f"baseline: `docker stack ls`, 1 at a time ({len(docker.latencies)} calls)", docker.latencies,
              docker.problem or f"this swarm's {docker.stacks} stacks"))
    print(row(f"step change -> event on {args.streams} open streams ({len(delays.streams)})", delays.streams,
              f"p99 < {TARGET_MS:.0f} ms {verdict(delays.streams)}"))
    print(row(f"baseline: polling the deployment every {POLL:g} s ({len(delays.polling)})", delays.polling))
    print(f"\nthroughput with {args.clients} clients: {len(many.latencies) / many.seconds:.0f} answers/s "
          f"({statistics.mean(many.latencies) * 1000:.1f} ms mean); alone: {len(one.latencies) / one.seconds:.0f}/s")
    failures = many.failures + one.failures
    print(f"requests that did not get a 200: {', '.join(sorted(set(failures))) + f' ({len(failures)})' if failures else 'none'}")
    print(f"changes a client never saw: {delays.missed}; problems: {'; '.join(delays.problems) or 'none'}")


if __name__ == "__main__":
    main()
