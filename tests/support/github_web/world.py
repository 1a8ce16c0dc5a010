"""The GitHub the stand-in plays: the accepted token and the account it belongs to, the repositories
(with their branches, pull requests, commit statuses and environments), the deployments and comments
calls leave, the calls and violations recorded, and planned failures. One re-entrant lock guards it
all: each request runs whole under it, and every test-side helper takes it too."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from .base import Comment, Deployment, Environment, Pull, RecordedCall, Repo, not_found


class FailurePlan:
    """`fail_next(n, status)`: the next `n` requests (those matching `method` and `path`) get `status`."""

    def __init__(self, times: int, status: int, matches: Callable[[str, str], bool]) -> None:
        self.remaining = times
        self.status = status
        self.matches = matches


class World:
    def __init__(self, *, token: str, login: str) -> None:
        self.token = token
        self.login = login  # who the token belongs to: the creator of deployments, statuses and comments
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}  # by full name, lower-cased (GitHub's names are case-insensitive)
        self.deployments: dict[int, Deployment] = {}
        self.comments: dict[int, Comment] = {}
        self.call_log: list[RecordedCall] = []
        self.violation_log: list[str] = []  # what a client did that real GitHub would not take well
        self.failures: list[FailurePlan] = []
        # GitHub's ids are one sequence per kind, across repositories
        self.repo_ids = itertools.count(1_296_269)
        self.deployment_ids = itertools.count(1_000_001)
        self.status_ids = itertools.count(2_000_001)
        self.comment_ids = itertools.count(3_000_001)
        self.environment_ids = itertools.count(4_000_001)

    def find_repo(self, full_name: str) -> Repo:
        """A repository the stand-in knows, else GitHub's 404."""
        repo = self.repos.get(full_name.lower())
        if repo is None:
            raise not_found()
        return repo

    def find_pull(self, repo: Repo, number: str | int) -> Pull:
        pull = repo.pulls.get(int(number))
        if pull is None:
            raise not_found()
        return pull

    def find_deployment(self, repo: Repo, deployment_id: str | int) -> Deployment:
        deployment = self.deployments.get(int(deployment_id))
        if deployment is None or deployment.repo != repo.full_name:
            raise not_found()
        return deployment

    def find_comment(self, repo: Repo, comment_id: str | int) -> Comment:
        comment = self.comments.get(int(comment_id))
        if comment is None or comment.repo != repo.full_name:
            raise not_found()
        return comment

    def resolve_ref(self, repo: Repo, ref: str) -> str | None:
        """The sha a deployment's `ref` names: a branch of the repository (also as `refs/heads/...`), or the
        head sha of one of its pull requests (reachable as `refs/pull/N/head` even from forks); else None."""
        branch = ref.removeprefix("refs/heads/")
        if branch in repo.branches:
            return repo.branches[branch]
        if any(p.head_sha == ref for p in repo.pulls.values()) or ref in repo.branches.values():
            return ref
        return None

    def repo_deployments(self, repo: Repo) -> list[Deployment]:
        """The repository's deployments, oldest first."""
        return sorted((d for d in self.deployments.values() if d.repo == repo.full_name), key=lambda d: d.id)

    def environment(self, repo: Repo, name: str, at: str) -> Environment:
        """The environment named `name`, made on first use (as a deployment to it does on GitHub)."""
        environment = repo.environments.get(name)
        if environment is None:
            environment = Environment(next(self.environment_ids), name, at, at)
            repo.environments[name] = environment
        return environment

    def planned_failure(self, method: str, path: str) -> int | None:
        """The status a planned failure answers this request with, or None (and one use of the plan taken)."""
        for plan in self.failures:
            if plan.remaining > 0 and plan.matches(method, path):
                plan.remaining -= 1
                return plan.status
        return None
