"""Pure rules of pull requests' stacks: a fork's stack is built without the app's secrets; the
stack's name comes from the app's template; a webhook's pull request is read strictly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stacks.config import AppConfig, BuildSecret, PullRequestsConfig
from stacks.engine import _trusted
from stacks.pull_requests import MalformedPayload, Pull, event_of
from stacks.queries.github import PullRequestRecord
from tests.support.github_web.webhooks import pull_request_payload

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
APP = AppConfig(repo="r", github="acme/shop", pull_requests=PullRequestsConfig(forks=True),
                build_secrets={"npm_token": BuildSecret(env="NPM_TOKEN")})


def record(fork: bool) -> PullRequestRecord:
    return PullRequestRecord(repo="acme/shop", number=7, app="shop", stack="pr-7", head_sha=SHA, fork=fork, open=True,
                             html_url=None, comment_id=None, github_deployment=None, updated_at=datetime.now(UTC))


def test_a_forks_stack_never_gets_the_apps_build_secrets() -> None:
    assert _trusted(APP, record(fork=True)).build_secrets == {}
    assert _trusted(APP, record(fork=False)).build_secrets == APP.build_secrets
    assert _trusted(APP, None) is APP  # not a pull request's stack


def test_a_pull_request_is_read_from_githubs_payload() -> None:
    action, pull = event_of(pull_request_payload("opened", repo="acme/shop", number=7, head_sha=SHA, head_ref="f"))
    assert (action, pull.repo, pull.number, pull.head_sha, pull.fork) == ("opened", "acme/shop", 7, SHA, False)
    _, fork = event_of(pull_request_payload("opened", repo="acme/shop", number=8, head_sha=SHA, head_ref="f", fork=True))
    assert fork.fork


@pytest.mark.parametrize("broken", [
    None, [], {"action": 1}, {"action": "opened"}, {"action": "opened", "repository": {"full_name": 3}},
    {"action": "opened", "repository": {"full_name": "a/b"}, "pull_request": {"number": 1, "head": {"sha": "x"},
                                                                              "base": {"repo": {"full_name": "a/b"}}}},
])
def test_anything_else_is_malformed(broken: object) -> None:
    with pytest.raises(MalformedPayload):
        event_of(broken)


def test_a_pull_of_another_repository_is_a_fork() -> None:
    pull = Pull.of({"number": 3, "head": {"sha": SHA, "repo": {"full_name": "mallory/shop", "fork": False}},
                    "base": {"repo": {"full_name": "acme/shop"}}}, "acme/shop")
    assert pull.fork
