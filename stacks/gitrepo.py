"""Bare mirrors of app repositories: fetch one branch incrementally, read files, archive a commit.

One bare repository per app lives at a folder the caller chooses; it is created once and only
ever fetched into, so a redeploy transfers just the new objects. Every git call is an argument
list (never a shell), carries a timeout, and runs with an environment in which git can never
prompt. Credentials travel in the environment only, never in argv, and are scrubbed from every
line this module logs or raises.
"""

from __future__ import annotations

import base64
import fcntl
import glob
import os
import posixpath
import re
import secrets
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import BranchNotFound, GitError, SpecError
from .names import check_branch, check_stack_name, echo

MASK = "••••••"
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_BATCH_BLOB = re.compile(rb"([0-9a-f]{40,64}) blob ([0-9]+)")
# Where a fetch lands before the remote has confirmed the branch, and where stacks pin commits.
INCOMING_REFS = "refs/yadockeri/incoming"
PINNED_REFS = "refs/yadockeri/stacks"
# Files read whole (.yadockeri.yml, the compose file): the settings default, never unbounded.
DEFAULT_MAX_FILE_BYTES = 256 * 1024
# The tar format: a 512-byte header per entry (plus one for a long name), data in 512-byte blocks.
_TAR_BLOCK = 512
_TAR_ENTRY_OVERHEAD = 2 * _TAR_BLOCK
_TAR_ARCHIVE_OVERHEAD = 20 * _TAR_BLOCK  # the global header with the commit id, the end blocks
_CHUNK = 1 << 20
STALE_CONTEXT_SECONDS = 86400
_URL_USERINFO = re.compile(r"(?i)\b(https?://)[^/@\s]+@")
# Transports a mirror may use; `ext::` and friends would run arbitrary commands.
_ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
# Inherited variables that would point git at another repository or inject config.
_DROPPED_ENV = {
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS",
}

# Threads of one process share these; flock on the lock file covers other processes.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    subject: str
    author: str


