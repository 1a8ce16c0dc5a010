"""The JSON objects GitHub answers with and puts in webhook payloads, in their real shape (the keys a
client reads, with GitHub's names and URL forms). Pure functions: `api` is the API base URL
(`https://api.github.com`, or the stand-in's own URL)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from .base import HTML_URL, Comment, Deployment, DeploymentStatus, Environment, Pull, Repo, account_id, node_id


def user_object(api: str, login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": account_id(login),
        "node_id": node_id("U", account_id(login)),
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
        "url": f"{api}/users/{quote(login)}",
        "html_url": f"{HTML_URL}/{quote(login)}",
    }


def repo_object(api: str, full_name: str, *, repo_id: int, default_branch: str, private: bool = False,
                fork: bool = False) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": repo_id,
        "node_id": node_id("R", repo_id),
        "name": name,
        "full_name": full_name,
        "private": private,
        "owner": user_object(api, owner),
        "html_url": f"{HTML_URL}/{full_name}",
        "fork": fork,
        "url": f"{api}/repos/{full_name}",
        "clone_url": f"{HTML_URL}/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "default_branch": default_branch,
        "visibility": "private" if private else "public",
    }


def base_repo_object(api: str, repo: Repo) -> dict[str, Any]:
    return repo_object(api, repo.full_name, repo_id=repo.id, default_branch=repo.default_branch, private=repo.private)


def pull_object(api: str, repo: Repo, pull: Pull) -> dict[str, Any]:
    """A pull request as `GET /repos/{o}/{r}/pulls` lists it."""
    base = base_repo_object(api, repo)
    if pull.fork:  # the head branch lives in the fork, a repository of its own
        head = repo_object(api, pull.head_repo, repo_id=account_id(pull.head_repo), default_branch=repo.default_branch,
                           private=repo.private, fork=True)
    else:
        head = base
    url = f"{api}/repos/{repo.full_name}/pulls/{pull.number}"
    return {
        "url": url,
        "id": account_id(f"{repo.full_name}#{pull.number}"),
        "node_id": node_id("PR", account_id(f"{repo.full_name}#{pull.number}")),
        "html_url": f"{HTML_URL}/{repo.full_name}/pull/{pull.number}",
        "diff_url": f"{HTML_URL}/{repo.full_name}/pull/{pull.number}.diff",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{pull.number}",
        "comments_url": f"{api}/repos/{repo.full_name}/issues/{pull.number}/comments",
        "statuses_url": f"{api}/repos/{repo.full_name}/statuses/{pull.head_sha}",
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user_object(api, pull.user),
        "body": pull.body,
        "labels": [],
        "created_at": pull.created_at,
        "updated_at": pull.updated_at,
        "closed_at": pull.closed_at,
        "merged_at": pull.merged_at,
        "draft": pull.draft,
        "head": {"label": f"{head['owner']['login']}:{pull.head_ref}", "ref": pull.head_ref, "sha": pull.head_sha,
                 "user": head["owner"], "repo": head},
        "base": {"label": f"{repo.owner}:{pull.base_ref}", "ref": pull.base_ref,
                 "sha": repo.branches.get(pull.base_ref, ""), "user": base["owner"], "repo": base},
        "author_association": "CONTRIBUTOR" if pull.fork else "MEMBER",
    }


def full_pull_object(api: str, repo: Repo, pull: Pull) -> dict[str, Any]:
    """A pull request as `GET .../pulls/{number}` and webhook payloads give it: with `merged` and counts."""
    return {**pull_object(api, repo, pull), "merged": pull.merged, "mergeable": None, "rebaseable": None,
            "mergeable_state": "unknown", "merged_by": None, "comments": 0, "review_comments": 0, "commits": 1,
            "additions": 1, "deletions": 0, "changed_files": 1}


def deployment_object(api: str, deployment: Deployment) -> dict[str, Any]:
    url = f"{api}/repos/{deployment.repo}/deployments/{deployment.id}"
    return {
        "url": url,
        "id": deployment.id,
        "node_id": node_id("DE", deployment.id),
        "sha": deployment.sha,
        "ref": deployment.ref,
        "task": deployment.task,
        "payload": copy.deepcopy(deployment.payload),  # answers never share state with the stand-in
        "original_environment": deployment.original_environment,
        "environment": deployment.environment,
        "description": deployment.description,
        "creator": user_object(api, deployment.creator),
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "statuses_url": f"{url}/statuses",
        "repository_url": f"{api}/repos/{deployment.repo}",
        "transient_environment": deployment.transient_environment,
        "production_environment": deployment.production_environment,
    }


def status_object(api: str, repo: str, status: DeploymentStatus) -> dict[str, Any]:
    deployment_url = f"{api}/repos/{repo}/deployments/{status.deployment_id}"
    return {
        "url": f"{deployment_url}/statuses/{status.id}",
        "id": status.id,
        "node_id": node_id("DES", status.id),
        "state": status.state,
        "creator": user_object(api, status.creator),
        "description": status.description,
        "environment": status.environment,
        "target_url": status.log_url,  # GitHub sets target_url to log_url
        "log_url": status.log_url,
        "environment_url": status.environment_url,
        "created_at": status.created_at,
        "updated_at": status.created_at,
        "deployment_url": deployment_url,
        "repository_url": f"{api}/repos/{repo}",
    }


def comment_object(api: str, comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "node_id": node_id("IC", comment.id),
        "url": f"{api}/repos/{comment.repo}/issues/comments/{comment.id}",
        "html_url": f"{HTML_URL}/{comment.repo}/pull/{comment.number}#issuecomment-{comment.id}",
        "issue_url": f"{api}/repos/{comment.repo}/issues/{comment.number}",
        "body": comment.body,
        "user": user_object(api, comment.user),
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "author_association": "NONE",
    }


def environment_object(api: str, repo: str, environment: Environment) -> dict[str, Any]:
    return {
        "id": environment.id,
        "node_id": node_id("EN", environment.id),
        "name": environment.name,
        "url": f"{api}/repos/{repo}/environments/{quote(environment.name, safe='')}",
        "html_url": f"{HTML_URL}/{repo}/deployments/activity_log?environments_filter={quote(environment.name)}",
        "created_at": environment.created_at,
        "updated_at": environment.updated_at,
        "protection_rules": [],
        "deployment_branch_policy": None,
    }
