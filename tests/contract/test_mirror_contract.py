"""The mirror contract: what the pipeline relies on of a git mirror (stacks.ports.MirrorPort),
checked on FakeMirror and on the real stacks.gitrepo.Mirror over a git repository made in tmp.
Both variants need no Docker (`-m "not swarm"` runs them).

Each test shapes the remote through the same small interface (commit files onto a branch,
delete a branch), so the two variants see the same history; only commit ids differ.
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from stacks.errors import BranchNotFound, GitError, InvalidName, SpecError
from stacks.gitrepo import Mirror
from stacks.ports import MirrorPort
from tests.fakes.mirror import FakeMirror, FakeRepo

FILES: dict[str, str | bytes | None] = {
    "Dockerfile": "FROM busybox:latest\n", ".yadockeri.yml": "processes: {web: {command: x}}\n",
    "www/index.html": "hello\n", "www/css/site.css": "body {}\n",
}


class Remote(Protocol):
    def commit(self, branch: str, files: dict[str, str | bytes | None], message: str = "change", *,
               start: str | None = None) -> str: ...

    def delete_branch(self, branch: str) -> None: ...


class MirrorUnderTest(MirrorPort, Protocol):
    def pinned(self, stack: str) -> str | None: ...


class GitRemote:
    """A real git repository with the FakeRepo's interface."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self._git("init", "--quiet", "--initial-branch=main")

    def commit(self, branch: str, files: dict[str, str | bytes | None], message: str = "change", *,
               start: str | None = None) -> str:
        if self._git("branch", "--list", branch):
            self._git("checkout", "--quiet", branch)
        elif start:
            self._git("checkout", "--quiet", "-b", branch, start)
        else:
            self._git("checkout", "--quiet", "--orphan", branch)
            self._git("rm", "-r", "-q", "--cached", "--ignore-unmatch", ".")
        for name, content in files.items():
            target = self.path / name
            if content is None:
                self._git("rm", "-q", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "-m", message)
        return self._git("rev-parse", "HEAD")

    def delete_branch(self, branch: str) -> None:
        self._git("checkout", "--quiet", "--detach")
        self._git("branch", "--quiet", "-D", branch)

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class Subject:
    remote: Remote
    mirror: MirrorUnderTest


