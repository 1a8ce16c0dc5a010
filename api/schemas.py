"""What the API answers and accepts, as pydantic models: FastAPI makes the OpenAPI document
(/api/v1/openapi.json) from them, and every answer is one of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Every error: a code a script can test and a message a person can act on."""

    error: str = Field(description="not_authenticated, forbidden, not_found, bad_request, invalid, conflict, "
                                   "rate_limited, unavailable")
    message: str


class Step(BaseModel):
    name: str
    state: str = Field(description="running, ok, skipped, warning, failed")
    seconds: float | None
    detail: str | None


class Deployment(BaseModel):
    id: int
    stack: str
    kind: str = Field(description="deploy, redeploy, env, destroy, sleep, wake")
    branch: str
    commit: str | None
    state: str = Field(description="queued, running, succeeded, failed, interrupted")
    requested_by: str
    source: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    url: str | None = Field(description="the stack's URL once the deployment succeeded")
    steps: list[Step]
    events: str = Field(description="the path of this deployment's event stream")


class Stack(BaseModel):
    name: str
    app: str
    branch: str
    commit: str | None
    state: str
    url: str
    owner: str
    asleep: bool
    created_at: datetime
    last_activity_at: datetime
    keep_until: datetime | None
    next: str = Field(description="what happens next to it (sleep, warning, reap), in words")


class StackList(BaseModel):
    stacks: list[Stack]


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch: str
    app: str | None = None


class EnvKeys(BaseModel):
    stack: str
    keys: list[str]


class EnvChange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    set_values: dict[str, str] = Field(default_factory=dict, alias="set")
    unset: list[str] = Field(default_factory=list)


class EnvChanged(BaseModel):
    stack: str
    changed: list[str]
    deployment: Deployment | None = Field(description="the rollout of the change; null when nothing changed")


class KeepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: int | None = Field(None, ge=1, le=30 * 86400)
    forever: bool = False


class Kept(BaseModel):
    stack: str
    until: datetime


class Logs(BaseModel):
    stack: str
    process: str
    lines: list[str]