class Mirror:
    """A local bare mirror of `repo` at `path`."""

    def __init__(
        self,
        repo: str,
        path: Path,
        *,
        token: str | None = None,
        ssh_key: str | None = None,
        timeout: float = 300,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = _absolute_if_local(repo)
        self.path = Path(path).absolute()
        self.timeout = timeout
        self._log = log
        self._secrets = _secret_forms(token, repo)
        self.display_repo = self.scrub(repo)
        self.lock_file = self.path.with_name(self.path.name + ".lock")
        self.ssh_key_file: Path | None = self.path.with_name(self.path.name + ".ssh-key") if ssh_key else None
        self._env = self._build_env(token, ssh_key)

    # Public API ---------------------------------------------------------------------------
    def fetch(self, branch: str) -> str:
        """Fetch one branch into the mirror (only new objects travel); return its commit.

        The branch lands on a private ref first; only once the remote has sent it are the
        cached refs it conflicts with (`main` for `main/x`) dropped and the branch moved into
        place. A branch the remote does not have changes no other ref.
        """
        check_branch(branch)  # callers check too; a mirror must be safe on its own
        ref = f"refs/heads/{branch}"
        self._say(f"fetching {branch} from {self.display_repo}")
        with self._locked():
            self._ensure_mirror()
            self._drop_refs(INCOMING_REFS)  # left by a process killed mid-fetch; we hold the lock
            self._sweep_contexts()
            incoming = f"{INCOMING_REFS}/{secrets.token_hex(8)}"
            try:
                result = self._git(["fetch", "--no-tags", "--", self.repo, f"+{ref}:{incoming}"], check=False)
                if result.returncode != 0:
                    self._fetch_failed(branch, ref, result.stderr)
                sha = self._rev_parse(f"{incoming}^{{commit}}")
                if sha is None:
                    raise GitError(
                        f"branch `{echo(branch)}` was fetched from {self.display_repo} but is not a commit"
                    )
                self._clear_conflicting_refs(ref)
                self._git(["update-ref", "--no-deref", ref, sha])
            finally:
                self._git(["update-ref", "-d", incoming], check=False)
        info = self.describe(sha)
        self._say(f"at {info.short}: {info.subject}")
        return sha

    def pin(self, stack: str, commit: str) -> None:
        """Keep `commit` for `stack` whatever happens to branches: garbage collection never
        removes what a ref points at, so the stack can always be woken or get new env."""
        ref = self._pin_ref(stack)
        sha = self._commit(commit)
        with self._locked():
            self._git(["update-ref", "--no-deref", ref, sha])

    def unpin(self, stack: str) -> None:
        """Let the stack's commit go (after destroy); nothing happens if it was not pinned."""
        ref = self._pin_ref(stack)
        if not (self.path / "HEAD").is_file():
            return
        with self._locked():
            self._git(["update-ref", "--no-deref", "-d", ref], check=False)

    def pinned(self, stack: str) -> str | None:
        """The commit pinned for `stack`, if any."""
        ref = self._pin_ref(stack)
        return self._rev_parse(f"{ref}^{{commit}}") if (self.path / "HEAD").is_file() else None

    def read_file(self, commit: str, path: str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str | None:
        """The text of `path` at `commit` (symlinks inside the tree followed); None if absent.

        git is asked for the blob's size first: a file over `max_bytes` is refused without
        being read (a few KB of packed zeros can expand to GiBs).
        """
        sha = self._commit(commit)
        name = _tree_path(path)
        if not name or "\n" in name or "\x00" in name:
            return None
        header = self._git(["cat-file", "--batch-check", "--follow-symlinks"], stdin=f"{sha}:{name}\n".encode())
        match = _BATCH_BLOB.fullmatch(header.stdout.partition(b"\n")[0])
        if match is None:
            return None  # missing, a folder, a symlink leaving the tree, a loop
        blob, size = match.group(1).decode(), int(match.group(2))
        if size > max_bytes:
            raise SpecError(
                f"{echo(name)} is {format_bytes(size)}, larger than YADOCKERI_MAX_SPEC_BYTES ({format_bytes(max_bytes)})"
            )
        return self._git(["cat-file", "blob", blob]).stdout.decode("utf-8", "replace")

    @contextmanager
    def archive(self, commit: str, subdir: str = ".", *, max_bytes: int) -> Iterator[Path]:
        """A tar file of the tree at `commit`, of `subdir`, with paths relative to it (a build
        context); removed when the `with` block ends.

        The tree's blob sizes are summed first (`ls-tree -l`, nothing is read) and a context
        over `max_bytes` is refused; then `git archive` streams into the file, never into
        memory, and is stopped should its output still grow past the limit. A tree, not the
        commit, is archived, so `export-subst` placeholders are never expanded.
        """
        sha = self._commit(commit)
        name = _tree_path(subdir)
        treeish = f"{sha}:{name}"
        kind = self._git(["cat-file", "-t", treeish], check=False)
        if kind.returncode != 0 or kind.stdout.strip() != b"tree":
            raise GitError(f"folder `{echo(subdir)}` does not exist at commit {sha[:12]}")
        self._check_tree_size(treeish, subdir, max_bytes)
        fd, tmp = tempfile.mkstemp(prefix=self._context_prefix, suffix=".tar", dir=self.path.parent)
        path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                self._archive_into(out, treeish, subdir, max_bytes)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def describe(self, commit: str) -> CommitInfo:
        sha = self._commit(commit)
        out = self._git(["log", "-1", "--no-show-signature", "--format=%H%x00%an%x00%s", sha, "--"]).stdout
        full, author, subject = out.decode("utf-8", "replace").rstrip("\n").split("\x00", 2)
        return CommitInfo(sha=full, short=full[:12], subject=self.scrub(subject), author=author)

    def scrub(self, text: str) -> str:
        """Text with every form of the credentials masked."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)

    def git_env(self) -> dict[str, str]:
        """The environment every git call runs with (a copy)."""
        return dict(self._env)

    # Mirror upkeep --------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer per mirror: a thread lock in this process, flock across processes."""
        with _THREAD_LOCKS_GUARD:
            thread_lock = _THREAD_LOCKS.setdefault(self.path, threading.Lock())
        with thread_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_file, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _ensure_mirror(self) -> None:
        """`git init --bare` once; an existing mirror is kept, never re-created."""
        if (self.path / "HEAD").is_file() and (self.path / "objects").is_dir():
            return
        self._git(["init", "--bare", "--quiet", "--initial-branch=main", "--", str(self.path)], git_dir=False)

    def _clear_conflicting_refs(self, ref: str) -> None:
        """Drop cached refs that cannot coexist with `ref` (`a` vs `a/b`). Called only once the
        remote has sent `ref`, so it no longer has them; stacks on their commits are pinned."""
        top = "/".join(ref.split("/")[:3])
        listed = self._git(["for-each-ref", "--format=%(refname)", top]).stdout.decode().split()
        for other in listed:
            if ref.startswith(other + "/") or other.startswith(ref + "/"):
                self._git(["update-ref", "-d", other])

    @property
    def _context_prefix(self) -> str:
        return f".{self.path.name}.context-"

    def _sweep_contexts(self) -> None:
        """Remove build contexts a killed process left behind (a day old: no build runs that long)."""
        cutoff = time.time() - STALE_CONTEXT_SECONDS
        for leftover in self.path.parent.glob(glob.escape(self._context_prefix) + "*.tar"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass  # another process swept it

    def _drop_refs(self, prefix: str) -> None:
        listed = self._git(["for-each-ref", "--format=%(refname)", prefix]).stdout.decode().split()
        for ref in listed:
            self._git(["update-ref", "--no-deref", "-d", ref], check=False)

    def _pin_ref(self, stack: str) -> str:
        return f"{PINNED_REFS}/{check_stack_name(stack)}"

    def _fetch_failed(self, branch: str, ref: str, stderr: bytes) -> None:
        text = stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in text:
            # The remote said so: a stale copy of this very branch would mislead readers. Nothing
            # else changes (stacks deployed from it keep their pinned commit).
            self._git(["update-ref", "-d", ref], check=False)
            raise BranchNotFound(f"branch `{echo(branch)}` does not exist in {self.display_repo}")
        raise GitError(f"cannot fetch `{echo(branch)}` from {self.display_repo}: {self._reason(text)}")

    # git plumbing -------------------------------------------------------------------------
    def _commit(self, commit: str) -> str:
        """A full commit id present in the mirror; only hex is accepted, so nothing reads as an option."""
        if not isinstance(commit, str) or not _HEX.fullmatch(commit):
            raise GitError(f"`{echo(str(commit))}` is not a commit id")
        sha = self._rev_parse(f"{commit.lower()}^{{commit}}") if (self.path / "HEAD").is_file() else None
        if sha is None:
            raise GitError(f"commit {echo(commit)} is not in the mirror of {self.display_repo}; fetch it first")
        return sha

    def _rev_parse(self, name: str) -> str | None:
        result = self._git(["rev-parse", "--verify", "--quiet", name], check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def _check_tree_size(self, treeish: str, subdir: str, max_bytes: int) -> None:
        """Refuse a tree whose tar would exceed max_bytes, from git's recorded sizes alone."""
        total = _TAR_ARCHIVE_OVERHEAD
        pending = b""

        def add(chunk: bytes) -> bool:
            nonlocal total, pending
            *records, pending = (pending + chunk).split(b"\0")
            for record in records:
                # `<mode> <type> <oid> <size>\t<path>`; the size is `-` for folders and submodules.
                fields = record.partition(b"\t")[0].split()
                total += _tar_size(int(fields[3])) if len(fields) == 4 and fields[3].isdigit() else _TAR_ENTRY_OVERHEAD
            return total <= max_bytes  # stop reading as soon as it is too big

        self._stream(["ls-tree", "-r", "-t", "-l", "-z", treeish], add)
        if total > max_bytes:
            raise SpecError(self._too_big(subdir, total, max_bytes))

    def _archive_into(self, out: BinaryIO, treeish: str, subdir: str, max_bytes: int) -> None:
        written = 0

        def write(chunk: bytes) -> bool:
            nonlocal written
            written += len(chunk)
            if written > max_bytes:
                return False  # a second line of defence: the tree's sizes already said it fits
            out.write(chunk)
            return True

        self._stream(["archive", "--format=tar", treeish], write)
        if written > max_bytes:
            raise SpecError(self._too_big(subdir, None, max_bytes))

    def _too_big(self, subdir: str, size: int | None, max_bytes: int) -> str:
        where = "the build context" if _tree_path(subdir) == "" else f"the build context `{echo(subdir)}`"
        measured = f"is {format_bytes(size)}, larger" if size is not None else "is larger"
        return f"{where} {measured} than YADOCKERI_MAX_CONTEXT_BYTES ({format_bytes(max_bytes)})"

    def _git(
        self, args: list[str], *, check: bool = True, stdin: bytes | None = None, git_dir: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        # Auto-gc in the foreground, inside our lock, so it never races the next fetch.
        argv = ["git", "-c", "gc.autoDetach=false", *([f"--git-dir={self.path}"] if git_dir else []), *args]
        result = self._run(argv, stdin)
        if check and result.returncode != 0:
            reason = self._reason(result.stderr.decode("utf-8", "replace"))
            raise GitError(f"git {args[0]} failed in the mirror of {self.display_repo} ({self.path}): {reason}")
        return result

    def _run(self, argv: list[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
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
            verb = next(a for a in argv[3:] if not a.startswith("--git-dir="))
            raise GitError(f"git {verb} timed out after {self.timeout:g}s ({self.display_repo})") from None
        except BaseException:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def _stream(self, args: list[str], consume: Callable[[bytes], bool]) -> None:
        """Run git with its output handed to `consume` chunk by chunk, never held whole. When
        consume returns False, git is stopped and that is not an error; a failure or the
        timeout is a GitError."""
        argv = ["git", "-c", "gc.autoDetach=false", f"--git-dir={self.path}", *args]
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
                raise GitError(f"git {args[0]} timed out after {self.timeout:g}s ({self.display_repo})")
            if not stopped and proc.returncode != 0:
                stderr.seek(0)
                reason = self._reason(stderr.read(64 * 1024).decode("utf-8", "replace"))
                raise GitError(f"git {args[0]} failed in the mirror of {self.display_repo} ({self.path}): {reason}")

    def _reason(self, stderr: str) -> str:
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

    # Environment --------------------------------------------------------------------------
    def _build_env(self, token: str | None, ssh_key: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not _dropped(k)}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="true",  # any credential prompt gets an empty answer instead of blocking
            SSH_ASKPASS="true",
            GCM_INTERACTIVE="never",
            GIT_ALLOW_PROTOCOL=_ALLOWED_PROTOCOLS,
            LC_ALL="C",  # stable English messages to match on
        )
        if token and self.repo.lower().startswith(("https://", "http://")):
            # In the environment, not `-c` on argv, so `ps` never shows it.
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: Basic {_basic(token)}")
        if ssh_key and self.ssh_key_file is not None:
            _write_private(self.ssh_key_file, ssh_key)
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {shlex.quote(str(self.ssh_key_file))} -o IdentitiesOnly=yes "
                "-o StrictHostKeyChecking=accept-new -o BatchMode=yes"
            )
        elif "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
            env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # never ask for a passphrase or host key
        return env

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(self.scrub(line))


# Helpers ------------------------------------------------------------------------------------
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


def _absolute_if_local(repo: str) -> str:
    """Local paths are made absolute so git's working directory never matters."""
    if "://" not in repo and Path(repo).exists():
        return str(Path(repo).absolute())
    return repo


def _kill_group(proc: subprocess.Popen[bytes], flag: threading.Event | None) -> None:
    if flag is not None:
        flag.set()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own


def _tree_path(path: str) -> str:
    """A path inside the tree, `` for the root; `..` cannot climb out of it."""
    name = posixpath.normpath("/" + str(path).replace("\\", "/")).lstrip("/")
    return "" if name == "." else name


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


def format_bytes(size: int) -> str:
    """1536 -> `1.5 KiB`; `5 MiB`; `300 bytes`."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{size} bytes"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _tar_size(blob_size: int) -> int:
    """What one entry of `blob_size` bytes takes in a tar: header(s) plus whole data blocks."""
    return _TAR_ENTRY_OVERHEAD + -(-blob_size // _TAR_BLOCK) * _TAR_BLOCK
