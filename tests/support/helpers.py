"""Small helpers shared by the tests that deploy for real."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from stacks.config import Settings
from stacks.engine import Actor, Engine
from stacks.progress import Reporter
from stacks.store import DeploymentRecord
from tests.support.waiting import poll_until

ADMIN = Actor(id="cli:test", source="cli", admin=True)
DEPLOY_WAIT = 240


def through_router(settings: Settings, stack: str, *, domain: str | None = None, path: str = "/",
                   host: str | None = None) -> requests.Response:
    """A request to the test router, as a browser asking for <stack>.<domain> would send it."""
    return requests.get(settings.router_check_url + path, headers={"Host": host or f"{stack}.{domain or settings.domains[0]}"},
                        timeout=15)


def page(settings: Settings, stack: str, **kwargs: str) -> dict[str, str]:
    """The sample app's page as key=value pairs."""
    response = through_router(settings, stack, **kwargs)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def deploy(engine: Engine, stack: str, branch: str = "main", *, actor: Actor = ADMIN,
           reporter: Reporter | None = None) -> DeploymentRecord:
    return engine.deploy(stack, branch, actor, reporter=reporter).wait(DEPLOY_WAIT)


def redeploy(engine: Engine, stack: str, *, actor: Actor = ADMIN, reporter: Reporter | None = None) -> DeploymentRecord:
    return engine.redeploy(stack, actor, reporter=reporter).wait(DEPLOY_WAIT)


def succeeded(record: DeploymentRecord) -> DeploymentRecord:
    assert record.state == "succeeded", f"{record.kind} #{record.id} {record.state}: {record.error}\n{record.log_tail}"
    return record


def steps(record: DeploymentRecord) -> dict[str, str]:
    return {step.name: step.state for step in record.steps}


def run_cli(args: list[str], env: dict[str, str], *, timeout: float = 300,
            input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yadockeri", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, input=input_text)


def deploy_by_cli(settings: Settings, stack: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`yadockeri deploy STACK main` as a user types it: it builds, says the URL, and the page serves."""
    deployed = run_cli(["deploy", stack, "main"], env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "✓ build" in deployed.stdout and settings.stack_url(stack) in deployed.stdout
    assert page(settings, stack)["content"] == "main-1"
    return deployed


def wait_until(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2, *,
               what: str = "condition") -> Any:
    """The predicate's first true value, asked every `interval` seconds (once more at the deadline)."""
    return poll_until(predicate, timeout, interval, lambda: AssertionError(f"{what}: not within {timeout}s"))


def files_containing(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
