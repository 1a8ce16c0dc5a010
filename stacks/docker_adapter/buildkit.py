"""Image builds with BuildKit, through the docker CLI (`DOCKER_BUILDKIT=1 docker build`): the
SDK has only the classic builder, which refuses `RUN --mount`. No shell, a minimal
environment, the same engine (and TLS) as the SDK; `--progress=plain` lines stream to the
deployment log; at the timeout the CLI is killed, which ends its session and makes the daemon
cancel the build."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildFailed, DockerUnavailable
from .cli import docker_cli

TAIL_LINES = 25
_DIGEST_LINE = re.compile(r"^#\d+ sha256:[0-9a-f]{64}$")  # the plain progress's step ids: noise in a log


@dataclass(frozen=True)
class BuildRequest:
    """One build: a folder holding exactly the commit's tree (so .dockerignore applies)."""

    folder: Path
    dockerfile: str  # relative to the folder
    tag: str
    labels: dict[str, str]
    target: str | None = None
    args: dict[str, str] = field(default_factory=dict)  # shown in the log: not secrets
    secrets: dict[str, Path] = field(default_factory=dict)  # id -> a private file holding the value
    cache_from: tuple[str, ...] = ()  # images whose layers may be reused (pulled if missing)
    inline_cache: bool = False  # write cache metadata into the image, for later --cache-from


def build_argv(cli: str, request: BuildRequest, iidfile: Path) -> list[str]:
    """The docker CLI's arguments for a request. Pure."""
    argv = [cli, "build", "--progress=plain", "--file", str(request.folder / request.dockerfile),
            "--tag", request.tag, "--iidfile", str(iidfile)]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    if request.target:
        argv += ["--target", request.target]
    for key, value in request.args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if request.inline_cache:
        argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    for ref in request.cache_from:
        argv += ["--cache-from", ref]
    for secret, path in sorted(request.secrets.items()):
        argv += ["--secret", f"id={secret},src={path}"]
    return [*argv, "--", str(request.folder)]


class BuildKit:
    """The builder part of Swarm."""

    host: str
    tls_dir: Path | None

    def buildkit_build(self, request: BuildRequest, *, log_line: Callable[[str], None], timeout: float) -> str:
        """Build; returns the image ID. BuildFailed ends with the failing step's output."""
        iidfile = request.folder.parent / f".{request.folder.name}.iid"
        argv = build_argv(docker_cli(), request, iidfile)
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       env=self._build_env(), start_new_session=True)
        except FileNotFoundError:
            raise DockerUnavailable("the docker CLI is not installed (it runs yadockeri's builds)") from None
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        expired = threading.Event()
        timer = threading.Timer(timeout, _stop, (process, expired))
        timer.daemon = True
        timer.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if _DIGEST_LINE.match(line):
                    continue
                tail.append(line)
                log_line(line)
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                _stop(process, expired)
        try:
            return self._result(code, expired.is_set(), tail, iidfile, timeout)
        finally:
            iidfile.unlink(missing_ok=True)

    def _result(self, code: int, expired: bool, tail: deque[str], iidfile: Path, timeout: float) -> str:
        text = "\n".join(tail)
        if expired:
            raise BuildFailed(f"docker build did not finish within {timeout:.0f}s (YADOCKERI_BUILD_TIMEOUT); "
                              f"it was stopped\n{text}")
        if code != 0:
            if "Cannot connect to the Docker daemon" in text or "error during connect" in text:
                raise DockerUnavailable(f"cannot reach the Docker daemon that builds: {tail[-1] if tail else code}")
            raise BuildFailed(f"docker build failed: {_failure(tail) or f'exit status {code}'}\n{text}")
        image_id = iidfile.read_text().strip() if iidfile.exists() else ""
        if not image_id:
            raise BuildFailed("docker build ended without an image:\n" + text)
        return image_id

    def _build_env(self) -> dict[str, str]:
        """BuildKit on, the SDK's engine, and nothing of yadockeri's own environment (secrets)."""
        env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": os.environ.get("HOME", "/root"),
               "DOCKER_BUILDKIT": "1", "DOCKER_HOST": self.host, "BUILDKIT_PROGRESS": "plain"}
        if self.tls_dir is not None:
            env.update(DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(self.tls_dir))
        return env


def _failure(tail: deque[str]) -> str:
    """The line that says why (BuildKit ends with `failed to solve: ...` or `ERROR: ...`)."""
    for line in reversed(tail):
        for marker in ("failed to solve", "ERROR:", "error:"):
            if marker in line:
                return line[line.index(marker):].strip()[:500]
    return ""


def _stop(process: subprocess.Popen[bytes], expired: threading.Event) -> None:
    """Kill the CLI and its children: its session ends, and the daemon cancels the build."""
    expired.set()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
