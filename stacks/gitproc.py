"""Running git for one mirror: argument lists only (never a shell), a timeout that kills git's
whole process group (ssh and remote helpers too), an environment in which git can never prompt,
and credentials that travel in that environment only, never in argv, scrubbed from every line
that leaves here (the reason a call failed is git's own first error line, scrubbed)."""

from __future__ import annotations

import base64
import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import GitError

MASK = "••••••"
_CHUNK = 1 << 20
_URL_USERINFO = re.compile(r"(?i)\b(https?://)[^/@\s]+@")
# Transports a mirror may use; `ext::` and friends would run arbitrary commands.
_ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
# Inherited variables that would point git at another repository or inject config.
_DROPPED_ENV = {
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS",
}


class GitRunner:
    """git on the bare repository `git_dir`, fetching from `repo` (as the caller named it)."""

    def __init__(self, repo: str, git_dir: Path, *, token: str | None, ssh_key: str | None,
                 ssh_key_file: Path | None, timeout: float) -> None:
        self.git_dir = git_dir
        self.timeout = timeout
        self._secrets = _secret_forms(token, repo)
        self.display_repo = self.scrub(repo)
        self._env = _build_env(repo, token, ssh_key, ssh_key_file)

    def environment(self) -> dict[str, str]:
        """The environment every git call runs with (a copy)."""
        return dict(self._env)

    def scrub(self, text: str) -> str:
        """Text with every form of the credentials masked."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)

    def run(
        self, args: list[str], *, check: bool = True, stdin: bytes | None = None, git_dir: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        # Auto-gc in the foreground, inside our lock, so it never races the next fetch.
        argv = ["git", "-c", "gc.autoDetach=false", *([f"--git-dir={self.git_dir}"] if git_dir else []), *args]
        result = self._spawn(argv, stdin)
        if check and result.returncode != 0:
            raise self._failed(args[0], result.stderr.decode("utf-8", "replace"))
        return result

    def stream(self, args: list[str], consume: Callable[[bytes], bool]) -> None:
        """Run git with its output handed to `consume` chunk by chunk, never held whole. When
        consume returns False, git is stopped and that is not an error; a failure or the
        timeout is a GitError."""
        argv = ["git", "-c", "gc.autoDetach=false", f"--git-dir={self.git_dir}", *args]
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                    env=self._env, start_new_session=True)
            expired = threading.Event()
            timer = threading.Timer(self.timeout, _kill_group, (proc, expired))
            timer.daemon = True
            timer.start()
            stopped = finished = False
            try:
                assert proc.stdout is not None
                while chunk := proc.stdout.read(_CHUNK):
                    if not consume(chunk):
                        stopped = True
                        break
                finished = True
            finally:
                timer.cancel()
                if stopped or not finished:  # told to stop, or the consumer failed: git must not linger
                    _kill_group(proc, None)
                proc.stdout.close()  # type: ignore[union-attr]
                proc.wait()
            if expired.is_set() and proc.returncode != 0:
                raise self._timed_out(args[0])
            if not stopped and proc.returncode != 0:
                stderr.seek(0)
                raise self._failed(args[0], stderr.read(64 * 1024).decode("utf-8", "replace"))

    def reason(self, stderr: str) -> str:
        """git's first fatal/error line (the cause; later lines are advice), scrubbed, one line."""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        first = next((i for i, text in enumerate(lines) if text.startswith(("fatal:", "error:"))), None)
        if first is None:
            chosen = lines[-1] if lines else ""
        elif "Could not read from remote repository" in lines[first] and first > 0:
            chosen = lines[first - 1]  # the transport's own words (ssh: connection refused, permission denied)
        else:
            chosen = lines[first]
        chosen = re.sub(r"^(fatal|error):\s*", "", chosen) or "git gave no reason"
        return self.scrub(chosen)[:300]

    def _spawn(self, argv: list[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
        """Run git in its own process group so a timeout also kills its helpers (ssh, remote-https)."""
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise self._timed_out(next(a for a in argv[3:] if not a.startswith("--git-dir="))) from None
        except BaseException:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def _failed(self, verb: str, stderr: str) -> GitError:
        return GitError(f"git {verb} failed in the mirror of {self.display_repo} ({self.git_dir}): {self.reason(stderr)}")

    def _timed_out(self, verb: str) -> GitError:
        return GitError(f"git {verb} timed out after {self.timeout:g}s ({self.display_repo})")


# The environment ----------------------------------------------------------------------------
def _build_env(repo: str, token: str | None, ssh_key: str | None, ssh_key_file: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _dropped(k)}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="true",  # any credential prompt gets an empty answer instead of blocking
        SSH_ASKPASS="true",
        GCM_INTERACTIVE="never",
        GIT_ALLOW_PROTOCOL=_ALLOWED_PROTOCOLS,
        LC_ALL="C",  # stable English messages to match on
    )
    if token and repo.lower().startswith(("https://", "http://")):
        # In the environment, not `-c` on argv, so `ps` never shows it.
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {_basic(token)}")
    if ssh_key and ssh_key_file is not None:
        _write_private(ssh_key_file, ssh_key)
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i {shlex.quote(str(ssh_key_file))} -o IdentitiesOnly=yes "
            "-o StrictHostKeyChecking=accept-new -o BatchMode=yes"
        )
    elif "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # never ask for a passphrase or host key
    return env


def _dropped(key: str) -> bool:
    return key in _DROPPED_ENV or key.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def _secret_forms(token: str | None, repo: str) -> list[str]:
    """Every spelling of a credential that could leak into text, longest first."""
    forms: set[str] = set()
    if token:
        forms |= {token, _basic(token)}
    match = re.match(r"(?i)https?://([^/@\s]+)@", repo)
    if match:
        forms |= {part for part in match.group(1).split(":") if len(part) >= 4} | {match.group(1)}
    return sorted((f for f in forms if f), key=len, reverse=True)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, once: an identical file is left alone."""
    data = text if text.endswith("\n") else text + "\n"  # ssh rejects keys without the final newline
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text() == data and (path.stat().st_mode & 0o777) == 0o600:
            return
    except OSError:
        pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
    os.replace(tmp, path)  # atomic: another process never sees half a key


def _kill_group(proc: subprocess.Popen[bytes], flag: threading.Event | None) -> None:
    if flag is not None:
        flag.set()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own
