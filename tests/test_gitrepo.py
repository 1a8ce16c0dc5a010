"""stacks.gitrepo against real git: local repositories, a real `git http-backend` behind a tiny
HTTP server that demands a token, concurrent fetches into one mirror, refs that survive a
conflicting branch and `git gc`, and sizes checked before anything is read (a zero bomb)."""

from __future__ import annotations

import base64
import os
import shlex
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from stacks import gitproc, gitrepo
from stacks.errors import (
    BranchNotFound,
    GitError,
    InvalidName,
    SpecError,
    YadockeriError,
)
from stacks.gitarchive import ContextArchiver
from stacks.gitrepo import CommitInfo, Mirror

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1 << 20  # max_bytes where a test is not about sizes


# A source repository the tests commit to -------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", "--", name)
    git(repo, "-c", "user.name=Ann Author", "-c", "user.email=ann@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    repo = tmp_path / "src"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    commit_file(repo, "README.md", "hello\n", "first commit")
    commit_file(repo, "app/Dockerfile", "FROM scratch\n", "add app")
    (repo / "app" / "link").symlink_to("Dockerfile")
    git(repo, "add", "app/link")
    git(repo, "-c", "user.name=Ann Author", "-c", "user.email=ann@example.com", "commit", "-q", "-m", "link")
    return repo


def mirror_objects(mirror: Path) -> dict[str, int]:
    """Object files (loose objects and packs) in the mirror, by path, with their inode."""
    found = {}
    for path in (mirror / "objects").rglob("*"):
        rel = path.relative_to(mirror / "objects").as_posix()
        if path.is_file() and (rel.startswith("pack/") or len(rel.split("/")[0]) == 2):
            found[rel] = path.stat().st_ino
    return found


def all_object_ids(git_dir: Path) -> set[str]:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
        check=True, capture_output=True, text=True,
    ).stdout
    return set(out.split())


def member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    """The content of a regular file in an archive."""
    member = tar.extractfile(name)
    assert member is not None, name  # None: not a regular file
    return member.read()


# Fetch ------------------------------------------------------------------------------------
def test_fetch_returns_branch_commit_and_logs(source: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    mirror = Mirror(str(source), tmp_path / "mirrors" / "app.git", log=lines.append)
    sha = mirror.fetch("main")
    assert sha == git(source, "rev-parse", "main")
    assert len(sha) == 40
    assert lines == [f"fetching main from {source}", f"at {sha[:12]}: link"]
    assert (tmp_path / "mirrors" / "app.git" / "HEAD").is_file()
    assert (tmp_path / "mirrors" / "app.git.lock").exists()


def test_second_fetch_is_incremental(source: Path, tmp_path: Path) -> None:
    path = tmp_path / "app.git"
    mirror = Mirror(str(source), path)
    first = mirror.fetch("main")
    dir_inode = path.stat().st_ino
    before_files = mirror_objects(path)
    before_ids = all_object_ids(path)
    assert before_files

    second = commit_file(source, "README.md", "hello again\n", "second commit")
    assert Mirror(str(source), path).fetch("main") == second != first

    # The mirror was reused: same folder, and every object file of the first fetch is the very same file.
    assert path.stat().st_ino == dir_inode
    after_files = mirror_objects(path)
    assert all(after_files.get(name) == inode for name, inode in before_files.items())
    # Only the new commit's objects arrived (commit, root tree, README blob).
    new_ids = all_object_ids(path) - before_ids
    listed = git(source, "rev-list", "--objects", f"{first}..{second}").splitlines()
    expected = {line.split()[0] for line in listed}
    assert new_ids == expected and len(new_ids) == 3


def test_missing_branch_names_branch_and_repo(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    with pytest.raises(BranchNotFound) as caught:
        mirror.fetch("feature-x")
    assert str(caught.value) == f"branch `feature-x` does not exist in {source}"


def test_deleted_branch_is_not_found_and_dropped_from_mirror(source: Path, tmp_path: Path) -> None:
    git(source, "branch", "gone")
    mirror = Mirror(str(source), tmp_path / "app.git")
    mirror.fetch("gone")
    git(source, "branch", "-D", "gone")
    with pytest.raises(BranchNotFound):
        mirror.fetch("gone")
    refs = subprocess.run(["git", f"--git-dir={tmp_path / 'app.git'}", "for-each-ref"], capture_output=True, text=True)
    assert "refs/heads/gone" not in refs.stdout


def test_nonexistent_repo_is_a_clear_git_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.git"
    mirror = Mirror(str(missing), tmp_path / "app.git")
    with pytest.raises(GitError) as caught:
        mirror.fetch("main")
    message = str(caught.value)
    assert not isinstance(caught.value, BranchNotFound)
    assert "\n" not in message and "Traceback" not in message
    assert str(missing) in message and "does not appear to be a git repository" in message


def test_branch_with_slashes(source: Path, tmp_path: Path) -> None:
    git(source, "checkout", "-q", "-b", "feature/login-form")
    sha = commit_file(source, "login.txt", "form\n", "login form")
    assert Mirror(str(source), tmp_path / "app.git").fetch("feature/login-form") == sha


def test_branch_replacing_a_same_named_folder(source: Path, tmp_path: Path) -> None:
    """`feat` deleted and `feat/a` pushed: the mirror's stale `feat` must not block the fetch."""
    git(source, "branch", "feat")
    mirror = Mirror(str(source), tmp_path / "app.git")
    mirror.fetch("feat")
    git(source, "branch", "-D", "feat")
    git(source, "branch", "feat/a")
    assert mirror.fetch("feat/a") == git(source, "rev-parse", "feat/a")


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "check-bypassed"])
def test_option_like_branch_runs_nothing(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checked: bool
) -> None:
    pwned = tmp_path / "pwned"
    if not checked:  # the refspec itself must still be harmless
        monkeypatch.setattr(gitrepo, "check_branch", lambda branch: branch)
    mirror = Mirror(str(source), tmp_path / "app.git")
    with pytest.raises(YadockeriError):
        mirror.fetch(f"--upload-pack=touch {pwned}")
    with pytest.raises(YadockeriError):
        mirror.fetch(f"--upload-pack=touch${{IFS}}{pwned}")
    assert not pwned.exists()


