"""Build contexts: the tree of a commit as a tar file (or a folder) beside the mirror, bounded twice. The
tree's blob sizes are summed first (`ls-tree -l`, nothing is read) and a context over the limit
is refused; then `git archive` streams into the file, never into memory, and is stopped should
its output still grow past the limit. Files left by a killed process are swept."""

from __future__ import annotations

import glob
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import SpecError
from .gitproc import GitRunner
from .names import echo

# The tar format: a 512-byte header per entry (plus one for a long name), data in 512-byte blocks.
_TAR_BLOCK = 512
_TAR_ENTRY_OVERHEAD = 2 * _TAR_BLOCK
_TAR_ARCHIVE_OVERHEAD = 20 * _TAR_BLOCK  # the global header with the commit id, the end blocks
STALE_CONTEXT_SECONDS = 86400


class ContextArchiver:
    """Tar files of trees of the mirror `git` runs on, in `folder`, named `<prefix>*.tar`."""

    def __init__(self, git: GitRunner, folder: Path, prefix: str) -> None:
        self._git = git
        self.folder = folder
        self.prefix = prefix

    @contextmanager
    def archive(self, treeish: str, subdir: str, max_bytes: int) -> Iterator[Path]:
        """A tar file of `treeish` (a tree, so `export-subst` placeholders are never expanded),
        removed when the `with` block ends; `subdir` names it in errors."""
        self.check_tree_size(treeish, subdir, max_bytes)
        fd, tmp = tempfile.mkstemp(prefix=self.prefix, suffix=".tar", dir=self.folder)
        path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                self._archive_into(out, treeish, subdir, max_bytes)
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def unpacked(self, treeish: str, subdir: str, max_bytes: int) -> Iterator[Path]:
        """The tree as a folder holding exactly its files, removed when the `with` block ends:
        BuildKit applies `.dockerignore` to a folder (a tar on stdin is sent whole)."""
        with self.archive(treeish, subdir, max_bytes) as tar_path:
            target = Path(tempfile.mkdtemp(prefix=self.prefix, suffix=".d", dir=self.folder))
            try:
                with tarfile.open(tar_path) as tar:
                    _extract(tar, target)
                yield target
            finally:
                shutil.rmtree(target, ignore_errors=True)

    def sweep(self) -> None:
        """Remove build contexts a killed process left behind (a day old: no build runs that long)."""
        cutoff = time.time() - STALE_CONTEXT_SECONDS
        for leftover in [*self.folder.glob(glob.escape(self.prefix) + "*.tar"),
                         *self.folder.glob(glob.escape(self.prefix) + "*.d")]:
            try:
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            except FileNotFoundError:
                pass  # another process swept it

    def check_tree_size(self, treeish: str, subdir: str, max_bytes: int) -> None:
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

        self._git.stream(["ls-tree", "-r", "-t", "-l", "-z", treeish], add)
        if total > max_bytes:
            raise SpecError(_too_big(subdir, total, max_bytes))

    def _archive_into(self, out: BinaryIO, treeish: str, subdir: str, max_bytes: int) -> None:
        written = 0

        def write(chunk: bytes) -> bool:
            nonlocal written
            written += len(chunk)
            if written > max_bytes:
                return False  # a second line of defence: the tree's sizes already said it fits
            out.write(chunk)
            return True

        self._git.stream(["archive", "--format=tar", treeish], write)
        if written > max_bytes:
            raise SpecError(_too_big(subdir, None, max_bytes))


def tree_path(path: str) -> str:
    """A path inside the tree, `` for the root; `..` cannot climb out of it."""
    name = posixpath.normpath("/" + str(path).replace("\\", "/")).lstrip("/")
    return "" if name == "." else name


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


def _too_big(subdir: str, size: int | None, max_bytes: int) -> str:
    where = "the build context" if tree_path(subdir) == "" else f"the build context `{echo(subdir)}`"
    measured = f"is {format_bytes(size)}, larger" if size is not None else "is larger"
    return f"{where} {measured} than YADOCKERI_MAX_CONTEXT_BYTES ({format_bytes(max_bytes)})"


def _tar_size(blob_size: int) -> int:
    """What one entry of `blob_size` bytes takes in a tar: header(s) plus whole data blocks."""
    return _TAR_ENTRY_OVERHEAD + -(-blob_size // _TAR_BLOCK) * _TAR_BLOCK


def _extract(tar: tarfile.TarFile, target: Path) -> None:
    """git's own archive of a tree; still, nothing may land outside the folder. Python's `tar`
    filter says so where it exists (3.11.4+); older ones check each member's path here (git
    trees have no device files, and no path that is both a symlink and a folder)."""
    if hasattr(tarfile, "tar_filter"):
        tar.extractall(target, filter="tar")
        return
    root = target.resolve()
    for member in tar.getmembers():
        if not (root / member.name).resolve().is_relative_to(root) or not (member.isreg() or member.isdir()
                                                                              or member.issym()):
            raise SpecError(f"the build context has an entry yadockeri does not unpack: {echo(member.name)}")
    tar.extractall(target)  # every member was checked above
