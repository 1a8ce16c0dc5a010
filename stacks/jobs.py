"""What each kind of job does, in one table: the pipeline function it runs, the stack's state
while it runs, and whether it builds the branch (which moves a stack: owner or admin only).

Deployment rows store the kind's value (a plain string), so old rows and the front ends' words
("deploy", "env"...) stay as they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import Job


class JobKind(StrEnum):
    DEPLOY = "deploy"
    REDEPLOY = "redeploy"
    ENV = "env"
    DESTROY = "destroy"
    SLEEP = "sleep"
    WAKE = "wake"


@dataclass(frozen=True)
class KindRules:
    run: Callable[[Job], None]
    state_while: str | None  # the stack's state while the job runs (None: left as it is)
    builds_branch: bool = False


# The pipeline imports most of the engine's parts: it is imported when a job runs.
def _deploy(job: Job) -> None:
    from . import pipeline

    pipeline.run_deploy(job)


def _env(job: Job) -> None:
    from . import pipeline

    pipeline.run_env(job)


def _destroy(job: Job) -> None:
    from . import pipeline

    pipeline.run_destroy(job)


def _sleep(job: Job) -> None:
    from . import pipeline
    from .idle import Timing

    pipeline.run_sleep(job, Timing.of(job.settings))


def _wake(job: Job) -> None:
    from . import pipeline

    pipeline.run_wake(job)


RULES: dict[JobKind, KindRules] = {
    JobKind.DEPLOY: KindRules(_deploy, "deploying", builds_branch=True),
    JobKind.REDEPLOY: KindRules(_deploy, "deploying", builds_branch=True),
    JobKind.ENV: KindRules(_env, "deploying"),
    JobKind.DESTROY: KindRules(_destroy, "destroying"),
    JobKind.SLEEP: KindRules(_sleep, None),
    JobKind.WAKE: KindRules(_wake, None),
}

BUILDS_BRANCH = tuple(kind.value for kind, rules in RULES.items() if rules.builds_branch)
