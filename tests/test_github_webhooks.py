"""GitHub webhook deliveries that never reach Docker: the signature, malformed bodies, pings, a
hook not set up, and the refusals told on the pull request (a fork, a stack name the template
cannot make, a stack a person owns). A real engine on SQLite, the API served by uvicorn, the
strict GitHub stand-in. tests/test_github.py deploys for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import ANY

import pytest

from api.server import ApiServer
from stacks.config import AppConfig, PullRequestsConfig, Settings
from stacks.engine import Engine
from stacks.pull_requests import PullRequests
from tests.support.github_web.standin import GitHubStandin
from tests.support.github_web.webhooks import acted, deliver, pull_request_payload

REPO = "acme/shop"
SECRET = "It's a Secret to Everybody"
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


@dataclass
class Hook:
    engine: Engine
    github: GitHubStandin
    url: str

    def opened(self, number: int, **more: object) -> tuple[int, dict]:
        payload = pull_request_payload("opened", repo=REPO, number=number, head_sha=SHA, head_ref="feature",
                                       **more)  # type: ignore[arg-type]
        return acted(self.engine, deliver(self.url, "pull_request", payload, SECRET))

    def comments(self, number: int) -> list[str]:
        PullRequests.of(self.engine).outbox.drain()
        return [c["body"] for c in self.github.comments(REPO, number)]


@contextmanager
def served(tmp_path: Path, github: GitHubStandin, **settings: object) -> Iterator[Hook]:
    """An engine on SQLite and its API, serving the webhook; both stopped at the end."""
    values: dict = {"data_dir": tmp_path / "data", "github_token": github.token, "github_api_url": github.url,
                    "github_webhook_secret": SECRET,
                    "apps": {"shop": AppConfig(repo=str(tmp_path / "repo"), default=True, github=REPO,
                                               pull_requests=PullRequestsConfig())}}
    values.update(settings)
    engine = Engine(Settings(**values))
    engine.start()
    server = ApiServer(engine, port=0).start()
    try:
        yield Hook(engine, github, server.url + "/webhooks/github")
    finally:
        server.stop()
        engine.close()


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[Hook]:
    with GitHubStandin() as github:
        github.add_repo(REPO)
        with served(tmp_path, github) as hook:
            yield hook


def test_a_bad_or_missing_signature_is_401_and_changes_nothing(hook: Hook) -> None:
    payload = pull_request_payload("opened", repo=REPO, number=3, head_sha=SHA, head_ref="feature")
    for answer in (deliver(hook.url, "pull_request", payload, "wrong secret"),
                   deliver(hook.url, "pull_request", payload, None),
                   deliver(hook.url, "pull_request", payload, SECRET, signature="sha256=" + "0" * 64)):
        assert answer.status_code == 401 and "X-Hub-Signature-256" in answer.json()["message"]
    assert hook.engine.store.pull_request(REPO, 3) is None and hook.github.calls == []


def test_a_malformed_delivery_is_400_and_changes_nothing(hook: Hook) -> None:
    for body in ({"action": "opened"}, {"action": "opened", "repository": {"full_name": REPO}},
                 {"action": "opened", "repository": {"full_name": REPO},
                  "pull_request": {"number": "7", "head": {"sha": SHA}, "base": {"repo": {"full_name": REPO}}}}):
        answer = deliver(hook.url, "pull_request", body, SECRET)
        assert answer.status_code == 400, answer.text
    assert hook.engine.store.pull_requests(REPO) == [] and hook.github.calls == []


def test_pings_and_other_events_are_answered_and_ignored(hook: Hook) -> None:
    ping = deliver(hook.url, "ping", {"zen": "Design for failure.", "hook_id": 1}, SECRET)
    assert ping.status_code == 202 and ping.json()["done"] == "pong"
    push = deliver(hook.url, "push", {"ref": "refs/heads/main"}, SECRET)
    assert push.status_code == 202 and push.json()["done"] == "ignored: push events"
    labeled = deliver(hook.url, "pull_request", pull_request_payload("labeled", repo=REPO, number=5, head_sha=SHA,
                                                                     head_ref="f"), SECRET)
    assert labeled.status_code == 202 and labeled.json()["done"] == "ignored: pull_request labeled"


def test_a_forks_pull_request_is_refused_on_the_pull_request(hook: Hook) -> None:
    hook.github.open_pull(REPO, 11, SHA, "patch-1", fork=True)
    status, said = hook.opened(11, fork=True, sender="mallory")
    assert status == 202 and "comes from a fork" in said["done"]
    assert hook.engine.store.get_stack("pr-11") is None
    (comment,) = hook.comments(11)
    assert "comes from a fork" in comment and hook.github.violations == []


def test_a_stack_a_person_owns_is_never_taken(hook: Hook) -> None:
    hook.engine.store.create_deployment(stack="pr-12", app="shop", branch="main", kind="deploy", actor="UALICE",
                                        source="slack", create=True)
    hook.github.open_pull(REPO, 12, SHA, "feature")
    status, said = hook.opened(12)
    assert status == 202 and said["done"] == "no review stack: `pr-12` is a stack of <UALICE>, not this pull request's"
    assert hook.engine.stack("pr-12").owner == "UALICE" and len(hook.engine.store.deployments("pr-12")) == 1
    assert "is a stack of <UALICE>" in hook.comments(12)[0]


def test_a_template_that_makes_no_valid_name_is_refused(tmp_path: Path) -> None:
    with GitHubStandin() as github:
        github.add_repo(REPO)
        github.open_pull(REPO, 7, SHA, "feature")
        apps = {"shop": AppConfig(repo=str(tmp_path / "repo"), default=True, github=REPO,
                                  pull_requests=PullRequestsConfig(stack="PR_{number}"))}
        with served(tmp_path, github, apps=apps) as hook:
            status, said = hook.opened(7)
            assert status == 202 and "its name from `pull_requests.stack` is not valid" in said["done"]
            assert "is not valid" in hook.comments(7)[0]


def test_a_hook_not_set_up_says_so(tmp_path: Path) -> None:
    with GitHubStandin() as github:
        with served(tmp_path, github, github_webhook_secret=None) as hook:
            answer = deliver(hook.url, "ping", {"zen": "x"}, SECRET)
            assert answer.status_code == 503 and "YADOCKERI_GITHUB_WEBHOOK_SECRET" in answer.json()["message"]


def test_a_refused_delivery_redelivered_acts_once(hook: Hook) -> None:
    hook.github.open_pull(REPO, 13, SHA, "patch", fork=True)
    payload = pull_request_payload("opened", repo=REPO, number=13, head_sha=SHA, head_ref="patch", fork=True)
    first = acted(hook.engine, deliver(hook.url, "pull_request", payload, SECRET, delivery_id="d-13"))
    again = deliver(hook.url, "pull_request", payload, SECRET, delivery_id="d-13")
    assert first[0] == 202 and "comes from a fork" in first[1]["done"]
    assert again.status_code == 200 and again.json()["done"] == "acted on already"
    assert len(hook.comments(13)) == 1


def test_deliveries_kept_before_a_restart_are_acted_on_after_it(tmp_path: Path) -> None:
    """The answer goes out once the delivery is in the database: one kept but never acted on (the
    process died after answering) and one a dead process was acting on are both acted on at the
    next start, once each."""
    with GitHubStandin() as github:
        github.add_repo(REPO)
        for number in (21, 22):
            github.open_pull(REPO, number, SHA, f"patch-{number}", fork=True)
        first = Engine(Settings(data_dir=tmp_path / "data"))  # the process that died: same database
        for number, delivery in ((21, "kept-21"), (22, "acting-22")):
            payload = pull_request_payload("opened", repo=REPO, number=number, head_sha=SHA, head_ref="p", fork=True)
            assert first.store.queue_delivery(delivery, "pull_request", json.dumps(payload))
        assert first.store.claim_delivery() == ("kept-21", "pull_request", ANY)  # claimed, then the process died
        first.store.queue_delivery("kept-21", "pull_request", "{}")  # (a redelivery: not kept twice)
        first.store.close()

        with served(tmp_path, github) as hook:
            queue = PullRequests.of(hook.engine).deliveries
            assert "comes from a fork" in (queue.wait("kept-21") or "")
            assert "comes from a fork" in (queue.wait("acting-22") or "")
            assert len(hook.comments(21)) == 1 and len(hook.comments(22)) == 1


def test_the_answer_does_not_wait_for_the_work(hook: Hook) -> None:
    """202 "queued" with the delivery kept; what it did is known afterwards."""
    hook.github.open_pull(REPO, 23, SHA, "patch", fork=True)
    payload = pull_request_payload("opened", repo=REPO, number=23, head_sha=SHA, head_ref="patch", fork=True)
    answer = deliver(hook.url, "pull_request", payload, SECRET, delivery_id="d-23")
    assert answer.status_code == 202 and answer.json() == {"delivery": "d-23", "done": "queued"}
    assert hook.engine.store.delivery("d-23") is not None
    assert "comes from a fork" in (PullRequests.of(hook.engine).deliveries.wait("d-23") or "")
