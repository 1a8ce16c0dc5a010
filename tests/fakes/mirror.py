"""FakeRepo and FakeMirror: an app's repository as plain data (branches -> commits -> file
trees), and a mirror of it behind `stacks.ports.MirrorPort`.

The mirror keeps what it fetched, as a real one does: a commit stays readable after its branch
moved or went, a branch the remote no longer has is dropped at the next fetch of it. Errors are
the real mirror's classes (InvalidName, BranchNotFound, GitError, SpecError); the contract suite
(tests/contract/test_mirror_contract.py) runs the same checks on this and on stacks.gitrepo.Mirror
over a real git repository.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stacks.errors import BranchNotFound, GitError, SpecError
from stacks.gitrepo import DEFAULT_MAX_FILE_BYTES, CommitInfo, format_bytes
from stacks.names import check_branch, check_stack_name, echo

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")


@dataclass(frozen=True)
class FakeCommit:
    sha: str
    files: dict[str, bytes]
    subject: str
    author: str
    parent: str | None


@dataclass
class FakeRepo:
    """The remote: commit files onto branches, move or delete branches."""

    name: str = "fake://app"
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit
    commits: dict[str, FakeCommit] = field(default_factory=dict)

    def commit(self, branch: str, files: dict[str, str | bytes | None], message: str = "change", *,
               start: str | None = None, author: str = "t") -> str:
        """A new commit on `branch` (made from `start`, else from itself, else empty) with these
        files written (None removes one); returns its sha."""
        parent = self.branches.get(branch) or (self.branches[start] if start else None)
        tree = dict(self.commits[parent].files) if parent else {}
        for path, content in files.items():
            name = _tree_path(path)
            if content is None:
                tree.pop(name, None)
            else:
                tree[name] = content.encode() if isinstance(content, str) else content
        sha = hashlib.sha1(repr((parent, sorted(tree.items()), message, len(self.commits))).encode()).hexdigest()
        self.commits[sha] = FakeCommit(sha, tree, message, author, parent)
        self.branches[branch] = sha
        return sha

    def delete_branch(self, branch: str) -> None:
        del self.branches[branch]


class FakeMirror:
    """A mirror of a FakeRepo (see the module docstring). Build contexts are written as tar files
    under `work_dir`, and removed after their `with` block, as the real mirror's are."""

    def __init__(self, repo: FakeRepo, work_dir: Path) -> None:
        self.repo = repo
        self.work_dir = work_dir
        self._lock = threading.Lock()
        self._branches: dict[str, str] = {}
        self._commits: dict[str, FakeCommit] = {}
        self._pins: dict[str, str] = {}
        self.fetches: list[str] = []  # every branch fetched, in order
        self.fetch_error: GitError | None = None  # the next fetch fails so (the remote is down...)

    # MirrorPort -----------------------------------------------------------------------------------
    def fetch(self, branch: str) -> str:
        check_branch(branch)
        with self._lock:
            self.fetches.append(branch)
            if self.fetch_error is not None:
                error, self.fetch_error = self.fetch_error, None
                raise error
            sha = self.repo.branches.get(branch)
            if sha is None:
                self._branches.pop(branch, None)  # the remote said so: a stale copy would mislead
                raise BranchNotFound(f"branch `{echo(branch)}` does not exist in {self.repo.name}")
            self._take(sha)
            self._branches[branch] = sha
            return sha

    def describe(self, commit: str) -> CommitInfo:
        found = self._commit(commit)
        return CommitInfo(sha=found.sha, short=found.sha[:12], subject=found.subject, author=found.author)

    def read_file(self, commit: str, path: str, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str | None:
        found = self._commit(commit)
        name = _tree_path(path)
        data = found.files.get(name)
        if data is None:
            return None  # missing, or a folder
        if len(data) > max_bytes:
            raise SpecError(f"{echo(name)} is {format_bytes(len(data))}, larger than YADOCKERI_MAX_SPEC_BYTES "
                            f"({format_bytes(max_bytes)})")
        return data.decode("utf-8", "replace")

    @contextmanager
    def unpacked(self, commit: str, subdir: str = ".", *, max_bytes: int) -> Iterator[Path]:
        with self.archive(commit, subdir, max_bytes=max_bytes) as tar_path:
            folder = Path(tempfile.mkdtemp(prefix=".fake-context-", dir=self.work_dir))
            try:
                with tarfile.open(tar_path) as tar:
                    tar.extractall(folder, filter="data")
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def archive(self, commit: str, subdir: str = ".", *, max_bytes: int) -> Iterator[Path]:
        found = self._commit(commit)
        prefix = _tree_path(subdir)
        files = {name[len(prefix) + 1:] if prefix else name: data for name, data in found.files.items()
                 if not prefix or name.startswith(prefix + "/")}
        if not files:
            raise GitError(f"folder `{echo(subdir)}` does not exist at commit {found.sha[:12]}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".fake-context-", suffix=".tar", dir=self.work_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_tar(files))
            if path.stat().st_size > max_bytes:
                where = "the build context" if not prefix else f"the build context `{echo(subdir)}`"
                raise SpecError(f"{where} is larger than YADOCKERI_MAX_CONTEXT_BYTES ({format_bytes(max_bytes)})")
            yield path
        finally:
            path.unlink(missing_ok=True)

    def pin(self, stack: str, commit: str) -> None:
        found = self._commit(commit)
        with self._lock:
            self._pins[check_stack_name(stack)] = found.sha

    def unpin(self, stack: str) -> None:
        with self._lock:
            self._pins.pop(check_stack_name(stack), None)

    # Also on the real mirror, for tests -----------------------------------------------------------
    def pinned(self, stack: str) -> str | None:
        with self._lock:
            return self._pins.get(check_stack_name(stack))

    # Inside -----------------------------------------------------------------------------------
    def _take(self, sha: str) -> None:
        """Fetching a commit brings its history."""
        current: str | None = sha
        while current is not None and current not in self._commits:
            self._commits[current] = self.repo.commits[current]
            current = self._commits[current].parent

    def _commit(self, commit: str) -> FakeCommit:
        if not isinstance(commit, str) or not _HEX.fullmatch(commit):
            raise GitError(f"`{echo(str(commit))}` is not a commit id")
        with self._lock:
            matches = [c for sha, c in self._commits.items() if sha.startswith(commit.lower())]
        if len(matches) != 1:
            raise GitError(f"commit {echo(commit)} is not in the mirror of {self.repo.name}; fetch it first")
        return matches[0]


def _tree_path(path: str) -> str:
    """As the real mirror reads a path: inside the tree, `` for its root."""
    name = posixpath.normpath("/" + str(path).replace("\\", "/")).lstrip("/")
    return "" if name == "." else name


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
