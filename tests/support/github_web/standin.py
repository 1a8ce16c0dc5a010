"""`GitHubStandin`: the stand-in's face to tests (start, set up repositories and pull requests, inspect
what clients did). The endpoints are in the other modules of this package."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.waiting import wait_truthy

from .base import COMMIT_STATES, Pull, RecordedCall, Repo, fake_sha, now_iso
from .comments import CommentsApi
from .deployments import DeploymentsApi
from .environments import EnvironmentsApi
from .front import Front, Server
from .pulls import PullsApi
from .shapes import comment_object, deployment_object, full_pull_object, status_object
from .statuses import StatusesApi
from .world import FailurePlan, World

T = TypeVar("T")


class GitHubStandin:
    """A local HTTP server answering GitHub REST endpoints; started on construction (see the package docstring)."""

    def __init__(self, token: str = "ghs_standinInstallationToken0000000000", *, login: str = "yadockeri[bot]",
                 host: str = "127.0.0.1") -> None:
        self.token = token
        self.login = login
        self._world = world = World(token=token, login=login)
        apis = (PullsApi(world, self._api), DeploymentsApi(world, self._api), StatusesApi(world, self._api),
                EnvironmentsApi(world, self._api), CommentsApi(world, self._api))
        self._front = Front(world, [route for api in apis for route in api.routes()])
        self._server: Server | None = Server((host, 0), self._front.handle)
        self.url = f"http://{host}:{self._server.server_address[1]}"  # the API base URL, as https://api.github.com
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="github-standin",
                                        daemon=True)
        self._thread.start()

    def _api(self) -> str:
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> GitHubStandin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the test sets up -----------------------------------------------------------------

    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False) -> None:
        """A repository whose default branch points at a made-up sha (`branch_sha` tells it)."""
        with self._world.lock:
            repo = Repo(next(self._world.repo_ids), full_name, default_branch, private)
            repo.branches[default_branch] = fake_sha(f"{full_name}:{default_branch}")
            self._world.repos[full_name.lower()] = repo

    def push_branch(self, repo: str, branch: str, sha: str) -> None:
        with self._world.lock:
            self._repo(repo).branches[branch] = sha

    def branch_sha(self, repo: str, branch: str) -> str:
        with self._world.lock:
            return self._repo(repo).branches[branch]

    def open_pull(self, repo: str, number: int, head_sha: str, head_ref: str, *, fork: bool = False,
                  head_repo: str | None = None, title: str | None = None, user: str = "octocat",
                  base_ref: str | None = None, draft: bool = False, body: str | None = None) -> dict[str, Any]:
        """Open a pull request, or move an open one's head (a push to it) or reopen a closed one. A
        same-repository head branch becomes a branch of the repository; a fork's lives in `head_repo`
        (by default `<user>/<name>`). Returns the pull request as `GET .../pulls/{number}` would."""
        with self._world.lock:
            target, at = self._repo(repo), now_iso()
            pull = target.pulls.get(number)
            if pull is None:
                pull = Pull(number, title or f"Pull request {number}", head_sha, head_ref, "", fork, user,
                            base_ref or target.default_branch, draft, body, created_at=at)
                target.pulls[number] = pull
            pull.head_sha, pull.head_ref, pull.fork, pull.updated_at = head_sha, head_ref, fork, at
            pull.head_repo = head_repo or (f"{user}/{target.name}" if fork else target.full_name)
            pull.title = title or pull.title
            pull.state, pull.merged, pull.closed_at, pull.merged_at = "open", False, None, None
            if not fork:
                target.branches[head_ref] = head_sha
            return full_pull_object(self.url, target, pull)

    def close_pull(self, repo: str, number: int, merged: bool = False) -> None:
        with self._world.lock:
            target, at = self._repo(repo), now_iso()
            pull = target.pulls[number]
            pull.state, pull.merged, pull.closed_at, pull.updated_at = "closed", merged, at, at
            pull.merged_at = at if merged else None

    def set_commit_status(self, repo: str, sha: str, context: str, state: str) -> None:
        """A commit status (`error`, `failure`, `pending`, `success`), as CI would set it."""
        if state not in COMMIT_STATES:
            raise ValueError(f"commit status state {state!r} is not one of {sorted(COMMIT_STATES)}")
        with self._world.lock:
            self._repo(repo).commit_statuses.setdefault(sha, {})[context] = state

    def behind(self, repo: str, sha: str, is_behind: bool = True) -> None:
        """Mark a sha as behind the default branch: deploying it with auto_merge on gets a 202 merge."""
        with self._world.lock:
            shas = self._repo(repo).behind
            if is_behind:
                shas.add(sha)
            else:
                shas.discard(sha)

    def fail_next(self, n: int = 1, status: int = 502, *, method: str | None = None, path: str | None = None) -> None:
        """Answer the next `n` requests (of `method`, whose path matches the regex `path`) with `status`."""
        pattern = re.compile(path) if path is not None else None

        def matches(request_method: str, request_path: str) -> bool:
            return (method is None or method == request_method) and (pattern is None or bool(pattern.search(request_path)))
        with self._world.lock:
            self._world.failures.append(FailurePlan(n, status, matches))

    # -- what clients did --------------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        with self._world.lock:
            return list(self._world.call_log)

    @property
    def violations(self) -> list[str]:
        with self._world.lock:
            return list(self._world.violation_log)

    def find_calls(self, method: str | None = None, path: str | None = None) -> list[RecordedCall]:
        """Recorded calls of `method` whose path matches the regex `path` (searched, not anchored)."""
        return [c for c in self.calls if (method is None or c.method == method)
                and (path is None or re.search(path, c.path))]

    def clear_records(self) -> None:
        """Forget the calls and violations recorded (the state calls left stays)."""
        with self._world.lock:
            self._world.call_log.clear()
            self._world.violation_log.clear()

    def deployments(self, repo: str, environment: str | None = None) -> list[dict[str, Any]]:
        """The repository's deployments (of `environment`) as GitHub shows them, oldest first."""
        with self._world.lock:
            found = self._world.repo_deployments(self._repo(repo))
            return [deployment_object(self.url, d) for d in found if environment is None or d.environment == environment]

    def statuses(self, repo: str, deployment_id: int) -> list[dict[str, Any]]:
        """A deployment's statuses, oldest first (the API lists them newest first)."""
        with self._world.lock:
            deployment = self._world.deployments[deployment_id]
            assert deployment.repo == self._repo(repo).full_name, f"deployment {deployment_id} is not of {repo}"
            return [status_object(self.url, deployment.repo, s) for s in deployment.statuses]

    def latest_state(self, repo: str, environment: str) -> str | None:
        """The state of the newest status of the environment's newest deployment (None: no deployment, or
        no status yet)."""
        with self._world.lock:
            found = [d for d in self._world.repo_deployments(self._repo(repo)) if d.environment == environment]
            return found[-1].state if found else None

    def environments(self, repo: str) -> list[str]:
        with self._world.lock:
            return list(self._repo(repo).environments)

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The comments on a pull request as GitHub shows them (edits applied, deletions gone), oldest first."""
        with self._world.lock:
            full_name = self._repo(repo).full_name
            found = sorted((c for c in self._world.comments.values() if c.repo == full_name and c.number == number),
                           key=lambda c: c.id)
            return [comment_object(self.url, c) for c in found]

    def pull(self, repo: str, number: int) -> dict[str, Any]:
        with self._world.lock:
            target = self._repo(repo)
            return full_pull_object(self.url, target, target.pulls[number])

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
        """Poll `predicate` (which should only read the stand-in) until it returns something truthy."""
        return wait_truthy(predicate, timeout, what)

    def _repo(self, full_name: str) -> Repo:
        repo = self._world.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"{full_name}: no such repository in the stand-in (add_repo it first)")
        return repo
