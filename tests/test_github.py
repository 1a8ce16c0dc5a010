"""Review stacks from GitHub pull requests, end to end: webhook deliveries signed exactly as
GitHub signs them, with payloads of GitHub's real shapes, to the real API server; the real
engine, swarm, router and database; a strict stand-in for GitHub's REST API
(tests/support/github_web) that checks the token and the deployments' rules and records calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import docker
import pytest

from api.server import ApiServer
from stacks.config import AppConfig, PullRequestsConfig, Settings
from stacks.engine import Actor, Engine
from stacks.pull_requests import PullRequests
from tests.conftest import engine_stacks, unique
from tests.support.github_web.standin import GitHubStandin
from tests.support.github_web.webhooks import acted, deliver, pull_request_payload
from tests.support.helpers import page, through_router, wait_until
from tests.support.infra import purge
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm
REPO = "acme/shop"
SECRET = "It's a Secret to Everybody"


@dataclass
class Hub:
    engine: Engine
    settings: Settings
    github: GitHubStandin
    sample: SampleRepo
    hook: str  # the webhook's URL
    app: str

    def stack(self, number: int) -> str:
        return f"{self.app}-pr-{number}"

    def push(self, number: int, content: str) -> str:
        """A commit on the pull request's branch; GitHub's refs/pull/N/head follows it."""
        self.sample.write({"www/content.txt": content})
        sha = self.sample.commit(f"pr {number}: {content}")
        self.sample.git("update-ref", f"refs/pull/{number}/head", sha)
        return sha

    def send(self, action: str, number: int, sha: str, **more: object) -> tuple[int, dict]:
        payload = pull_request_payload(action, repo=REPO, number=number, head_sha=sha, head_ref=f"feature-{number}",
                                       **more)  # type: ignore[arg-type]
        return acted(self.engine, deliver(self.hook, "pull_request", payload, SECRET))

    def deployments(self, stack: str) -> int:
        return len(self.engine.store.deployments(stack, limit=100)) if self.engine.store.get_stack(stack) else 0


@pytest.fixture
def hub(make_settings: Callable[..., Settings], sample_repo: SampleRepo,
        docker_client: docker.DockerClient) -> Iterator[Hub]:
    github = GitHubStandin()
    github.add_repo(REPO)
    app = unique("gh")
    settings = make_settings(
        app_name=app, github_token=github.token, github_api_url=github.url, github_webhook_secret=SECRET,
        apps={app: AppConfig(repo=str(sample_repo.path), default=True, github=REPO,
                             pull_requests=PullRequestsConfig(stack="{app}-pr-{number}", env={"GREETING": "review"}))},
    )
    engine = Engine(settings)
    engine.start()
    server = ApiServer(engine, port=0).start()
    try:
        yield Hub(engine, settings, github, sample_repo, server.url + "/webhooks/github", app)
    finally:
        server.stop()
        engine.close()
        github.close()
        for stack in engine_stacks(settings):
            purge(docker_client, stack)
        purge(docker_client, app)


def comments(hub: Hub, number: int) -> list[dict]:
    """The pull request's comments once everything queued for GitHub was sent (a status and the
    comment's edit are two calls: a test may see the first before the second went out)."""
    PullRequests.of(hub.engine).outbox.drain()
    return hub.github.comments(REPO, number)


def settled(hub: Hub, stack: str) -> bool:
    """No deployment of the stack queued or running, and everything said to GitHub."""
    PullRequests.of(hub.engine).outbox.drain()
    return all(d.state not in ("queued", "running") for d in hub.engine.store.deployments(stack, limit=20))


