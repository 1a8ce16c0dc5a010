"""The command line's fast path: a running yadockeri serves the everyday commands on a unix
socket in its data folder (yadockeri/control.py). Real processes, real swarm."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stacks.config import Settings
from tests.conftest import env_for_cli, purge, unique
from tests.support.helpers import deploy_by_cli, page, run_cli
from yadockeri.control import socket_path

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # a client that could not do it itself


@pytest.fixture
def running(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """`yadockeri reaper`, the long-running yadockeri without Slack, on the test's data folder."""
    process = subprocess.Popen([sys.executable, "-m", "yadockeri", "reaper"], env=env_for_cli(settings, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        said = process.stdout.readline()  # once it says so, it stops cleanly on SIGTERM
        assert "yadockeri is running" in said and socket_path(settings.data_dir).exists(), said + process.stdout.read()
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def ask_raw(path: Path, payload: bytes) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
        with connection.makefile("rb") as answers:
            return [json.loads(line) for line in answers]


@pytest.mark.swarm
def test_commands_go_to_the_running_yadockeri(settings: Settings, tmp_path: Path, running: subprocess.Popen,
                                              docker_client: docker.DockerClient) -> None:
    env = env_for_cli(settings, tmp_path) | NO_DOCKER
    stack = unique("k")
    try:
        deploy_by_cli(settings, stack, env)
        assert f"{stack}  running" in run_cli(["list"], env).stdout
        changed = run_cli(["env", stack, "set", "GREETING=via-socket"], env)
        assert changed.returncode == 0 and "changed: GREETING" in changed.stdout
        assert page(settings, stack)["greeting"] == "via-socket"
        status = run_cli(["status", stack], env)
        assert f"by cli:{os.environ.get('USER') or 'root'}" in status.stdout or "by cli:" in status.stdout
        missing = run_cli(["status", unique("none")], env)
        assert missing.returncode == 1 and "no stack named" in missing.stderr
        bad = run_cli(["deploy", "Bad_Name", "main"], env)
        assert bad.returncode == 2 and "is not allowed" in bad.stderr
        destroyed = run_cli(["destroy", stack, "--yes"], env)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
    finally:
        purge(docker_client, stack)


def test_the_socket_is_its_users_alone_and_checks_what_it_is_sent(settings: Settings, running: subprocess.Popen) -> None:
    path = socket_path(settings.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ask_raw(path, b"not json\n") == []  # closed without running anything
    assert ask_raw(path, json.dumps({"argv": "list"}).encode() + b"\n") == []
    answered = ask_raw(path, json.dumps({"argv": ["router"]}).encode() + b"\n")
    assert answered[-1] == {"exit": 2} and "not served by the running yadockeri" in answered[0]["err"]


def test_without_a_server_the_command_runs_itself(settings: Settings, tmp_path: Path) -> None:
    """A socket left by a yadockeri that stopped answers nothing: the command runs in-process
    (and says so, here, by finding no Docker daemon itself)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path(settings.data_dir)))
    stale.close()
    result = run_cli(["deploy", unique("d"), "main"], env_for_cli(settings, tmp_path) | NO_DOCKER)
    assert result.returncode == 1 and "cannot reach the Docker daemon" in result.stderr


def test_a_stopped_server_removes_its_socket(settings: Settings, running: subprocess.Popen) -> None:
    running.send_signal(signal.SIGTERM)
    running.wait(30)
    assert not socket_path(settings.data_dir).exists()
