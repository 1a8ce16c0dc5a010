"""GitHub's REST API, the little yadockeri needs of it: deployments and their statuses, one
comment per pull request, the open pull requests of a repository.

Calls that report (statuses, comments) go through an outbox: one thread sends them in order,
so a slow or failing GitHub never holds up a deployment, and a deployment's statuses never
arrive out of order. Reading the open pull requests (the reconciliation) is a direct call.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .errors import YadockeriError

log = logging.getLogger(__name__)

TIMEOUT = 10
DESCRIPTION_MAX = 140  # GitHub refuses longer deployment status descriptions
API_VERSION = "2022-11-28"


class GitHubError(YadockeriError):
    pass


@dataclass
class GitHub:
    api_url: str
    token: str
    session: requests.Session

    @classmethod
    def connect(cls, api_url: str, token: str) -> GitHub:
        return cls(api_url.rstrip("/"), token, requests.Session())

    def _call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> requests.Response:
        try:
            response = self.session.request(method, self.api_url + path, json=body, params=params, timeout=TIMEOUT,
                                            headers={"Authorization": f"Bearer {self.token}",
                                                     "Accept": "application/vnd.github+json",
                                                     "X-GitHub-Api-Version": API_VERSION})
        except requests.RequestException as error:
            raise GitHubError(f"GitHub cannot be reached at {self.api_url}: {type(error).__name__}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", "")
            except ValueError:
                message = response.text[:200]
            raise GitHubError(f"GitHub answered {response.status_code} to {method} {path}: {message}")
        return response

    def create_deployment(self, repo: str, *, sha: str, environment: str, description: str) -> int:
        answer = self._call("POST", f"/repos/{repo}/deployments", {
            "ref": sha, "environment": environment, "description": description[:DESCRIPTION_MAX],
            "required_contexts": [],  # running CI does not hold a review stack back
            "auto_merge": False,  # GitHub must never push a merge commit for yadockeri
            "transient_environment": True, "production_environment": False,
        })
        if answer.status_code != 201:  # 202: GitHub merged instead of deploying (auto_merge was not honoured)
            raise GitHubError(f"GitHub did not create the deployment: {answer.json().get('message', '')}")
        return int(answer.json()["id"])

    def set_status(self, repo: str, deployment: int, state: str, description: str, *,
                   environment_url: str | None = None) -> None:
        body: dict = {"state": state, "description": description[:DESCRIPTION_MAX]}
        if environment_url:
            body["environment_url"] = environment_url
        self._call("POST", f"/repos/{repo}/deployments/{deployment}/statuses", body)

    def deployments(self, repo: str, environment: str) -> list[dict]:
        return list(self._call("GET", f"/repos/{repo}/deployments", params={"environment": environment}).json())

    def comment(self, repo: str, number: int, body: str, comment_id: int | None) -> int:
        """Edit the pull request's comment in place, or write it if there is none (or it was deleted)."""
        if comment_id is not None:
            try:
                self._call("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", {"body": body})
                return comment_id
            except GitHubError as error:
                if " 404 " not in str(error):
                    raise
        return int(self._call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body}).json()["id"])

    def open_pulls(self, repo: str) -> list[dict]:
        pulls: list[dict] = []
        for page in range(1, 101):
            answer = self._call("GET", f"/repos/{repo}/pulls", params={"state": "open", "per_page": 100, "page": page})
            batch = answer.json()
            pulls += batch
            if len(batch) < 100 or 'rel="next"' not in answer.headers.get("Link", ""):
                return pulls
        return pulls


class Outbox:
    """One thread that sends GitHub calls in order; a failure is logged, never raised."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="yadockeri-github", daemon=True)
        self._thread.start()

    def send(self, call: Callable[[], object]) -> None:
        self._queue.put(call)

    def drain(self, timeout: float = 30) -> None:
        """Until everything sent so far was sent (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done.set)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            try:
                call()
            except Exception:  # GitHub's trouble is logged; the deployment it reports on goes on
                log.exception("a call to GitHub failed")