def test_a_pull_request_gets_a_stack_that_follows_its_pushes_and_goes_when_it_closes(hub: Hub) -> None:
    stack, github = hub.stack(7), hub.github
    sha = hub.push(7, "pr-7-first")
    github.open_pull(REPO, 7, sha, "feature-7")
    started = time.monotonic()
    status, said = hub.send("opened", 7, sha)
    answered = time.monotonic() - started
    assert status == 202 and said["done"].startswith(f"deploying {stack}"), said
    wait_until(lambda: settled(hub, stack) and github.latest_state(REPO, stack) == "success", timeout=240,
               what="the deployment's success on GitHub")
    assert page(hub.settings, stack)["content"] == "pr-7-first"
    assert page(hub.settings, stack)["greeting"] == "review"  # pull_requests.env
    record = hub.engine.stack(stack)
    assert (record.owner, record.branch, record.commit) == ("github", "pull/7/head", sha)
    (deployment,) = github.deployments(REPO, stack)
    assert deployment["sha"] == sha and deployment["transient_environment"] is True
    states = [s["state"] for s in github.statuses(REPO, deployment["id"])]  # oldest first
    assert states == ["in_progress", "success"]
    assert github.statuses(REPO, deployment["id"])[-1]["environment_url"] == hub.settings.stack_url(stack)
    (comment,) = comments(hub, 7)
    assert f"`{stack}` is live at {hub.settings.stack_url(stack)}" in comment["body"]
    assert github.violations == []
    print(f"webhook answered in {answered * 1000:.0f} ms")

    # a push: redeployed, the same comment edited, the older deployment inactive
    newer = hub.push(7, "pr-7-second")
    github.open_pull(REPO, 7, newer, "feature-7")
    status, said = hub.send("synchronize", 7, newer)
    assert status == 202, said
    wait_until(lambda: settled(hub, stack) and len(github.deployments(REPO, stack)) == 2
               and github.latest_state(REPO, stack) == "success", timeout=240, what="the push deployed")
    assert page(hub.settings, stack)["content"] == "pr-7-second"
    (comment,) = comments(hub, 7)
    assert newer[:7] in comment["body"] and "is live" in comment["body"]
    old = [d for d in github.deployments(REPO, stack) if d["sha"] == sha][0]
    assert github.statuses(REPO, old["id"])[-1]["state"] == "inactive"  # said by yadockeri: transient ones are not

    # the same delivery again: acted on once
    payload = pull_request_payload("synchronize", repo=REPO, number=7, head_sha=newer, head_ref="feature-7")
    first, _ = acted(hub.engine, deliver(hub.hook, "pull_request", payload, SECRET,
                                         delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958"))
    before = hub.deployments(stack)
    again = deliver(hub.hook, "pull_request", payload, SECRET, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first == 202 and again.status_code == 200 and again.json()["done"] == "acted on already"
    assert hub.deployments(stack) == before
    wait_until(lambda: settled(hub, stack), timeout=240)

    # closed: destroyed, the deployment inactive, the comment says so
    github.close_pull(REPO, 7, merged=True)
    status, said = hub.send("closed", 7, newer, merged=True)
    assert status == 202 and said["done"].startswith(f"destroying {stack}"), said
    wait_until(lambda: hub.engine.store.get_stack(stack) is None and settled(hub, stack), timeout=120,
               what="the stack destroyed")
    assert through_router(hub.settings, stack).status_code == 404
    wait_until(lambda: github.latest_state(REPO, stack) == "inactive", timeout=30, what="inactive on GitHub")
    (comment,) = comments(hub, 7)
    assert "destroyed: the pull request was closed" in comment["body"]
    assert github.violations == []


def test_bad_deliveries_change_nothing(hub: Hub) -> None:
    sha = hub.push(9, "pr-9")
    payload = pull_request_payload("opened", repo=REPO, number=9, head_sha=sha, head_ref="feature-9")
    forged = deliver(hub.hook, "pull_request", payload, "not the secret")
    assert forged.status_code == 401 and forged.json()["error"] == "not_authenticated"
    unsigned = deliver(hub.hook, "pull_request", payload, None)
    assert unsigned.status_code == 401
    malformed = deliver(hub.hook, "pull_request", {"action": "opened", "repository": {"full_name": REPO}}, SECRET)
    assert malformed.status_code == 400 and "not a pull request as GitHub sends it" in malformed.json()["message"]
    assert hub.engine.store.get_stack(hub.stack(9)) is None
    assert hub.github.calls == [] and hub.engine.store.pull_request(REPO, 9) is None
    ping = deliver(hub.hook, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}, SECRET)
    assert ping.status_code == 202 and ping.json()["done"] == "pong"


def test_a_forks_pull_request_gets_no_stack_and_is_told_why(hub: Hub) -> None:
    sha = hub.push(11, "from-a-fork")
    hub.github.open_pull(REPO, 11, sha, "patch-1", fork=True)
    status, said = hub.send("opened", 11, sha, fork=True, sender="mallory")
    assert status == 202 and "comes from a fork" in said["done"]
    assert hub.engine.store.get_stack(hub.stack(11)) is None
    PullRequests.of(hub.engine).outbox.drain()
    (comment,) = hub.github.comments(REPO, 11)
    assert "comes from a fork" in comment["body"]


def test_a_missed_closed_delivery_is_repaired_by_the_reconciliation(hub: Hub) -> None:
    stack, github = hub.stack(12), hub.github
    sha = hub.push(12, "pr-12")
    github.open_pull(REPO, 12, sha, "feature-12")
    assert hub.send("opened", 12, sha)[0] == 202
    wait_until(lambda: settled(hub, stack) and github.latest_state(REPO, stack) == "success", timeout=240)
    github.close_pull(REPO, 12)  # and GitHub's delivery never arrives
    done = PullRequests.of(hub.engine).reconcile()
    assert any(line.startswith(f"destroying {stack}") for line in done), done
    wait_until(lambda: hub.engine.store.get_stack(stack) is None and settled(hub, stack), timeout=120)
    wait_until(lambda: github.latest_state(REPO, stack) == "inactive", timeout=30)
    assert PullRequests.of(hub.engine).reconcile() == []  # nothing left to repair




def test_deployments_by_hand_of_a_pull_requests_stack_are_told_on_github(hub: Hub) -> None:
    """An admin's redeploy (from Slack, say) is a GitHub deployment of its own; an admin's
    destroy sets the last one inactive and the comment says who did it."""
    stack, github = hub.stack(14), hub.github
    sha = hub.push(14, "pr-14")
    github.open_pull(REPO, 14, sha, "feature-14")
    assert hub.send("opened", 14, sha)[0] == 202
    wait_until(lambda: settled(hub, stack) and github.latest_state(REPO, stack) == "success", timeout=240)
    admin = Actor(id="UADMIN", source="slack", admin=True)

    hub.engine.redeploy(stack, admin).wait(240)
    wait_until(lambda: settled(hub, stack) and len(github.deployments(REPO, stack)) == 2
               and github.latest_state(REPO, stack) == "success", timeout=60, what="the redeploy told on GitHub")
    newest = max(github.deployments(REPO, stack), key=lambda d: d["id"])
    assert newest["sha"] == sha and "by hand, from Slack" in newest["description"]
    assert "by hand, from Slack" in github.statuses(REPO, newest["id"])[0]["description"]

    hub.engine.destroy(stack, admin).wait(120)
    wait_until(lambda: github.latest_state(REPO, stack) == "inactive", timeout=30, what="inactive on GitHub")
    (comment,) = comments(hub, 14)
    assert f"`{stack}` destroyed by hand, from Slack" in comment["body"]
    assert github.violations == []
