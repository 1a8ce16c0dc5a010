"""The HTTP API end to end on the real swarm, router and database: a CI job's path (deploy by
API, follow the event stream to the URL, which answers through the router), env, logs, keep,
redeploy, destroy, a non-owner refused; and under load, 200 concurrent requests answered while
50 event streams stay open. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from api.server import ApiServer
from stacks.config import Settings
from stacks.engine import Actor, Engine
from tests.conftest import engine_stacks, unique
from tests.support.api import ApiClient
from tests.support.helpers import page, through_router, wait_until
from tests.support.infra import purge
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm
OWNER, OTHER = Actor("UOWNER", "slack"), Actor("UOTHER", "slack")


@pytest.fixture
def served(make_settings: Callable[..., Settings], docker_client: docker.DockerClient) -> Iterator[tuple[Engine, ApiClient]]:
    settings = make_settings(api_rate="100000/s", api_keepalive=1.0)
    engine = Engine(settings)
    engine.start()
    server = ApiServer(engine, port=0).start()
    yield engine, ApiClient(server.url, engine.tokens.create_personal(OWNER.id, OWNER))
    server.stop()
    engine.close()
    for stack in engine_stacks(settings):
        purge(docker_client, stack)
    for app in settings.apps:
        purge(docker_client, app)


def follow(client: ApiClient, deployment_id: int, token: str | None = None) -> tuple[list[tuple[str, str]], dict]:
    """Steps seen on the stream, and its end event."""
    steps: list[tuple[str, str]] = []
    for event, data in client.events(deployment_id, token=token):
        if event == "step":
            steps.append((data["name"], data["state"]))
        elif event == "end":
            return steps, data
    raise AssertionError("the stream closed without an end event")


def test_a_ci_job_deploys_by_api_and_follows_the_stream_to_the_url(served: tuple[Engine, ApiClient]) -> None:
    engine, client = served
    settings = engine.settings
    stack = unique("api")
    asked = client.call("POST", "/stacks/{stack}/deployments", stack=stack, json_body={"branch": "main"})
    assert asked.status_code == 202, asked.text
    deployment = asked.json()
    assert (deployment["state"], deployment["kind"], deployment["source"]) == ("queued", "deploy", "api:@uowner")
    steps, end = follow(client, deployment["id"])
    assert end == {"deployment": deployment["id"], "state": "succeeded", "url": settings.stack_url(stack), "error": None}
    assert ("build", "running") in steps and ("build", "ok") in steps and steps[-1] == ("wait", "ok")
    assert page(settings, stack)["content"] == "main-1"
    assert client.call("GET", "/stacks/{stack}", stack=stack).json()["state"] == "running"
    done = client.call("GET", "/deployments/{deployment_id}", deployment_id=deployment["id"]).json()
    assert done["state"] == "succeeded" and done["url"] == settings.stack_url(stack)

    changed = client.call("PATCH", "/stacks/{stack}/env", stack=stack, json_body={"set": {"GREETING": "from-api"}})
    assert changed.status_code == 202 and changed.json()["changed"] == ["GREETING"]
    assert follow(client, changed.json()["deployment"]["id"])[1]["state"] == "succeeded"
    assert page(settings, stack)["greeting"] == "from-api"
    assert client.call("GET", "/stacks/{stack}/env", stack=stack).json() == {"stack": stack, "keys": ["GREETING"]}
    logs = client.call("GET", "/stacks/{stack}/logs", stack=stack, params={"process": "web", "tail": 50}).json()
    assert any(f"web-started-{stack}" in line for line in logs["lines"])
    missing = client.call("GET", "/stacks/{stack}/logs", stack=stack, params={"process": "worker"})
    assert missing.status_code == 404 and "has no process `worker`" in missing.json()["message"]
    kept = client.call("POST", "/stacks/{stack}/keep", stack=stack, json_body={"seconds": 3600})
    assert kept.status_code == 200 and engine.stack(stack).keep_until is not None

    other = engine.tokens.create_personal(OTHER.id, OTHER)
    assert client.call("DELETE", "/stacks/{stack}", stack=stack, token=other).status_code == 403
    assert client.call("PATCH", "/stacks/{stack}/env", stack=stack, token=other,
                       json_body={"unset": ["GREETING"]}).status_code == 403
    assert page(settings, stack)["greeting"] == "from-api"

    again = client.call("POST", "/stacks/{stack}/redeploy", stack=stack)
    assert again.status_code == 202 and follow(client, again.json()["id"])[1]["state"] == "succeeded"
    gone = client.call("DELETE", "/stacks/{stack}", stack=stack)
    assert gone.status_code == 202
    assert follow(client, gone.json()["id"])[1] == {"deployment": gone.json()["id"], "state": "succeeded", "url": None,
                                                    "error": None}
    assert through_router(settings, stack).status_code == 404
    assert client.call("GET", "/stacks/{stack}", stack=stack).status_code == 404
    actions = {(e.action, e.source) for e in engine.store.events(stack)}
    assert {("deploy", "api:@uowner"), ("env", "api:@uowner"), ("destroy", "api:@uowner")} <= actions


def test_under_load_every_request_is_answered_while_50_streams_stay_open(
        served: tuple[Engine, ApiClient], sample_repo: SampleRepo) -> None:
    engine, client = served
    # A build step new to the builder's cache in each run (BuildKit's cache outlives a test run).
    sample_repo.write({"Dockerfile": f"FROM busybox:latest\nRUN echo {unique('run')} && sleep 8\nCOPY www /www\n"
                                     "RUN chmod +x /www/cgi-bin/index.cgi\n"
                                     'CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n'})
    sample_repo.commit(f"a build that takes a while {unique('b')}")
    slow = unique("slow")
    watched = client.call("POST", "/stacks/{stack}/deployments", stack=slow, json_body={"branch": "main"}).json()["id"]
    ends: list[dict] = []
    keepalives = [0]
    lock = threading.Lock()

    def stream() -> None:
        for event, data in ApiClient(client.base, client.token).events(watched):
            if event == "end":
                with lock:
                    ends.append(data)
                return
            if event == "":
                with lock:
                    keepalives[0] += 1

    streams = [threading.Thread(target=stream, daemon=True) for _ in range(50)]
    for thread in streams:
        thread.start()

    deploys = [unique("load") for _ in range(3)]

    def request(n: int) -> tuple[str, int]:
        mine = ApiClient(client.base, client.token, _document=client.document)
        if n < len(deploys):
            return "deploy", mine.call("POST", "/stacks/{stack}/deployments", stack=deploys[n],
                                       json_body={"branch": "main"}).status_code
        kind = ("list", "status", "deployment")[n % 3]
        if kind == "list":
            return kind, mine.call("GET", "/stacks").status_code
        if kind == "status":
            return kind, mine.call("GET", "/stacks/{stack}", stack=slow).status_code
        return kind, mine.call("GET", "/deployments/{deployment_id}", deployment_id=watched).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(request, range(200)))
    assert len(answers) == 200
    assert {kind: {status for k, status in answers if k == kind} for kind, _ in answers} == {
        "deploy": {202}, "list": {200}, "status": {200}, "deployment": {200}}
    assert engine.deployment(watched).state in ("queued", "running")  # the streams were open all along
    for thread in streams:
        thread.join(300)
    assert len(ends) == 50 and {e["state"] for e in ends} == {"succeeded"}
    assert keepalives[0] > 0  # idle streams got keep-alive comments (every second in this test)
    def finished() -> list[str] | None:
        states = [engine.store.deployments(stack)[0].state for stack in deploys]
        return states if all(state in ("succeeded", "failed") for state in states) else None

    assert wait_until(finished, timeout=300, what="the deploys asked under load") == ["succeeded"] * 3
