"""Bare mirrors of app repositories: fetch one branch incrementally, read files, archive a commit.

One bare repository per app lives at a folder the caller chooses; it is created once and only
ever fetched into, so a redeploy transfers just the new objects. How git runs (argument lists,
timeouts, an environment in which it never prompts, credentials scrubbed) is stacks/gitproc.py;
build contexts (tar files of a tree, bounded) are stacks/gitarchive.py.
"""

from __future__ import annotations

import fcntl
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import BranchNotFound, GitError, SpecError
from .gitarchive import ContextArchiver, format_bytes, tree_path
from .gitproc import MASK, GitRunner
from .names import check_branch, check_stack_name, echo

__all__ = ["DEFAULT_MAX_FILE_BYTES", "INCOMING_REFS", "MASK", "PINNED_REFS", "CommitInfo", "Mirror", "format_bytes"]

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_BATCH_BLOB = re.compile(rb"([0-9a-f]{40,64}) blob ([0-9]+)")
# Where a fetch lands before the remote has confirmed the branch, and where stacks pin commits.
INCOMING_REFS = "refs/yadockeri/incoming"
PINNED_REFS = "refs/yadockeri/stacks"
# Files read whole (.yadockeri.yml, the compose file): the settings default, never unbounded.
DEFAULT_MAX_FILE_BYTES = 256 * 1024

# Threads of one process share these; flock on the lock file covers other processes.
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    subject: str
    author: str



_PULL = re.compile(r"pull/([1-9][0-9]{0,9})/head")


