"""The example app that a fresh install can deploy at once.

examples/hello lives inside yadockeri's own tree, which may not be a git repository (an
installed package, the yadockeri image), so it is copied into a small git repository of its
own in the data folder, branch main, and committed again whenever the files change.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .config import EXAMPLE_APP_DIR
from .errors import ConfigError

_GIT_IDENTITY = ["-c", "user.name=yadockeri", "-c", "user.email=yadockeri@localhost", "-c", "commit.gpgsign=false"]


def ensure_example_repo(repo: str | Path, source: Path = EXAMPLE_APP_DIR) -> str:
    """Make (or refresh) the example repository; returns the commit of main."""
    repo = Path(repo)
    if not source.is_dir():
        raise ConfigError(f"the example app is missing from {source}")
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "--quiet", "--initial-branch=main")
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(source, repo, dirs_exist_ok=True)
    _git(repo, "checkout", "--quiet", "-B", "main")
    _git(repo, "add", "--all")
    if _git(repo, "status", "--porcelain").strip():
        _git(repo, *_GIT_IDENTITY, "commit", "--quiet", "-m", "Example app from yadockeri")
    return _git(repo, "rev-parse", "HEAD").strip()


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"cannot prepare the example repository in {repo}: {result.stderr.strip()}")
    return result.stdout