@pytest.fixture(params=["fake", "real"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "fake":
        repo = FakeRepo()
        yield Subject(repo, FakeMirror(repo, tmp_path / "work"))
    else:
        remote = GitRemote(tmp_path / "remote")
        yield Subject(remote, Mirror(str(remote.path), tmp_path / "mirrors" / "app.git"))


# Fetch ----------------------------------------------------------------------------------------------
def test_fetch_gives_the_branch_commit_and_a_new_one_after_a_push(subject: Subject) -> None:
    first = subject.remote.commit("main", FILES, "first")
    assert subject.mirror.fetch("main") == first and len(first) == 40
    assert subject.mirror.fetch("main") == first
    second = subject.remote.commit("main", {"www/index.html": "v2\n"}, "second")
    assert subject.mirror.fetch("main") == second != first


def test_branches_with_slashes_are_branches(subject: Subject) -> None:
    subject.remote.commit("main", FILES, "first")
    sha = subject.remote.commit("feature/login", {"x.txt": "x"}, "login", start="main")
    assert subject.mirror.fetch("feature/login") == sha


def test_an_unknown_branch_is_branch_not_found_naming_it(subject: Subject) -> None:
    subject.remote.commit("main", FILES, "first")
    with pytest.raises(BranchNotFound, match="`nope`"):
        subject.mirror.fetch("nope")


@pytest.mark.parametrize("branch", ["-rf", "a..b", "has space", ""])
def test_a_name_git_refuses_is_invalid_before_anything_is_fetched(subject: Subject, branch: str) -> None:
    with pytest.raises(InvalidName):
        subject.mirror.fetch(branch)


def test_a_deleted_branch_is_not_found_but_its_commit_stays_readable(subject: Subject) -> None:
    subject.remote.commit("main", FILES, "first")
    sha = subject.remote.commit("gone", {"only-here.txt": "kept"}, "on gone", start="main")
    assert subject.mirror.fetch("gone") == sha
    subject.remote.delete_branch("gone")
    with pytest.raises(BranchNotFound):
        subject.mirror.fetch("gone")
    assert subject.mirror.read_file(sha, "only-here.txt") == "kept"  # a stack deployed from it still reads its spec


def test_describe_gives_the_subject_and_a_short_id(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "Add the login form")
    subject.mirror.fetch("main")
    info = subject.mirror.describe(sha)
    assert (info.sha, info.short, info.subject) == (sha, sha[:12], "Add the login form")


# Read -----------------------------------------------------------------------------------------------
def test_read_file_gives_text_and_none_for_what_is_not_a_file(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    assert subject.mirror.read_file(sha, ".yadockeri.yml") == FILES[".yadockeri.yml"]
    assert subject.mirror.read_file(sha, "./www/index.html") == "hello\n"
    assert subject.mirror.read_file(sha[:12], "Dockerfile") == FILES["Dockerfile"]
    assert subject.mirror.read_file(sha, "missing.yml") is None
    assert subject.mirror.read_file(sha, "www") is None  # a folder


def test_a_file_over_the_limit_is_refused_unread(subject: Subject) -> None:
    sha = subject.remote.commit("main", {**FILES, "big.yml": "x" * 5000}, "first")
    subject.mirror.fetch("main")
    with pytest.raises(SpecError, match="big.yml is 4.9 KiB, larger than YADOCKERI_MAX_SPEC_BYTES"):
        subject.mirror.read_file(sha, "big.yml", max_bytes=4096)
    assert subject.mirror.read_file(sha, "big.yml", max_bytes=5000) == "x" * 5000


@pytest.mark.parametrize("commit", ["0" * 40, "not-hex", "--output=/tmp/x", "abc"])
def test_an_unknown_or_malformed_commit_is_a_git_error(subject: Subject, commit: str) -> None:
    subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    with pytest.raises(GitError):
        subject.mirror.read_file(commit, "Dockerfile")
    with pytest.raises(GitError):
        subject.mirror.describe(commit)


def test_nothing_is_readable_before_a_fetch(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "first")
    with pytest.raises(GitError):
        subject.mirror.read_file(sha, "Dockerfile")


# Archive --------------------------------------------------------------------------------------------
def test_archive_is_a_tar_of_the_tree_or_a_folder_of_it_removed_after_use(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    with subject.mirror.archive(sha, ".", max_bytes=1 << 20) as path:
        assert {"Dockerfile", ".yadockeri.yml", "www/index.html", "www/css/site.css"} <= _tar_files(path)
    assert not path.exists()
    with subject.mirror.archive(sha, "www", max_bytes=1 << 20) as path:
        assert _tar_files(path) == {"index.html", "css/site.css"}
        assert _tar_text(path, "index.html") == "hello\n"


def test_archive_of_a_missing_folder_or_a_file_is_a_git_error(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    for folder in ("nope", "Dockerfile"):
        with pytest.raises(GitError, match=f"folder `{folder}` does not exist"):
            with subject.mirror.archive(sha, folder, max_bytes=1 << 20):
                pass


def test_a_context_over_the_limit_is_refused(subject: Subject) -> None:
    sha = subject.remote.commit("main", {**FILES, "blob.bin": b"\x01" * 200_000}, "first")
    subject.mirror.fetch("main")
    with pytest.raises(SpecError, match="the build context is"):
        with subject.mirror.archive(sha, ".", max_bytes=100_000):
            pass
    with subject.mirror.archive(sha, "www", max_bytes=100_000) as path:  # its folder alone fits
        assert "index.html" in _tar_files(path)


# Pins -----------------------------------------------------------------------------------------------
def test_a_pin_keeps_a_stack_s_commit_until_unpinned(subject: Subject) -> None:
    sha = subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    assert subject.mirror.pinned("akira") is None
    subject.mirror.pin("akira", sha)
    assert subject.mirror.pinned("akira") == sha
    subject.mirror.unpin("akira")
    subject.mirror.unpin("akira")  # twice is nothing
    assert subject.mirror.pinned("akira") is None


def test_pinning_an_unknown_commit_is_a_git_error(subject: Subject) -> None:
    subject.remote.commit("main", FILES, "first")
    subject.mirror.fetch("main")
    with pytest.raises(GitError):
        subject.mirror.pin("akira", "1" * 40)


def _tar_files(path: Path) -> set[str]:
    with tarfile.open(path) as archive:
        return {m.name.removeprefix("./") for m in archive.getmembers() if m.isfile()}


def _tar_text(path: Path, name: str) -> str:
    with tarfile.open(path) as archive:
        member = next(m for m in archive.getmembers() if m.name.removeprefix("./") == name)
        handle = archive.extractfile(member)
        assert handle is not None
        return handle.read().decode()