def remote_ref(branch: str) -> str:
    """The remote ref a branch name means: `pull/N/head` is GitHub's ref of pull request N's
    head (refs/pull/N/head); any other name is a branch."""
    return f"refs/pull/{match.group(1)}/head" if (match := _PULL.fullmatch(branch)) else f"refs/heads/{branch}"

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
        self.lock_file = self.path.with_name(self.path.name + ".lock")
        self.ssh_key_file: Path | None = self.path.with_name(self.path.name + ".ssh-key") if ssh_key else None
        self._git = GitRunner(repo, self.path, token=token, ssh_key=ssh_key, ssh_key_file=self.ssh_key_file,
                              timeout=timeout)
        self.display_repo = self._git.display_repo
        self._contexts = ContextArchiver(self._git, self.path.parent, f".{self.path.name}.context-")

    # Public API ---------------------------------------------------------------------------
    def fetch(self, branch: str) -> str:
        """Fetch one branch into the mirror (only new objects travel); return its commit.

        The branch lands on a private ref first; only once the remote has sent it are the
        cached refs it conflicts with (`main` for `main/x`) dropped and the branch moved into
        place. A branch the remote does not have changes no other ref.
        """
        check_branch(branch)  # callers check too; a mirror must be safe on its own
        ref = remote_ref(branch)
        self._say(f"fetching {branch} from {self.display_repo}")
        with self._locked():
            self._ensure_mirror()
            self._drop_refs(INCOMING_REFS)  # left by a process killed mid-fetch; we hold the lock
            self._contexts.sweep()
            incoming = f"{INCOMING_REFS}/{secrets.token_hex(8)}"
            try:
                result = self._git.run(["fetch", "--no-tags", "--", self.repo, f"+{ref}:{incoming}"], check=False)
                if result.returncode != 0:
                    self._fetch_failed(branch, ref, result.stderr)
                sha = self._rev_parse(f"{incoming}^{{commit}}")
                if sha is None:
                    raise GitError(
                        f"branch `{echo(branch)}` was fetched from {self.display_repo} but is not a commit"
                    )
                self._clear_conflicting_refs(ref)
                self._git.run(["update-ref", "--no-deref", ref, sha])
            finally:
                self._git.run(["update-ref", "-d", incoming], check=False)
        info = self.describe(sha)
        self._say(f"at {info.short}: {info.subject}")
        return sha

    def pin(self, stack: str, commit: str) -> None:
        """Keep `commit` for `stack` whatever happens to branches: garbage collection never
        removes what a ref points at, so the stack can always be woken or get new env."""
        ref = self._pin_ref(stack)
        sha = self._commit(commit)
        with self._locked():
            self._git.run(["update-ref", "--no-deref", ref, sha])

    def unpin(self, stack: str) -> None:
        """Let the stack's commit go (after destroy); nothing happens if it was not pinned."""
        ref = self._pin_ref(stack)
        if not (self.path / "HEAD").is_file():
            return
        with self._locked():
            self._git.run(["update-ref", "--no-deref", "-d", ref], check=False)

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
        name = tree_path(path)
        if not name or "\n" in name or "\x00" in name:
            return None
        header = self._git.run(["cat-file", "--batch-check", "--follow-symlinks"], stdin=f"{sha}:{name}\n".encode())
        match = _BATCH_BLOB.fullmatch(header.stdout.partition(b"\n")[0])
        if match is None:
            return None  # missing, a folder, a symlink leaving the tree, a loop
        blob, size = match.group(1).decode(), int(match.group(2))
        if size > max_bytes:
            raise SpecError(
                f"{echo(name)} is {format_bytes(size)}, larger than YADOCKERI_MAX_SPEC_BYTES ({format_bytes(max_bytes)})"
            )
        return self._git.run(["cat-file", "blob", blob]).stdout.decode("utf-8", "replace")

    @contextmanager
    def archive(self, commit: str, subdir: str = ".", *, max_bytes: int) -> Iterator[Path]:
        """A tar file of the tree at `commit`, of `subdir`, with paths relative to it (a build
        context); removed when the `with` block ends. A context over `max_bytes` is refused
        before anything is read (stacks/gitarchive.py)."""
        with self._contexts.archive(self._tree(commit, subdir), subdir, max_bytes) as path:
            yield path

    def _tree(self, commit: str, subdir: str) -> str:
        sha = self._commit(commit)
        treeish = f"{sha}:{tree_path(subdir)}"
        kind = self._git.run(["cat-file", "-t", treeish], check=False)
        if kind.returncode != 0 or kind.stdout.strip() != b"tree":
            raise GitError(f"folder `{echo(subdir)}` does not exist at commit {sha[:12]}")
        return treeish

    @contextmanager
    def unpacked(self, commit: str, subdir: str = ".", *, max_bytes: int) -> Iterator[Path]:
        """The tree at `commit`, of `subdir`, as a folder (a build context for BuildKit)."""
        treeish = self._tree(commit, subdir)
        with self._contexts.unpacked(treeish, subdir, max_bytes) as folder:
            yield folder

    def describe(self, commit: str) -> CommitInfo:
        sha = self._commit(commit)
        out = self._git.run(["log", "-1", "--no-show-signature", "--format=%H%x00%an%x00%s", sha, "--"]).stdout
        full, author, subject = out.decode("utf-8", "replace").rstrip("\n").split("\x00", 2)
        return CommitInfo(sha=full, short=full[:12], subject=self.scrub(subject), author=author)

    def scrub(self, text: str) -> str:
        """Text with every form of the credentials masked."""
        return self._git.scrub(text)

    def git_env(self) -> dict[str, str]:
        """The environment every git call runs with (a copy)."""
        return self._git.environment()

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
        self._git.run(["init", "--bare", "--quiet", "--initial-branch=main", "--", str(self.path)], git_dir=False)

    def _clear_conflicting_refs(self, ref: str) -> None:
        """Drop cached refs that cannot coexist with `ref` (`a` vs `a/b`). Called only once the
        remote has sent `ref`, so it no longer has them; stacks on their commits are pinned."""
        top = "/".join(ref.split("/")[:3])
        listed = self._git.run(["for-each-ref", "--format=%(refname)", top]).stdout.decode().split()
        for other in listed:
            if ref.startswith(other + "/") or other.startswith(ref + "/"):
                self._git.run(["update-ref", "-d", other])

    def _drop_refs(self, prefix: str) -> None:
        listed = self._git.run(["for-each-ref", "--format=%(refname)", prefix]).stdout.decode().split()
        for ref in listed:
            self._git.run(["update-ref", "--no-deref", "-d", ref], check=False)

    def _pin_ref(self, stack: str) -> str:
        return f"{PINNED_REFS}/{check_stack_name(stack)}"

    def _fetch_failed(self, branch: str, ref: str, stderr: bytes) -> None:
        text = stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in text:
            # The remote said so: a stale copy of this very branch would mislead readers. Nothing
            # else changes (stacks deployed from it keep their pinned commit).
            self._git.run(["update-ref", "-d", ref], check=False)
            what = f"pull request #{branch.split('/')[1]}" if ref.startswith("refs/pull/") else f"branch `{echo(branch)}`"
            raise BranchNotFound(f"{what} does not exist in {self.display_repo}")
        raise GitError(f"cannot fetch `{echo(branch)}` from {self.display_repo}: {self._git.reason(text)}")

    def _commit(self, commit: str) -> str:
        """A full commit id present in the mirror; only hex is accepted, so nothing reads as an option."""
        if not isinstance(commit, str) or not _HEX.fullmatch(commit):
            raise GitError(f"`{echo(str(commit))}` is not a commit id")
        sha = self._rev_parse(f"{commit.lower()}^{{commit}}") if (self.path / "HEAD").is_file() else None
        if sha is None:
            raise GitError(f"commit {echo(commit)} is not in the mirror of {self.display_repo}; fetch it first")
        return sha

    def _rev_parse(self, name: str) -> str | None:
        result = self._git.run(["rev-parse", "--verify", "--quiet", name], check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(self.scrub(line))


def _absolute_if_local(repo: str) -> str:
    """Local paths are made absolute so git's working directory never matters."""
    if "://" not in repo and Path(repo).exists():
        return str(Path(repo).absolute())
    return repo
