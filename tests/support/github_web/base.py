"""What every part of the GitHub stand-in shares: the records it keeps (repositories, pull requests,
deployments, statuses, comments, calls), a request and its answer, and the errors GitHub answers with
(`{"message": ..., "documentation_url": ..., "status": "4xx"}`)."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DOCS_URL = "https://docs.github.com/rest"
HTML_URL = "https://github.com"
HttpReply = tuple[int, dict[str, str], bytes]
COMMIT_STATES = frozenset({"error", "failure", "pending", "success"})  # commit statuses (not deployment statuses)


class ApiError(Exception):
    """An error answer as GitHub gives it: a message, maybe `errors`, the docs URL and the status as a string."""

    def __init__(self, status: int, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields, "documentation_url": DOCS_URL, "status": str(self.status)}


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(resource: str, field_name: str, code: str = "invalid", message: str | None = None) -> ApiError:
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message is not None:
        error["message"] = message
    return ApiError(422, "Validation Failed", errors=[error])


@dataclass(frozen=True)
class RecordedCall:
    method: str
    path: str  # without the query
    query: dict[str, str]
    body: Any  # the JSON body as parsed (None for none, the raw text if it was not JSON)
    status: int  # of the answer
    response: Any  # the JSON answered (None for 204)
    at: float  # time.monotonic() at arrival


@dataclass
class Request:
    """One routed API request: its repository (already found), path parameters, query and JSON body."""

    repo: Repo
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    path: str


@dataclass
class Answer:
    status: int
    body: Any = None  # None: no body (204)
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Answer]


@dataclass
class Pull:
    number: int
    title: str
    head_sha: str
    head_ref: str
    head_repo: str  # full name of the repository the head branch lives in (a fork's, for forks)
    fork: bool
    user: str
    base_ref: str
    draft: bool = False
    body: str | None = None
    state: str = "open"
    merged: bool = False
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    merged_at: str | None = None


@dataclass
class Environment:
    id: int
    name: str
    created_at: str
    updated_at: str


@dataclass
class Repo:
    id: int
    full_name: str
    default_branch: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # name -> tip sha
    pulls: dict[int, Pull] = field(default_factory=dict)
    behind: set[str] = field(default_factory=set)  # shas the default branch has moved past
    commit_statuses: dict[str, dict[str, str]] = field(default_factory=dict)  # sha -> context -> state
    environments: dict[str, Environment] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/")[1]


@dataclass
class DeploymentStatus:
    id: int
    deployment_id: int
    state: str
    description: str
    environment: str
    environment_url: str
    log_url: str
    creator: str
    created_at: str


@dataclass
class Deployment:
    id: int
    repo: str  # full name
    sha: str
    ref: str
    task: str
    environment: str
    original_environment: str
    description: str | None
    payload: Any
    transient_environment: bool
    production_environment: bool
    creator: str
    created_at: str
    updated_at: str
    statuses: list[DeploymentStatus] = field(default_factory=list)  # oldest first

    @property
    def state(self) -> str | None:
        """The newest status's state (None before any status)."""
        return self.statuses[-1].state if self.statuses else None


@dataclass
class Comment:
    id: int
    repo: str  # full name
    number: int  # of the issue (pull request) it is on
    body: str
    user: str
    created_at: str
    updated_at: str


def now_iso() -> str:
    """A timestamp as GitHub writes them: `2024-05-01T12:34:56Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def node_id(prefix: str, number: int) -> str:
    """A global node id of GitHub's form (`PR_kwDO...`): a prefix and an opaque base64 tail."""
    return f"{prefix}_kwDO{base64.b64encode(number.to_bytes(8, 'big')).decode().rstrip('=')}"


def account_id(login: str) -> int:
    """A stable numeric id for an account login (the same login always gets the same id)."""
    return int(hashlib.sha256(login.encode()).hexdigest()[:8], 16)


def fake_sha(seed: str) -> str:
    """A 40-hex commit sha made from a seed (the default branch's tip, a `before` sha)."""
    return hashlib.sha1(seed.encode()).hexdigest()