def test_option_like_repo_runs_nothing(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    mirror = Mirror(f"--upload-pack=touch {pwned}", tmp_path / "app.git")
    with pytest.raises(GitError):
        mirror.fetch("main")
    assert not pwned.exists()


def test_ext_transport_is_refused(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    mirror = Mirror(f"ext::touch {pwned}", tmp_path / "app.git")
    with pytest.raises(GitError):
        mirror.fetch("main")
    assert not pwned.exists()


# Reading ----------------------------------------------------------------------------------
def test_read_file_present_absent(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    assert mirror.read_file(sha, "README.md") == "hello\n"
    assert mirror.read_file(sha, "app/Dockerfile") == "FROM scratch\n"
    assert mirror.read_file(sha, "./app/../app/Dockerfile") == "FROM scratch\n"
    assert mirror.read_file(sha, "app/link") == "FROM scratch\n"  # symlinks are followed
    assert mirror.read_file(sha, ".yadockeri.yml") is None
    assert mirror.read_file(sha, "app") is None  # a folder is not a file
    assert mirror.read_file(sha, "../../etc/passwd") is None
    assert mirror.read_file(sha, "x blob missing") is None
    assert mirror.read_file(sha, "README.md\nx") is None
    assert mirror.read_file(sha[:12], "README.md") == "hello\n"


def test_unknown_or_bad_commit(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    with pytest.raises(GitError, match="fetch it first"):
        mirror.read_file("0" * 40, "README.md")  # no mirror yet
    mirror.fetch("main")
    with pytest.raises(GitError, match="fetch it first"):
        mirror.describe("0" * 40)
    with pytest.raises(GitError, match="not a commit id"), mirror.archive("--output=/tmp/x", max_bytes=LIMIT):
        pass


def test_archive_root_and_subdir(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")

    with mirror.archive(sha, max_bytes=LIMIT) as context, tarfile.open(context, mode="r:") as tar:
        names = set(tar.getnames())
        assert {"README.md", "app", "app/Dockerfile", "app/link"} <= names
        assert member_bytes(tar, "README.md") == b"hello\n"
    assert not context.exists()  # removed when the block ends

    for subdir in ("app", "./app/", "/app"):
        with mirror.archive(sha, subdir, max_bytes=LIMIT) as context, tarfile.open(context, mode="r:") as tar:
            assert set(tar.getnames()) == {"Dockerfile", "link"}
            assert member_bytes(tar, "Dockerfile") == b"FROM scratch\n"
            assert tar.getmember("link").issym()


def test_archive_missing_subdir(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    with pytest.raises(GitError, match="folder `docker/web` does not exist"), mirror.archive(sha, "docker/web", max_bytes=LIMIT):
        pass
    with pytest.raises(GitError, match="folder `README.md` does not exist"), mirror.archive(sha, "README.md", max_bytes=LIMIT):
        pass  # a file is not a build context


def test_describe(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    assert mirror.describe(sha) == CommitInfo(sha=sha, short=sha[:12], subject="link", author="Ann Author")


# Refs: nothing cleared before the remote confirms; stacks' commits pinned ------------------------
def refs(git_dir: Path) -> dict[str, str]:
    out = subprocess.run(["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(refname) %(objectname)"],
                         check=True, capture_output=True, text=True).stdout
    return dict(line.split() for line in out.splitlines())


def gc_now(git_dir: Path) -> None:
    subprocess.run(["git", f"--git-dir={git_dir}", "-c", "gc.reflogExpire=now", "-c", "gc.reflogExpireUnreachable=now",
                    "gc", "--prune=now", "--quiet"], check=True, capture_output=True)


def has_object(git_dir: Path, sha: str) -> bool:
    return subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "-e", sha], capture_output=True,
                          check=False).returncode == 0


def test_missing_branch_that_conflicts_changes_no_ref(source: Path, tmp_path: Path) -> None:
    """`/yadockeri deploy x main/x`: the remote has `main`, not `main/x`; the mirror's `main` stays."""
    path = tmp_path / "app.git"
    mirror = Mirror(str(source), path)
    main = mirror.fetch("main")
    before = refs(path)
    for branch in ("main/x", "main/x/y"):
        with pytest.raises(BranchNotFound):
            mirror.fetch(branch)
        assert refs(path) == before == {"refs/heads/main": main}
    gc_now(path)
    assert mirror.read_file(main, "README.md") == "hello\n"


def test_failed_fetch_changes_no_ref(source: Path, tmp_path: Path) -> None:
    path = tmp_path / "app.git"
    Mirror(str(source), path).fetch("main")
    before = refs(path)
    unreachable = Mirror(str(tmp_path / "gone.git"), path)  # the same mirror, its remote unreachable
    with pytest.raises(GitError):
        unreachable.fetch("main/x")
    with pytest.raises(GitError):
        unreachable.fetch("main")
    assert refs(path) == before


def test_conflicting_branch_replaces_the_cached_one_and_pins_survive_gc(source: Path, tmp_path: Path) -> None:
    """The remote deleted `main` and pushed `main/x` (unrelated history): the fetch moves the
    mirror over, and after `git gc --prune=now` the commit stack `akira` runs is still there,
    while an unpinned commit whose branch went away is really gone (gc did run)."""
    path = tmp_path / "app.git"
    mirror = Mirror(str(source), path)
    main = mirror.fetch("main")
    mirror.pin("akira", main)
    git(source, "checkout", "-q", "-b", "scratch")
    scratch = commit_file(source, "scratch.txt", "only here\n", "scratch")
    assert mirror.fetch("scratch") == scratch

    git(source, "checkout", "-q", "--orphan", "rewrite")
    git(source, "rm", "-q", "-r", "--cached", ".")
    new = commit_file(source, "NEW.md", "rewritten\n", "unrelated history")
    git(source, "branch", "-q", "-D", "main", "scratch")
    git(source, "branch", "-q", "-m", "rewrite", "main/x")

    assert mirror.fetch("main/x") == new
    with pytest.raises(BranchNotFound):
        mirror.fetch("scratch")  # the remote says it is gone: its stale copy goes
    assert refs(path) == {"refs/heads/main/x": new, "refs/yadockeri/stacks/akira": main}
    gc_now(path)

    assert has_object(path, main) and not has_object(path, scratch)
    assert mirror.read_file(main, "app/Dockerfile") == "FROM scratch\n"
    assert mirror.describe(main).subject == "link"
    with mirror.archive(main, max_bytes=LIMIT) as context, tarfile.open(context) as tar:
        assert "README.md" in tar.getnames()

    mirror.unpin("akira")
    gc_now(path)
    assert not has_object(path, main) and mirror.pinned("akira") is None


def test_pin_and_unpin(source: Path, tmp_path: Path) -> None:
    path = tmp_path / "app.git"
    mirror = Mirror(str(source), path)
    mirror.unpin("akira")  # no mirror yet: nothing to do
    main = mirror.fetch("main")
    first = git(source, "rev-list", "--max-parents=0", "main")
    mirror.pin("akira", main)
    mirror.pin("toru", first[:12])  # short ids resolve to the full commit
    assert mirror.pinned("akira") == main and mirror.pinned("toru") == first
    mirror.pin("akira", first)  # a redeploy moves the pin
    assert mirror.pinned("akira") == first
    mirror.unpin("akira")
    mirror.unpin("akira")  # twice is fine
    assert mirror.pinned("akira") is None and mirror.pinned("toru") == first
    with pytest.raises(GitError, match="fetch it first"):
        mirror.pin("akira", "0" * 40)
    with pytest.raises(GitError, match="not a commit id"):
        mirror.pin("akira", "main")  # a branch name is not a commit id
    for bad in ("../heads/main", "Akira", "a/b", "akira\n", ""):
        with pytest.raises(InvalidName):
            mirror.pin(bad, main)
        with pytest.raises(InvalidName):
            mirror.unpin(bad)
    assert set(refs(path)) == {"refs/heads/main", "refs/yadockeri/stacks/toru"}


def test_incoming_refs_of_a_killed_fetch_are_dropped(source: Path, tmp_path: Path) -> None:
    path = tmp_path / "app.git"
    mirror = Mirror(str(source), path)
    main = mirror.fetch("main")
    git(path, "update-ref", "refs/yadockeri/incoming/deadbeef", main)
    mirror.fetch("main")
    assert set(refs(path)) == {"refs/heads/main"}


# Sizes checked before reading -----------------------------------------------------------------
def record_git_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    argvs: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(args, *rest, **kwargs):
        argvs.append([str(a) for a in args])
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(gitproc.subprocess, "Popen", recording_popen)
    return argvs


def test_read_file_over_the_limit_is_refused_by_its_size(source: Path, tmp_path: Path) -> None:
    commit_file(source, ".yadockeri.yml", "x" * (300 * 1024), "big spec")
    commit_file(source, "exact.yml", "y" * 1024, "exact")
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    with pytest.raises(SpecError) as caught:
        mirror.read_file(sha, ".yadockeri.yml")  # the default bound is the settings' default
    assert str(caught.value) == ".yadockeri.yml is 300 KiB, larger than YADOCKERI_MAX_SPEC_BYTES (256 KiB)"
    assert mirror.read_file(sha, ".yadockeri.yml", max_bytes=300 * 1024) == "x" * (300 * 1024)
    assert mirror.read_file(sha, "exact.yml", max_bytes=1024) == "y" * 1024
    with pytest.raises(SpecError, match=r"exact.yml is 1 KiB, larger than YADOCKERI_MAX_SPEC_BYTES \(1023 bytes\)"):
        mirror.read_file(sha, "exact.yml", max_bytes=1023)


@pytest.fixture
def zero_bomb(tmp_path: Path) -> tuple[Mirror, str]:
    """A commit with 300 MiB of zeros that packs to a few hundred KB."""
    repo = tmp_path / "bomb"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    git(repo, "config", "core.bigFileThreshold", "1m")  # streamed into a pack: quick, little memory
    subprocess.run(f"head -c 300M /dev/zero > {shlex.quote(str(repo / 'big'))}", shell=True, check=True)
    (repo / "Dockerfile").write_text("FROM scratch\n")
    (repo / "docker").mkdir()
    (repo / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (repo / ".yadockeri.yml").symlink_to("big")
    git(repo, "add", "big", "Dockerfile", "docker/Dockerfile", ".yadockeri.yml")
    git(repo, "-c", "user.name=Ann Author", "-c", "user.email=ann@example.com", "commit", "-q", "-m", "zeros")
    (repo / "big").unlink()  # only the packed object stays
    mirror = Mirror(str(repo), tmp_path / "app.git")
    return mirror, mirror.fetch("main")


def test_a_zero_bomb_is_refused_without_being_read(zero_bomb: tuple[Mirror, str], monkeypatch: pytest.MonkeyPatch) -> None:
    mirror, sha = zero_bomb
    packed = sum(p.stat().st_size for p in (mirror.path / "objects").rglob("*") if p.is_file())
    assert packed < 2 * 1024 * 1024  # a few KB on the wire and on disk...
    argvs = record_git_calls(monkeypatch)
    started = time.monotonic()

    with pytest.raises(SpecError) as caught:
        mirror.read_file(sha, "big", max_bytes=64 * 1024)
    assert str(caught.value) == "big is 300 MiB, larger than YADOCKERI_MAX_SPEC_BYTES (64 KiB)"
    with pytest.raises(SpecError, match=r"^\.yadockeri\.yml is 300 MiB"):
        mirror.read_file(sha, ".yadockeri.yml", max_bytes=64 * 1024)  # through a symlink too
    with pytest.raises(SpecError) as context_error, mirror.archive(sha, max_bytes=1 << 20):
        pytest.fail("an oversized context must not be archived")
    assert str(context_error.value).startswith("the build context is 300 MiB, larger than YADOCKERI_MAX_CONTEXT_BYTES (1 MiB)")

    assert time.monotonic() - started < 10
    verbs = [argv[argv.index(next(a for a in argv if a.startswith("--git-dir="))) + 1] for argv in argvs]
    assert "archive" not in verbs and not any("blob" in argv for argv in argvs), argvs  # ...never expanded
    assert list(mirror.path.parent.glob("*.tar")) == []
    # A folder of the same commit without the bomb is a context like any other.
    with mirror.archive(sha, "docker", max_bytes=1 << 20) as context, tarfile.open(context) as tar:
        assert tar.getnames() == ["Dockerfile"]


def test_many_small_files_count_their_tar_headers(tmp_path: Path) -> None:
    repo = tmp_path / "many"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    empty = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input="", capture_output=True,
                           text=True, check=True).stdout.strip()
    entries = "".join(f"100644 {empty}\tf/{n:05d}\n" for n in range(3000))
    subprocess.run(["git", "update-index", "--add", "--index-info"], cwd=repo, input=entries, text=True, check=True)
    git(repo, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "empty files")
    mirror = Mirror(str(repo), tmp_path / "app.git")
    sha = mirror.fetch("main")
    with pytest.raises(SpecError, match="YADOCKERI_MAX_CONTEXT_BYTES"), mirror.archive(sha, max_bytes=1 << 20):
        pass  # 0 bytes of data, 3 MiB of tar
    with mirror.archive(sha, max_bytes=8 << 20) as context:
        assert 1 << 20 < context.stat().st_size < 8 << 20


def test_export_subst_placeholders_are_not_expanded(source: Path, tmp_path: Path) -> None:
    """`$Format:%B$` would expand in `git archive` of a commit (12 bytes -> the whole message,
    2000 times); a tree is archived, so the archive is what the size check counted."""
    (source / ".gitattributes").write_text("grow export-subst\n")
    (source / "grow").write_text("$Format:%B$\n" * 2000)
    git(source, "add", ".gitattributes", "grow")
    git(source, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "m" * 4000)
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    with mirror.archive(sha, max_bytes=1 << 20) as context, tarfile.open(context) as tar:
        assert member_bytes(tar, "grow") == b"$Format:%B$\n" * 2000
        assert context.stat().st_size < 100 * 1024


def test_archive_output_is_bounded_while_it_streams(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Second line of defence: were the tree's sizes ever wrong, the tar stops at the limit."""
    (source / "data.bin").write_bytes(os.urandom(3 << 20))
    git(source, "add", "data.bin")
    git(source, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "data")
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    monkeypatch.setattr(ContextArchiver, "check_tree_size", lambda *args: None)
    with pytest.raises(SpecError) as caught, mirror.archive(sha, max_bytes=1 << 20):
        pytest.fail("an archive past the limit must not be handed out")
    assert str(caught.value) == "the build context is larger than YADOCKERI_MAX_CONTEXT_BYTES (1 MiB)"
    assert list(mirror.path.parent.glob("*.tar")) == []


def test_archive_streams_to_a_file_removed_even_on_error(source: Path, tmp_path: Path) -> None:
    (source / "data.bin").write_bytes(os.urandom(3 << 20))
    git(source, "add", "data.bin")
    git(source, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "data")
    mirror = Mirror(str(source), tmp_path / "app.git")
    sha = mirror.fetch("main")
    with pytest.raises(RuntimeError), mirror.archive(sha, max_bytes=8 << 20) as context:
        assert context.parent == mirror.path.parent and context.stat().st_size > 3 << 20
        with tarfile.open(context) as tar:
            assert member_bytes(tar, "data.bin") == (source / "data.bin").read_bytes()
        raise RuntimeError("the build failed")
    assert not context.exists()


def test_contexts_left_by_a_killed_process_are_swept(source: Path, tmp_path: Path) -> None:
    mirror = Mirror(str(source), tmp_path / "app.git")
    old, fresh = tmp_path / ".app.git.context-old.tar", tmp_path / ".app.git.context-fresh.tar"
    other = tmp_path / ".other.git.context-old.tar"
    for leftover in (old, fresh, other):
        leftover.write_bytes(b"x")
    day_ago = time.time() - 2 * 86400
    os.utime(old, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    mirror.fetch("main")
    assert not old.exists() and fresh.exists() and other.exists()  # a build may still read the fresh one


# Concurrency ------------------------------------------------------------------------------
def test_threads_fetch_different_branches_into_one_mirror(source: Path, tmp_path: Path) -> None:
    expected = {}
    for n in range(6):
        git(source, "checkout", "-q", "-b", f"topic/{n}", "main")
        expected[f"topic/{n}"] = commit_file(source, f"f{n}.txt", f"{n}\n" * 500, f"topic {n}")
    path = tmp_path / "app.git"  # fresh: `git init` races too
    barrier = threading.Barrier(len(expected))
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def fetch(branch: str) -> None:
        try:
            barrier.wait()
            results[branch] = Mirror(str(source), path).fetch(branch)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=fetch, args=(b,)) for b in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert results == expected
    subprocess.run(["git", f"--git-dir={path}", "fsck", "--no-progress"], check=True, capture_output=True)


def test_processes_fetch_into_one_mirror(source: Path, tmp_path: Path) -> None:
    branches = []
    for n in range(4):
        git(source, "checkout", "-q", "-b", f"p{n}", "main")
        commit_file(source, f"p{n}.txt", f"{n}\n", f"p {n}")
        branches.append(f"p{n}")
    path = tmp_path / "app.git"
    go = tmp_path / "go"  # all processes start fetching at once, so `git init` races too
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom stacks.gitrepo import Mirror\n"
        "while not Path(sys.argv[3]).exists():\n    time.sleep(0.001)\n"
        "for b in sys.argv[4:]:\n    print(b, Mirror(sys.argv[1], Path(sys.argv[2])).fetch(b))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(source), str(path), str(go), *order],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for order in (branches, branches[::-1], branches, branches[::-1])
    ]
    time.sleep(1.0)  # let the interpreters start and wait
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert dict(line.split() for line in out.splitlines()) == {b: git(source, "rev-parse", b) for b in branches}


# Timeouts ---------------------------------------------------------------------------------
def test_hanging_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        mirror = Mirror(f"http://127.0.0.1:{port}/app.git", tmp_path / "app.git", timeout=1.5)
        with pytest.raises(GitError, match=r"timed out after 1.5s"):
            mirror.fetch("main")


# Token over HTTP --------------------------------------------------------------------------
TOKEN = "ghp_S3cretTok3nValue0123456789"


class _GitHTTPHandler(BaseHTTPRequestHandler):
    """`git http-backend` as CGI, refusing any request without the expected Authorization."""

    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, *args: object) -> None:
        pass

    def _serve(self) -> None:
        self.server.seen_auth.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != self.server.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, payload = self._backend(self._body())
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command, "PATH_INFO": unquote(path), "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode().splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        return status, headers, payload


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, expected: str) -> None:
        super().__init__(("127.0.0.1", 0), _GitHTTPHandler)
        self.root = root
        self.expected = expected
        self.seen_auth: list[str | None] = []


@pytest.fixture
def http_repo(source: Path, tmp_path: Path) -> Iterator[tuple[str, _GitHTTPServer]]:
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(root / "app.git")], check=True)
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    server = _GitHTTPServer(root, expected)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/app.git", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_token_auth_over_http(
    http_repo: tuple[str, _GitHTTPServer], source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, server = http_repo
    argvs: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(args, *rest, **kwargs):
        argvs.append([str(a) for a in args])
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(gitproc.subprocess, "Popen", recording_popen)
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    texts: list[str] = []

    # Without the token: refused, with a clear GitError.
    lines: list[str] = []
    with pytest.raises(GitError) as refused:
        Mirror(url, tmp_path / "anon.git", log=lines.append, timeout=30).fetch("main")
    assert "Authentication failed" in str(refused.value) or "401" in str(refused.value)
    texts += [str(refused.value), repr(refused.value), *lines]

    # With it: fetched.
    lines = []
    mirror = Mirror(url, tmp_path / "app.git", token=TOKEN, log=lines.append, timeout=30)
    assert mirror.fetch("main") == git(source, "rev-parse", "main")
    assert server.seen_auth.count(server.expected) >= 1
    texts += lines

    # A wrong branch and a wrong path with the token: errors still never carry it.
    with pytest.raises(BranchNotFound) as missing:
        mirror.fetch("nope")
    bad = Mirror(url.replace("app.git", "other.git"), tmp_path / "other.git", token=TOKEN, log=lines.append, timeout=30)
    with pytest.raises(GitError) as other:
        bad.fetch("main")
    texts += [str(missing.value), repr(missing.value), str(other.value), repr(other.value), *lines]

    for text in texts:
        assert TOKEN not in text and basic not in text
    for argv in argvs:
        assert not any(TOKEN in arg or basic in arg for arg in argv), argv


def test_token_in_url_is_scrubbed(tmp_path: Path) -> None:
    url = f"https://x-access-token:{TOKEN}@127.0.0.1:9/acme/app.git"
    lines: list[str] = []
    mirror = Mirror(url, tmp_path / "app.git", log=lines.append, timeout=20)
    with pytest.raises(GitError) as caught:
        mirror.fetch("main")
    for text in [str(caught.value), *lines, mirror.display_repo]:
        assert TOKEN not in text
    assert "127.0.0.1:9/acme/app.git" in str(caught.value)


def test_token_not_sent_to_ssh_or_local_repos(source: Path, tmp_path: Path) -> None:
    env = Mirror(str(source), tmp_path / "app.git", token=TOKEN).git_env()
    assert not any(TOKEN in v or "extraHeader" in v for v in env.values())


# SSH key ----------------------------------------------------------------------------------
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


def test_ssh_key_file_and_command(tmp_path: Path) -> None:
    path = tmp_path / "mirrors" / "my app.git"
    mirror = Mirror("git@github.com:acme/app.git", path, ssh_key=SSH_KEY)
    key_file = mirror.ssh_key_file
    assert key_file is not None and key_file.parent == path.parent
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == SSH_KEY + "\n"

    env = mirror.git_env()
    command = shlex.split(env["GIT_SSH_COMMAND"])  # git runs it through a shell: the path must be quoted
    assert command[0] == "ssh" and command[command.index("-i") + 1] == str(key_file)
    assert "IdentitiesOnly=yes" in command and "StrictHostKeyChecking=accept-new" in command
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert not any(SSH_KEY in v for v in env.values())

    # Written once: a second mirror with the same key leaves the file alone.
    inode = key_file.stat().st_ino
    Mirror("git@github.com:acme/app.git", path, ssh_key=SSH_KEY)
    assert key_file.stat().st_ino == inode


def test_ssh_unreachable_host_is_a_git_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mirror = Mirror(f"ssh://git@127.0.0.1:{port}/acme/app.git", tmp_path / "app.git", ssh_key=SSH_KEY, timeout=30)
    with pytest.raises(GitError) as caught:
        mirror.fetch("main")
    assert "Connection refused" in str(caught.value) and "\n" not in str(caught.value)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(caught.value)


@pytest.mark.parametrize("with_filter", [True, False])
def test_a_context_unpacks_into_a_folder_and_nothing_lands_outside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_filter: bool) -> None:
    """Mirror.unpacked (BuildKit's context) on Pythons with and without tarfile's filters (the
    yadockeri image's Debian Python 3.11.2 has none)."""
    import io
    import tarfile

    from stacks import gitarchive

    if not with_filter:
        monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        data = b"x"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    target = tmp_path / "unpacked"
    target.mkdir()
    with pytest.raises((SpecError, tarfile.OutsideDestinationError) if with_filter else SpecError), \
            tarfile.open(evil) as tar:
        gitarchive._extract(tar, target)
    assert not (tmp_path / "outside.txt").exists()
    good = tmp_path / "good.tar"
    with tarfile.open(good, "w") as tar:
        info = tarfile.TarInfo("app/www/index.html")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("app/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"  # kept as a link, as git stores it
        tar.addfile(link)
    with tarfile.open(good) as tar:
        gitarchive._extract(tar, target)
    assert (target / "app/www/index.html").read_text() == "hi" and (target / "app/link").is_symlink()
