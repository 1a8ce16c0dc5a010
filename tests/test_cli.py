"""The `yadockeri` command line as a user runs it: a real process, real swarm, real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from stacks.config import Settings
from stacks.secrets import load_fernet
from stacks.store import Store
from tests.conftest import env_for_cli, unique
from tests.support.helpers import deploy_by_cli, page, run_cli, wait_until
from tests.support.sample_app import DOCKERFILE, SampleRepo

# Untrusted text as a hostile branch writes it: set the window title, erase the line and forge
# another, write the clipboard (OSC 52), reverse the text (RLO), hide a character (zero width).
HOSTILE = "\x1b]0;pwned\x07fix\x1b[2K\r\x1b[32m✓ deploy succeeded\x1b[0m \x1b]52;c;ZXZpbA==\x07\u202eevil\u200b"
NOT_INERT = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b", "\r")


def assert_inert(output: str) -> None:
    assert not [c for c in NOT_INERT if c in output], repr(output)


def test_help_and_usage_errors_without_docker(tmp_path: Path) -> None:
    env = {**os.environ, "YADOCKERI_DATA_DIR": str(tmp_path / "data"), "DOCKER_HOST": "unix:///nonexistent.sock"}
    shown = run_cli(["help"], env)
    assert shown.returncode == 0 and "yadockeri deploy STACK BRANCH" in shown.stdout
    for args, message in (
        (["deploy", "Akira", "main"], "stack name `Akira` is not allowed"),
        (["deploy", "akira"], "deploy needs BRANCH"),
        (["frob"], "unknown command `frob`"),
        (["deploy", "akira", "--upload-pack=touch /tmp/x"], "does not take `--upload-pack`"),
    ):
        result = run_cli(args, env)
        assert result.returncode == 2, result
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was even opened


def test_the_terminal_reporter_prints_untrusted_text_inert() -> None:
    import io
    from datetime import UTC, datetime

    from stacks.store import DeploymentRecord, LockRecord
    from yadockeri.terminal import TerminalReporter

    now = datetime.now(UTC)
    record = DeploymentRecord(id=7, stack="akira", stack_id=1, kind="deploy", branch="main" + HOSTILE, commit=None,
                              image=None, state="failed", requested_by="U1" + HOSTILE, source="slack",
                              created_at=now, started_at=now, finished_at=now, runner=None,
                              error="build failed\n[  9.9s] ✓ deploy of akira succeeded" + HOSTILE, log_tail=None,
                              message=None)
    out = io.StringIO()
    reporter = TerminalReporter(out)
    reporter.queued(record)
    reporter.waiting(record, LockRecord("akira", 6, "cli:" + HOSTILE, "r", now))
    reporter.started(record)
    reporter.step(7, "fetch", "ok", 0.1, "main at 0123456789ab: " + HOSTILE)
    reporter.log(7, "#5 RUN echo " + HOSTILE)
    reporter.log(7, "two\n[  1.0s] ✓ forged line")
    reporter.finished(record, [])
    printed = out.getvalue()
    assert_inert(printed)
    assert "evil" in printed and "␍" in printed  # the words stay, the carriage return is shown
    # a line inside a value cannot pass for one of yadockeri's own
    assert all(line.startswith(("#7 ", "  waiting", "[", "           | ", "    ")) for line in printed.splitlines())


def test_the_command_line_prints_untrusted_text_inert(tmp_path: Path) -> None:
    from stacks.config import AppConfig

    env = {**os.environ, "YADOCKERI_DATA_DIR": str(tmp_path / "data"), "DOCKER_HOST": "unix:///nonexistent.sock"}
    refused = run_cli(["deploy", "akira", "main" + HOSTILE], env)  # the parser echoes what it refuses
    assert refused.returncode == 2
    assert_inert(refused.stderr)

    from stacks.engine import Engine

    settings = Settings(data_dir=tmp_path / "data", apps={"demo": AppConfig(repo=str(tmp_path), default=True)})
    engine = Engine(settings)  # records as a deploy of a hostile branch would leave them (no Docker needed)
    engine.start()
    try:
        deployment, _ = engine.store.create_deployment(stack="akira", app="demo", branch="feature" + HOSTILE,
                                                       kind="deploy", actor="cli:" + HOSTILE, source="cli", create=True)
        engine.store.finish_deployment(deployment.id, "failed", error=HOSTILE)
    finally:
        engine.close()
    env_file = tmp_path / "yadockeri.yml"
    env_file.write_text("apps:\n  demo:\n    repo: " + str(tmp_path) + "\n    default: true\n")
    listed = run_cli(["list"], {**env, "YADOCKERI_CONFIG": str(env_file)})
    assert listed.returncode == 0, listed.stderr
    assert_inert(listed.stdout + listed.stderr)
    assert "feature" in listed.stdout and len(listed.stdout.splitlines()) == 2  # a header and one row


@pytest.mark.swarm
def test_docker_unreachable_is_one_clear_line(settings: Settings, tmp_path: Path) -> None:
    env = env_for_cli(settings, tmp_path) | {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run_cli(["deploy", unique("d"), "main"], env)
    assert result.returncode == 1
    assert "cannot reach the Docker daemon at unix:///nonexistent/docker.sock" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.swarm
def test_deploy_list_status_logs_destroy(settings: Settings, tmp_path: Path, docker_client: docker.DockerClient) -> None:
    env = env_for_cli(settings, tmp_path)
    stack = unique("c")
    try:
        deploy_by_cli(settings, stack, env)
        listed = run_cli(["list"], env)
        assert stack in listed.stdout and "running" in listed.stdout
        status = run_cli(["status", stack], env)
        assert f"{stack}_web" in status.stdout and "1/1 running" in status.stdout
        logs = run_cli(["logs", stack], env)
        assert logs.returncode == 0 and f"web-started-{stack}" in logs.stdout
        missing = run_cli(["logs", stack, "worker"], env)
        assert missing.returncode == 1 and "has no process `worker`" in missing.stderr
        refused = run_cli(["destroy", stack], env, input_text="")
        assert refused.returncode == 1 and "add --yes" in refused.stderr
        assert page(settings, stack)["content"] == "main-1"
        destroyed = run_cli(["destroy", stack, "--yes"], env)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
        again = run_cli(["destroy", stack, "--yes"], env)
        assert again.returncode == 1 and f"no stack named `{stack}`" in again.stderr
    finally:
        from tests.conftest import purge

        purge(docker_client, stack)


@pytest.mark.swarm
def test_a_killed_deploy_is_marked_interrupted_and_the_stack_can_deploy_again(
    settings: Settings, tmp_path: Path, sample_repo: SampleRepo, docker_client: docker.DockerClient
) -> None:
    sample_repo.write({"Dockerfile": DOCKERFILE.replace("COPY www /www", "COPY www /www\nRUN sleep 60")})
    sample_repo.commit("slow build")
    env = env_for_cli(settings, tmp_path)
    stack = unique("k")
    store = Store(settings.db_url, load_fernet(None, settings.data_dir)) if settings.data_dir.exists() else None
    process = subprocess.Popen([sys.executable, "-m", "yadockeri", "deploy", stack, "main"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def building() -> bool:
            nonlocal store
            if store is None and (settings.data_dir / "yadockeri.db").exists():
                store = Store(settings.db_url, load_fernet(None, settings.data_dir))
            if store is None or store.get_stack(stack) is None:
                return False
            (deployment,) = store.deployments(stack)
            return deployment.state == "running" and any(s.name == "build" for s in deployment.steps)

        wait_until(building, timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert store is not None
        assert store.deployments(stack)[0].state == "running"  # nobody knows yet

        status = run_cli(["status", stack], env)  # the next start notices
        assert "was interrupted" in status.stderr and status.returncode == 0
        (killed,) = store.deployments(stack)
        assert killed.error is not None
        assert killed.state == "interrupted" and "interrupted" in killed.error
        assert store.lock_holder(stack) is None

        sample_repo.write({"Dockerfile": DOCKERFILE})
        sample_repo.commit("fast build")
        again = run_cli(["deploy", stack, "main"], env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert page(settings, stack)["content"] == "main-1"
    finally:
        if process.poll() is None:
            process.kill()
        if store is not None:
            store.close()
        from tests.conftest import purge

        purge(docker_client, stack)


@pytest.mark.swarm
def test_the_command_line_waits_for_a_deploy_held_elsewhere(
    settings: Settings, tmp_path: Path, sample_repo: SampleRepo, docker_client: docker.DockerClient
) -> None:
    """Two processes, one database lock: the second says who holds the stack and waits in line."""
    env = env_for_cli(settings, tmp_path)
    stack = unique("w")
    try:
        assert run_cli(["deploy", stack, "main"], env).returncode == 0
        sample_repo.write({"Dockerfile": DOCKERFILE.replace("COPY www /www", "COPY www /www\nRUN sleep 4"),
                           "www/content.txt": "main-2"})
        sample_repo.commit("slower")
        first = subprocess.Popen([sys.executable, "-m", "yadockeri", "redeploy", stack], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        second = run_cli(["redeploy", stack], env)
        first_out, _ = first.communicate(timeout=240)
        assert first.returncode == 0, first_out
        assert second.returncode == 0, second.stdout + second.stderr
        assert "waiting: `" in second.stdout and "held by deployment #2 of cli:" in second.stdout
        assert page(settings, stack)["content"] == "main-2"
    finally:
        from tests.conftest import purge

        purge(docker_client, stack)


@pytest.mark.swarm
def test_a_commit_subject_with_escapes_is_printed_inert(settings: Settings, tmp_path: Path, sample_repo: SampleRepo,
                                                       docker_client: docker.DockerClient) -> None:
    sample_repo.commit("fix" + HOSTILE)
    env = env_for_cli(settings, tmp_path)
    stack = unique("e")
    try:
        deployed = run_cli(["deploy", stack, "main"], env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "evil" in deployed.stdout  # the subject is shown (in the fetch step), inert
        assert_inert(deployed.stdout + deployed.stderr)
        for args in (["status", stack], ["list"], ["logs", stack]):
            shown = run_cli(args, env)
            assert shown.returncode == 0, shown.stderr
            assert_inert(shown.stdout + shown.stderr)
    finally:
        from tests.conftest import purge

        purge(docker_client, stack)
