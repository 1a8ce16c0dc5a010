"""The GitHub stand-in answers like GitHub's REST API (shapes, errors, deployment rules, pagination),
records what a client does that GitHub would not take well, and webhook deliveries are signed as GitHub
signs them. Plain `requests`; no Docker."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from tests.support.github_web import GitHubStandin
from tests.support.github_web.webhooks import deliver, pull_request_payload, sign

TOKEN = "ghs_testToken123"
REPO = "acme/shop"
SHA = "a" * 40
OTHER_SHA = "b" * 40
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json",
           "X-GitHub-Api-Version": "2022-11-28"}


@pytest.fixture
def github() -> Iterator[GitHubStandin]:
    with GitHubStandin(token=TOKEN) as standin:
        standin.add_repo(REPO, default_branch="main")
        standin.open_pull(REPO, 7, head_sha=SHA, head_ref="feature-x", title="Add a cart")
        yield standin


def call(github: GitHubStandin, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.request(method, f"{github.url}{path}", json=body, headers={**HEADERS, **headers}, timeout=5)


def deploy(github: GitHubStandin, **body: Any) -> requests.Response:
    return call(github, "POST", f"/repos/{REPO}/deployments", {"ref": SHA, **body})


def set_status(github: GitHubStandin, deployment_id: int, **body: Any) -> requests.Response:
    return call(github, "POST", f"/repos/{REPO}/deployments/{deployment_id}/statuses", body)


# -- auth, routes, bodies ---------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, "Bearer nope", f"Basic {TOKEN}", "Bearer "])
def test_a_missing_or_wrong_token_is_401_bad_credentials(github: GitHubStandin, authorization: str | None) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = requests.get(f"{github.url}/repos/{REPO}/pulls", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                               "status": "401"}
    assert github.calls[-1].status == 401


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_both_token_schemes_are_accepted(github: GitHubStandin, scheme: str) -> None:
    response = call(github, "GET", f"/repos/{REPO}/pulls", Authorization=f"{scheme} {TOKEN}")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/repos/acme/unknown/pulls", "/repos/acme/unknown/deployments",
                                  f"/repos/{REPO}/nothing-here", "/user/repos", f"/repos/{REPO}/issues/99/comments"])
def test_unknown_repositories_paths_and_issues_are_404(github: GitHubStandin, path: str) -> None:
    response = call(github, "GET", path)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    assert response.json()["status"] == "404"


def test_a_request_without_the_github_media_type_is_answered_but_recorded(github: GitHubStandin) -> None:
    response = call(github, "GET", f"/repos/{REPO}/pulls", Accept="application/json")
    assert response.status_code == 200
    assert github.violations == [f"GET /repos/{REPO}/pulls: Accept is 'application/json', "
                                 "not application/vnd.github+json"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_not_a_json_object_is_400(github: GitHubStandin, raw: bytes) -> None:
    response = requests.post(f"{github.url}/repos/{REPO}/deployments", data=raw,
                             headers={**HEADERS, "Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"
    assert github.deployments(REPO) == []


def test_a_body_not_sent_as_json_is_a_violation(github: GitHubStandin) -> None:
    response = requests.post(f"{github.url}/repos/{REPO}/issues/7/comments", data=json.dumps({"body": "hi"}),
                             headers={**HEADERS, "Content-Type": "text/plain"}, timeout=5)
    assert response.status_code == 201
    assert any("Content-Type is 'text/plain'" in v for v in github.violations)


def test_calls_are_recorded_with_body_and_status(github: GitHubStandin) -> None:
    deploy(github, required_contexts=[], environment="pr-7")
    recorded = github.find_calls("POST", r"/deployments$")
    assert len(recorded) == 1
    assert recorded[0].path == f"/repos/{REPO}/deployments"
    assert recorded[0].body == {"ref": SHA, "required_contexts": [], "environment": "pr-7"}
    assert recorded[0].status == 201
    assert recorded[0].response["sha"] == SHA


def test_fail_next_answers_planned_failures_then_recovers(github: GitHubStandin) -> None:
    github.fail_next(2, status=502, method="POST", path=r"/deployments$")
    assert call(github, "GET", f"/repos/{REPO}/pulls").status_code == 200  # another request: not failed
    assert deploy(github, required_contexts=[]).status_code == 502
    assert deploy(github, required_contexts=[]).status_code == 502
    assert deploy(github, required_contexts=[]).status_code == 201
    assert len(github.deployments(REPO)) == 1


# -- deployments ---------------------------------------------------------------------------------

def test_a_deployment_has_githubs_shape(github: GitHubStandin) -> None:
    response = deploy(github, environment="pr-7", required_contexts=[], auto_merge=False, transient_environment=True,
                      description="PR 7", payload={"stack": "shop-pr-7"}, task="deploy")
    assert response.status_code == 201
    deployment = response.json()
    assert {"id", "node_id", "sha", "ref", "task", "environment", "description", "creator", "created_at",
            "updated_at", "statuses_url", "transient_environment", "production_environment", "url",
            "payload", "original_environment", "repository_url"} <= set(deployment)
    assert deployment["sha"] == deployment["ref"] == SHA
    assert deployment["environment"] == "pr-7"
    assert deployment["creator"]["login"] == "yadockeri[bot]"
    assert deployment["transient_environment"] is True
    assert deployment["production_environment"] is False  # only "production" defaults to true
    assert deployment["payload"] == {"stack": "shop-pr-7"}
    assert deployment["url"] == f"{github.url}/repos/{REPO}/deployments/{deployment['id']}"
    assert deployment["statuses_url"] == f"{deployment['url']}/statuses"
    assert github.environments(REPO) == ["pr-7"]


def test_a_branch_ref_deploys_its_tip(github: GitHubStandin) -> None:
    response = deploy(github, ref="feature-x", required_contexts=[])
    assert response.status_code == 201
    assert (response.json()["ref"], response.json()["sha"]) == ("feature-x", SHA)
    assert response.json()["environment"] == "production"
    assert response.json()["production_environment"] is True


@pytest.mark.parametrize("ref", ["no-such-branch", "c" * 40])
def test_an_unknown_ref_is_422(github: GitHubStandin, ref: str) -> None:
    response = deploy(github, ref=ref, required_contexts=[])
    assert response.status_code == 422
    assert response.json()["message"] == "Validation Failed"
    assert response.json()["errors"][0]["field"] == "ref"


def test_a_forks_branch_name_is_not_a_ref_but_its_head_sha_is(github: GitHubStandin) -> None:
    github.open_pull(REPO, 8, head_sha=OTHER_SHA, head_ref="fork-branch", fork=True, user="mallory")
    assert deploy(github, ref="fork-branch", required_contexts=[]).status_code == 422
    assert deploy(github, ref=OTHER_SHA, required_contexts=[]).status_code == 201


@pytest.mark.parametrize(("body", "message"), [
    ({"ref": None}, "For 'properties/ref', nil is not a string."),
    ({"auto_merge": "yes"}, "For 'properties/auto_merge', \"yes\" is not a boolean."),
    ({"required_contexts": "ci"}, "For 'properties/required_contexts', \"ci\" is not an array."),
    ({"required_contexts": [1]}, "For 'items', 1 is not a string."),
])
def test_arguments_of_the_wrong_type_are_422(github: GitHubStandin, body: dict[str, Any], message: str) -> None:
    response = deploy(github, **body)
    assert response.status_code == 422
    assert response.json()["message"] == f"Invalid request.\n\n{message}"


def test_a_missing_ref_is_422(github: GitHubStandin) -> None:
    response = call(github, "POST", f"/repos/{REPO}/deployments", {"environment": "pr-7"})
    assert response.status_code == 422
    assert response.json()["message"] == "Invalid request.\n\n\"ref\" wasn't supplied."


@pytest.mark.parametrize("state", ["pending", "failure", "error"])
def test_omitted_required_contexts_means_every_context_must_succeed(github: GitHubStandin, state: str) -> None:
    github.set_commit_status(REPO, SHA, "ci/test", "success")
    github.set_commit_status(REPO, SHA, "ci/lint", state)
    response = deploy(github, environment="pr-7")
    assert response.status_code == 409
    assert response.json()["message"] == f"Conflict: Commit status checks failed for {SHA}."
    assert {"context": "ci/lint", "state": state} in response.json()["errors"][0]["contexts"]
    assert github.deployments(REPO) == []
    assert deploy(github, environment="pr-7", required_contexts=[]).status_code == 201
    assert deploy(github, environment="pr-7", required_contexts=["ci/test"]).status_code == 201


def test_a_required_context_must_exist_and_succeed(github: GitHubStandin) -> None:
    assert deploy(github, required_contexts=["ci/test"]).status_code == 409  # never reported
    github.set_commit_status(REPO, SHA, "ci/test", "success")
    assert deploy(github, required_contexts=["ci/test"]).status_code == 201
    assert deploy(github).status_code == 201  # every context (there is one) succeeded


def test_auto_merge_left_on_merges_a_ref_behind_the_default_branch(github: GitHubStandin) -> None:
    github.behind(REPO, SHA)
    response = deploy(github, ref="feature-x", required_contexts=[])
    assert response.status_code == 202
    assert response.json() == {"message": "Auto-merged main into feature-x on deployment."}
    assert github.deployments(REPO) == []
    assert len(github.violations) == 1 and "auto_merge would have pushed a merge commit" in github.violations[0]
    assert deploy(github, ref="feature-x", required_contexts=[], auto_merge=False).status_code == 201
    assert len(github.violations) == 1


def test_deployments_are_listed_newest_first_and_filtered(github: GitHubStandin) -> None:
    github.open_pull(REPO, 8, head_sha=OTHER_SHA, head_ref="feature-y")
    first = deploy(github, environment="pr-7", required_contexts=[]).json()
    second = deploy(github, environment="pr-7", required_contexts=[]).json()
    other = deploy(github, ref=OTHER_SHA, environment="pr-8", required_contexts=[]).json()
    listed = call(github, "GET", f"/repos/{REPO}/deployments").json()
    assert [d["id"] for d in listed] == [other["id"], second["id"], first["id"]]
    filtered = requests.get(f"{github.url}/repos/{REPO}/deployments", params={"environment": "pr-7", "sha": SHA},
                            headers=HEADERS, timeout=5).json()
    assert [d["id"] for d in filtered] == [second["id"], first["id"]]
    assert call(github, "GET", f"/repos/{REPO}/deployments/{first['id']}").json() == first
    assert call(github, "GET", f"/repos/{REPO}/deployments/999").status_code == 404


def test_only_inactive_deployments_or_the_last_of_an_environment_can_be_deleted(github: GitHubStandin) -> None:
    first = deploy(github, environment="pr-7", required_contexts=[]).json()
    second = deploy(github, environment="pr-7", required_contexts=[]).json()
    refused = call(github, "DELETE", f"/repos/{REPO}/deployments/{first['id']}")
    assert refused.status_code == 422
    set_status(github, first["id"], state="inactive")
    assert call(github, "DELETE", f"/repos/{REPO}/deployments/{first['id']}").status_code == 204
    assert call(github, "DELETE", f"/repos/{REPO}/deployments/{second['id']}").status_code == 204  # the only one
    assert github.deployments(REPO) == []


# -- deployment statuses --------------------------------------------------------------------------------

def test_a_status_has_githubs_shape_and_statuses_are_listed_newest_first(github: GitHubStandin) -> None:
    deployment = deploy(github, environment="pr-7", required_contexts=[]).json()
    queued = set_status(github, deployment["id"], state="queued")
    done = set_status(github, deployment["id"], state="success", environment_url="https://pr-7.example.test",
                      log_url="https://yadockeri.example.test/stacks/shop-pr-7", description="Deployed")
    assert queued.status_code == done.status_code == 201
    status = done.json()
    assert {"id", "state", "description", "environment", "environment_url", "log_url", "created_at",
            "deployment_url", "creator", "target_url", "url"} <= set(status)
    assert (status["state"], status["environment"], status["description"]) == ("success", "pr-7", "Deployed")
    assert status["environment_url"] == "https://pr-7.example.test"
    assert status["target_url"] == status["log_url"]
    assert status["deployment_url"] == deployment["url"]
    assert status["creator"]["login"] == "yadockeri[bot]"
    listed = call(github, "GET", f"/repos/{REPO}/deployments/{deployment['id']}/statuses").json()
    assert [s["state"] for s in listed] == ["success", "queued"]
    assert [s["state"] for s in github.statuses(REPO, deployment["id"])] == ["queued", "success"]
    assert github.latest_state(REPO, "pr-7") == "success"
    assert github.latest_state(REPO, "pr-8") is None


@pytest.mark.parametrize("body", [{"state": "done"}, {"state": "success", "description": "x" * 141}, {}])
def test_a_bad_status_is_422(github: GitHubStandin, body: dict[str, Any]) -> None:
    deployment = deploy(github, required_contexts=[]).json()
    response = set_status(github, deployment["id"], **body)
    assert response.status_code == 422
    assert github.statuses(REPO, deployment["id"]) == []


def test_a_description_of_140_characters_fits(github: GitHubStandin) -> None:
    deployment = deploy(github, required_contexts=[]).json()
    assert set_status(github, deployment["id"], state="failure", description="x" * 140).status_code == 201


def test_a_status_of_an_unknown_deployment_is_404(github: GitHubStandin) -> None:
    assert set_status(github, 12345, state="success").status_code == 404
    assert call(github, "GET", f"/repos/{REPO}/deployments/12345/statuses").status_code == 404


def test_a_status_may_move_its_deployment_to_another_environment(github: GitHubStandin) -> None:
    deployment = deploy(github, environment="staging", required_contexts=[]).json()
    assert set_status(github, deployment["id"], state="success", environment="pr-7").json()["environment"] == "pr-7"
    assert github.deployments(REPO, "pr-7")[0]["original_environment"] == "staging"


def test_a_success_inactivates_earlier_successful_deployments_of_its_environment(github: GitHubStandin) -> None:
    old = deploy(github, environment="pr-7", required_contexts=[]).json()
    failed = deploy(github, environment="pr-7", required_contexts=[]).json()
    elsewhere = deploy(github, environment="pr-8", required_contexts=[]).json()
    for deployment in (old, elsewhere):
        set_status(github, deployment["id"], state="success")
    set_status(github, failed["id"], state="failure")
    new = deploy(github, environment="pr-7", required_contexts=[]).json()
    set_status(github, new["id"], state="in_progress")
    assert [s["state"] for s in github.statuses(REPO, old["id"])] == ["success"]  # only a success does it
    set_status(github, new["id"], state="success")
    assert [s["state"] for s in github.statuses(REPO, old["id"])] == ["success", "inactive"]
    assert [s["state"] for s in github.statuses(REPO, failed["id"])] == ["failure"]  # only successful ones
    assert [s["state"] for s in github.statuses(REPO, elsewhere["id"])] == ["success"]  # another environment
    assert github.latest_state(REPO, "pr-7") == "success"


def test_auto_inactive_false_and_transient_or_production_deployments_are_left_active(github: GitHubStandin) -> None:
    transient = deploy(github, environment="pr-7", transient_environment=True, required_contexts=[]).json()
    kept = deploy(github, environment="pr-7", required_contexts=[]).json()
    production = deploy(github, environment="production", required_contexts=[]).json()
    for deployment in (transient, kept, production):
        set_status(github, deployment["id"], state="success")
    newer = deploy(github, environment="pr-7", required_contexts=[]).json()
    set_status(github, newer["id"], state="success", auto_inactive=False)
    assert github.statuses(REPO, kept["id"])[-1]["state"] == "success"
    newest_production = deploy(github, environment="production", required_contexts=[]).json()
    set_status(github, newest_production["id"], state="success")
    assert github.statuses(REPO, production["id"])[-1]["state"] == "success"
    newest = deploy(github, environment="pr-7", required_contexts=[]).json()
    set_status(github, newest["id"], state="success")
    assert github.statuses(REPO, transient["id"])[-1]["state"] == "success"  # GitHub skips transient ones
    assert github.statuses(REPO, kept["id"])[-1]["state"] == "inactive"


def test_environments_are_listed_and_deleting_one_deletes_its_deployments(github: GitHubStandin) -> None:
    deploy(github, environment="pr-7", required_contexts=[])
    deploy(github, environment="pr 8/x", required_contexts=[])
    listed = call(github, "GET", f"/repos/{REPO}/environments").json()
    assert listed["total_count"] == 2
    assert [e["name"] for e in listed["environments"]] == ["pr-7", "pr 8/x"]
    assert call(github, "GET", f"/repos/{REPO}/environments/pr%208%2Fx").json()["name"] == "pr 8/x"
    assert call(github, "DELETE", f"/repos/{REPO}/environments/pr-7").status_code == 204
    assert call(github, "GET", f"/repos/{REPO}/environments/pr-7").status_code == 404
    assert [d["environment"] for d in github.deployments(REPO)] == ["pr 8/x"]


# -- comments -----------------------------------------------------------------------------------

def test_comments_are_created_edited_listed_and_deleted(github: GitHubStandin) -> None:
    created = call(github, "POST", f"/repos/{REPO}/issues/7/comments", {"body": "Deploying…"})
    assert created.status_code == 201
    comment = created.json()
    assert {"id", "node_id", "body", "html_url", "user", "created_at", "updated_at"} <= set(comment)
    assert comment["user"]["login"] == "yadockeri[bot]"
    assert comment["html_url"] == f"https://github.com/{REPO}/pull/7#issuecomment-{comment['id']}"
    edited = call(github, "PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}", {"body": "Deployed: https://x"})
    assert edited.status_code == 200 and edited.json()["body"] == "Deployed: https://x"
    call(github, "POST", f"/repos/{REPO}/issues/7/comments", {"body": "second"})
    listed = call(github, "GET", f"/repos/{REPO}/issues/7/comments").json()
    assert [c["body"] for c in listed] == ["Deployed: https://x", "second"]  # oldest first, edits applied
    assert [c["body"] for c in github.comments(REPO, 7)] == ["Deployed: https://x", "second"]
    assert call(github, "DELETE", f"/repos/{REPO}/issues/comments/{comment['id']}").status_code == 204
    assert [c["body"] for c in github.comments(REPO, 7)] == ["second"]


def test_comment_mistakes_are_answered_like_github(github: GitHubStandin) -> None:
    assert call(github, "POST", f"/repos/{REPO}/issues/99/comments", {"body": "x"}).status_code == 404
    assert call(github, "PATCH", f"/repos/{REPO}/issues/comments/424242", {"body": "x"}).status_code == 404
    missing = call(github, "POST", f"/repos/{REPO}/issues/7/comments", {})
    assert (missing.status_code, missing.json()["message"]) == (422, "Invalid request.\n\n\"body\" wasn't supplied.")
    too_long = call(github, "POST", f"/repos/{REPO}/issues/7/comments", {"body": "x" * 65537})
    assert too_long.status_code == 422
    assert github.comments(REPO, 7) == []


# -- pull requests -------------------------------------------------------------------------------

def test_pull_requests_have_githubs_shape(github: GitHubStandin) -> None:
    github.open_pull(REPO, 8, head_sha=OTHER_SHA, head_ref="patch-1", fork=True, user="mallory", title="Fix")
    pulls = {p["number"]: p for p in call(github, "GET", f"/repos/{REPO}/pulls").json()}
    own, fork = pulls[7], pulls[8]
    assert (own["state"], own["title"], own["draft"]) == ("open", "Add a cart", False)
    assert own["html_url"] == f"https://github.com/{REPO}/pull/7"
    assert (own["head"]["sha"], own["head"]["ref"]) == (SHA, "feature-x")
    assert (own["head"]["repo"]["full_name"], own["head"]["repo"]["fork"]) == (REPO, False)
    assert (own["base"]["ref"], own["base"]["repo"]["full_name"]) == ("main", REPO)
    assert own["user"]["login"] == "octocat" and own["updated_at"]
    assert (fork["head"]["repo"]["full_name"], fork["head"]["repo"]["fork"]) == ("mallory/shop", True)
    assert fork["user"]["login"] == "mallory"


def test_closed_pull_requests_leave_the_open_list(github: GitHubStandin) -> None:
    github.close_pull(REPO, 7, merged=True)
    assert call(github, "GET", f"/repos/{REPO}/pulls").json() == []
    closed = requests.get(f"{github.url}/repos/{REPO}/pulls", params={"state": "closed"}, headers=HEADERS,
                          timeout=5).json()
    assert [p["number"] for p in closed] == [7] and closed[0]["merged_at"]
    assert call(github, "GET", f"/repos/{REPO}/pulls/7").json()["merged"] is True


def test_pull_requests_are_paginated_with_a_link_header(github: GitHubStandin) -> None:
    for number in range(8, 13):  # 6 open in all: 12..7
        github.open_pull(REPO, number, head_sha=f"{number:040x}", head_ref=f"branch-{number}")
    url = f"{github.url}/repos/{REPO}/pulls"

    def page(number: int) -> requests.Response:
        return requests.get(url, params={"state": "open", "per_page": "4", "page": str(number)}, headers=HEADERS, timeout=5)

    first, second = page(1), page(2)
    assert [p["number"] for p in first.json()] == [12, 11, 10, 9]
    assert [p["number"] for p in second.json()] == [8, 7]
    assert first.headers["Link"] == (f'<{url}?state=open&per_page=4&page=2>; rel="next", '
                                     f'<{url}?state=open&per_page=4&page=2>; rel="last"')
    assert second.headers["Link"] == (f'<{url}?state=open&per_page=4&page=1>; rel="prev", '
                                      f'<{url}?state=open&per_page=4&page=1>; rel="first"')
    assert first.links["next"]["url"] == f"{url}?state=open&per_page=4&page=2"  # requests reads it
    assert "Link" not in requests.get(url, headers=HEADERS, timeout=5).headers  # one page only


def test_requests_from_many_threads_are_each_served_whole(github: GitHubStandin) -> None:
    def comment(i: int) -> None:
        assert call(github, "POST", f"/repos/{REPO}/issues/7/comments", {"body": str(i)}).status_code == 201

    threads = [threading.Thread(target=comment, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    comments = github.comments(REPO, 7)
    assert sorted(int(c["body"]) for c in comments) == list(range(20))
    assert len({c["id"] for c in comments}) == 20
    assert github.wait_for(lambda: len(github.calls) == 20, timeout=1)


# -- webhooks -----------------------------------------------------------------------------------

def test_the_signature_matches_githubs_test_vector() -> None:
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_a_pull_request_payload_has_githubs_shape() -> None:
    payload = pull_request_payload("synchronize", repo=REPO, number=7, head_sha=SHA, head_ref="feature-x",
                                   before=OTHER_SHA, installation=42)
    assert (payload["action"], payload["number"], payload["before"], payload["after"]) == ("synchronize", 7,
                                                                                          OTHER_SHA, SHA)
    pull = payload["pull_request"]
    assert (pull["state"], pull["merged"], pull["head"]["sha"], pull["head"]["ref"]) == ("open", False, SHA,
                                                                                         "feature-x")
    assert pull["base"]["repo"]["full_name"] == pull["head"]["repo"]["full_name"] == REPO
    repository = payload["repository"]
    assert (repository["full_name"], repository["name"], repository["owner"]["login"]) == (REPO, "shop", "acme")
    assert (repository["default_branch"], repository["private"], repository["fork"]) == ("main", False, False)
    assert repository["clone_url"] == f"https://github.com/{REPO}.git"
    assert payload["sender"]["login"] == "octocat"
    assert payload["installation"]["id"] == 42


def test_a_closed_fork_payload() -> None:
    payload = pull_request_payload("closed", repo=REPO, number=8, head_sha=SHA, head_ref="patch-1", fork=True,
                                   sender="mallory", merged=True)
    pull = payload["pull_request"]
    assert (pull["state"], pull["merged"]) == ("closed", True) and pull["merged_at"]
    assert (pull["head"]["repo"]["full_name"], pull["head"]["repo"]["fork"]) == ("mallory/shop", True)
    assert "before" not in payload and "installation" not in payload


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_delivery_carries_githubs_headers_and_a_signature_of_its_raw_body() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _Capture.received = []
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/github/webhook"
        payload = pull_request_payload("opened", repo=REPO, number=7, head_sha=SHA, head_ref="feature-x")
        assert deliver(url, "pull_request", payload, "s3cret", delivery_id="fixed-id").status_code == 202
        deliver(url, "pull_request", payload, "s3cret", signature="sha256=" + "0" * 64)
    finally:
        server.shutdown()
        server.server_close()
    (headers, body), (forged_headers, _) = _Capture.received
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == expected
    assert json.loads(body) == payload
    assert headers["X-GitHub-Event"] == "pull_request"
    assert headers["X-GitHub-Delivery"] == "fixed-id"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert forged_headers["X-Hub-Signature-256"] == "sha256=" + "0" * 64
    assert forged_headers["X-GitHub-Delivery"] not in ("", "fixed-id")  # a fresh uuid4
