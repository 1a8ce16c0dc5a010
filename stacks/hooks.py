"""The app's one-off commands, like Heroku's release phase and app.json scripts: `release` (before
the processes start on a new image), `postdeploy` (once, after the stack's first deploy went live)
and `predestroy` (before a destroy or a reap).

Each runs as a swarm job on the stack's network with the stack's env and limits, from the
deployed image; its output goes to the deployment log. A failed release stops the deploy; a
failed postdeploy or predestroy is said as a warning and stops nothing (the stack stays up, the
destroy goes on), as on Heroku.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .appspec import parse_appspec
from .docker_adapter import specs
from .docker_adapter.labels import SERVICE_NAME_LABEL
from .errors import ReleaseFailed, YadockeriError
from .polling import poll_until
from .waits import FAST_FOR, FAST_POLL

if TYPE_CHECKING:
    from .pipeline import Job, Release

ENDED = ("complete", "failed", "rejected", "orphaned", "shutdown")
TAIL = 20  # lines of a failed command's output said in its error


def run_one_off(job: Job, release: Release, task: str, command: str) -> None:
    """Run `command` as the stack's `task` job and wait for it; ReleaseFailed with the output's
    last lines if it did not complete."""
    env = specs.process_env(
        spec_env=dict(release.spec.env), stack_env=job.store.get_env(job.name), stack=job.name,
        branch=job.deployment.branch, commit=release.commit, url=job.settings.stack_url(job.name),
    )
    spec = specs.release_job_spec(
        stack=job.name, app=job.app_name, image=release.image, command=command, env=env,
        deployment_id=job.deployment.id, hardening=job.hardening(release.spec, task), task=task,
    )
    name = spec["name"]
    job.swarm.create_job(spec)
    lines: list[str] = []
    try:
        state, error = _wait_job(job, name)
        lines = [job.log.redact(line) for line in job.swarm.service_logs(name, tail=200)]
        for line in lines:
            job.log(f"{task}: {line}")
    finally:
        job.swarm.remove_service(name)
        job.swarm.remove_containers(**{SERVICE_NAME_LABEL: name})  # swarm keeps a job's
    if state != "complete":
        tail = "\n".join(lines[-TAIL:])
        raise ReleaseFailed(f"the {task} command failed ({error or state})" + (f"\n{tail}" if tail else ""))


def run_release(job: Job, release: Release) -> None:
    with job.step("release") as s:
        try:
            run_one_off(job, release, "release", release.spec.release or "")
        except ReleaseFailed as error:
            first, _, tail = str(error).partition("\n")
            raise ReleaseFailed(f"{first}; nothing was updated" + (f"\n{tail}" if tail else "")) from None
        s.detail = release.spec.release


def run_postdeploy(job: Job, release: Release) -> None:
    """Once per stack: after the deploy that made it live first (claimed before it runs, so a
    restart of yadockeri never runs it twice). A failure is a warning: the stack stays up."""
    if not job.store.claim_first_live(job.name) or not release.spec.postdeploy:
        return
    with job.step("postdeploy") as s:
        s.detail = release.spec.postdeploy
        try:
            run_one_off(job, release, "postdeploy", release.spec.postdeploy)
        except YadockeriError as error:
            s.warn(f"{_first_line(error)}; the stack is up. postdeploy runs once per stack: destroy and "
                   "deploy again to run it again")


def run_predestroy(job: Job) -> None:
    """Before a destroy or a reap, from the deployed commit's .yadockeri.yml; a failure is a
    warning and the destroy goes on."""
    from .pipeline import Release  # the pipeline imports this module

    stack = job.stack
    if not stack.commit or not stack.image:
        return
    try:
        max_bytes = job.settings.max_spec_bytes
        spec = parse_appspec(job.mirror.read_file(stack.commit, ".yadockeri.yml", max_bytes=max_bytes),
                             max_bytes=max_bytes)
    except YadockeriError as error:
        job.log(f"predestroy: not run, the deployed .yadockeri.yml cannot be read: {_first_line(error)}")
        return
    if not spec.predestroy:
        return
    with job.step("predestroy") as s:
        s.detail = spec.predestroy
        try:
            run_one_off(job, Release(stack.commit, spec, None, stack.image), "predestroy", spec.predestroy)
        except YadockeriError as error:
            s.warn(f"{_first_line(error)}; the stack is destroyed all the same")


def _wait_job(job: Job, name: str) -> tuple[str, str | None]:
    def ended() -> tuple[str, str | None] | None:
        for task in job.swarm.tasks(name):
            state = task["Status"]["State"]
            if state in ENDED:
                return state, task["Status"].get("Err")
        return None

    # Briskly at first (most commands are quick; a deploy waits for them), then gently.
    started, timeout = time.monotonic(), job.settings.release_timeout
    result = poll_until(ended, timeout=min(FAST_FOR, timeout), interval=FAST_POLL, timed_out=lambda: None)
    if result is None:
        result = poll_until(ended, timeout=max(0.0, timeout - (time.monotonic() - started)),
                            interval=job.settings.poll_interval,
                            timed_out=lambda: ("timeout", f"did not finish within {timeout}s"))
    assert result is not None  # no stop(): ended or timed out
    return result


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
