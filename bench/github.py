"""A pull request's review stack as its team waits for it: from GitHub's `opened` delivery to
GitHub (a stand-in of its REST API) being told `success` with the URL, against the same deploy
started through yadockeri's HTTP API and followed on its event stream until live, in the same
run, on the same engine, router and app. Also: how fast the webhook is answered (GitHub gives
up after 10 s; yadockeri's target is 100 ms).

Each round pushes a fresh commit (a cold deploy of a new stack on both sides); rounds alternate
which side goes first.

    .venv/bin/python bench/github.py [--rounds 3]

Targets (issue 15): ratio webhook / API <= 1.05; the webhook answered in < 100 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.server import ApiServer
from stacks.config import AppConfig, PullRequestsConfig, Settings
from stacks.docker_adapter import Swarm
from stacks.engine import Actor, Engine
from stacks.router import ensure_router, remove_router
from tests.support.api import ApiClient
from tests.support.github_web.standin import GitHubStandin
from tests.support.github_web.webhooks import deliver, pull_request_payload
from tests.support.infra import SESSION_PREFIX, free_port, free_subnet, purge
from tests.support.sample_app import SampleRepo

REPO = "acme/shop"
SECRET = "bench-webhook-secret"
ADMIN = Actor(id="cli:bench", source="cli", admin=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prefix = f"{SESSION_PREFIX}g"
    work = Path(tempfile.mkdtemp(prefix="yadockeri-bench-github-"))
    sample = SampleRepo(work / "app")
    github = GitHubStandin()
    github.add_repo(REPO)
    app = f"{prefix}app"
    settings = Settings(
        data_dir=work / "data", router_network=f"{prefix}-router",
        router_subnet=free_subnet(), router_service=f"{prefix}-router",
        router_port=free_port(), router_base_image="yadockeri/nginx-base:local", domain="y.localhost", firewall=False,
        api_port=0, api_rate="1000/s", github_token=github.token, github_api_url=github.url,
        github_webhook_secret=SECRET,
        apps={app: AppConfig(repo=str(sample.path), default=True, github=REPO,
                             pull_requests=PullRequestsConfig(stack=f"{prefix}" + "{number}"))},
    )
    swarm = Swarm.manager()
    ensure_router(swarm, settings)
    engine = Engine(settings)
    engine.start()
    server = ApiServer(engine, port=0).start()
    client = ApiClient(server.url, engine.tokens.create_named("bench", ADMIN, admin=True))
    engine.check_docker()  # as in the long-running process, which has talked to Docker since its start
    hooked: list[float] = []
    answered: list[float] = []
    by_api: list[float] = []
    try:
        for round_ in range(args.rounds):
            for side in (("webhook", "api") if round_ % 2 == 0 else ("api", "webhook")):
                number = 100 + round_ * 2 + (side == "api")
                sample.write({"www/content.txt": f"{side}-{round_}-{time.monotonic_ns()}"})
                sha = sample.commit(f"round {round_} {side}")
                sample.git("update-ref", f"refs/pull/{number}/head", sha)
                stack = f"{prefix}{number}"
                if side == "webhook":
                    github.open_pull(REPO, number, sha, f"feature-{number}")
                    took, answer = webhook_round(server.url, github, number, sha, stack)
                    hooked.append(took)
                    answered.append(answer)
                    print(f"  round {round_ + 1}  webhook  {took:6.2f} s to success on GitHub "
                          f"(answered in {answer * 1000:.0f} ms)", flush=True)
                else:
                    took = api_round(client, number, stack)
                    by_api.append(took)
                    print(f"  round {round_ + 1}  API      {took:6.2f} s to live on the event stream", flush=True)
    finally:
        server.stop()
        engine.close()
        github.close()
        purge(swarm.client, prefix)
        remove_router(swarm, settings)
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(hooked) / statistics.median(by_api)
    print()
    print(f"{'measure':<58}{'median':>10}   target")
    print(f"{'opened delivery -> success on GitHub':<58}{statistics.median(hooked):>9.2f}s")
    print(f"{'same deploy through the API, followed to live':<58}{statistics.median(by_api):>9.2f}s")
    print(f"{'ratio webhook / API':<58}{ratio:>10.3f}   <= 1.05 {'✓' if ratio <= 1.05 else '✗'}")
    slowest = max(answered)
    print(f"{'webhook answered (median of the rounds)':<58}{statistics.median(answered) * 1000:>8.0f}ms")
    print(f"{'webhook answered (slowest of the rounds)':<58}{slowest * 1000:>8.0f}ms   < 100 ms "
          f"{'✓' if slowest < 0.1 else '✗'}")


def webhook_round(base: str, github: GitHubStandin, number: int, sha: str, stack: str) -> tuple[float, float]:
    payload = pull_request_payload("opened", repo=REPO, number=number, head_sha=sha, head_ref=f"feature-{number}")
    started = time.monotonic()
    answer = deliver(base + "/webhooks/github", "pull_request", payload, SECRET)
    answered = time.monotonic() - started
    if answer.status_code != 202:
        raise SystemExit(f"the webhook answered {answer.status_code}: {answer.text}")
    while github.latest_state(REPO, stack) != "success":
        if time.monotonic() - started > 600:
            raise SystemExit(f"GitHub was never told success for {stack}")
        time.sleep(0.02)
    return time.monotonic() - started, answered


def api_round(client: ApiClient, number: int, stack: str) -> float:
    started = time.monotonic()
    asked = client.call("POST", "/stacks/{stack}/deployments", stack=stack, json_body={"branch": f"pull/{number}/head"})
    if asked.status_code != 202:
        raise SystemExit(f"the API answered {asked.status_code}: {asked.text}")
    for event, data in client.events(asked.json()["id"]):
        if event == "end":
            if data["state"] != "succeeded":
                raise SystemExit(f"the API's deploy of {stack} {data['state']}: {data['error']}")
            return time.monotonic() - started
    raise SystemExit("the event stream ended without an end event")



if __name__ == "__main__":
    main()
