"""The yadockeri image, built with no network: a Debian base made with debootstrap on the host
engine (kept between runs), this machine's docker CLI as a tiny image, the wheelhouse, and
`docker build --network none` of the top-level Dockerfile on a node."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import docker.errors

from .common import HOST_DOCKER, Node, run

BASE_RECIPE = ("bookworm", "minbase", ("python3", "python3-venv", "git", "openssh-client"))
BASE_REPO = "yadockeri-test/debian-python"
CLI_IMAGE = "yadockeri-test/docker-cli:local"
REPO_ROOT = Path(__file__).resolve().parents[3]  # tests/support/multinode/images.py -> the repository


def base_image_tag(recipe: tuple = BASE_RECIPE, repo: str = BASE_REPO, remove: tuple[str, ...] = ()) -> str:
    """The tag names the recipe (suite, variant, packages, and the paths removed after it)."""
    digest = hashlib.sha256(repr((recipe, remove) if remove else recipe).encode()).hexdigest()[:8]
    return f"{repo}:{recipe[0]}-{digest}"


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb URL`)."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    for text in texts:
        for match in re.finditer(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text):
            uri = match.group(1)
            if "security" not in uri and uri.rstrip("/").endswith("debian"):
                return uri
    return "http://deb.debian.org/debian"


def ensure_base_image(say=print, *, recipe: tuple = BASE_RECIPE, repo: str = BASE_REPO,
                      remove: tuple[str, ...] = ()) -> str:
    """A Debian bookworm image with Python 3.11, venv, git and ssh, made with debootstrap on the
    host engine, kept between runs (its tag names the recipe): it takes minutes to make.
    Another recipe (suite, variant, packages) and repository make another base the same way;
    `remove` names more paths (relative to the root) to leave out of it."""
    tag = base_image_tag(recipe, repo, remove)
    host = docker.DockerClient(base_url=HOST_DOCKER, timeout=600)
    with contextlib.suppress(docker.errors.ImageNotFound):
        host.images.get(tag)
        return tag
    suite, variant, packages = recipe
    root = Path(tempfile.mkdtemp(prefix="ydmn-debootstrap-", dir="/var/tmp"))
    try:
        started = time.monotonic()
        run("debootstrap", f"--variant={variant}", f"--include={','.join(packages)}", suite, str(root), debian_mirror())
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale",
                     *remove):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run_import = subprocess.run(["docker", "-H", HOST_DOCKER, "import", "-c", "ENV LANG=C.UTF-8", "-",
                                     tag], stdin=tar.stdout, capture_output=True, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or run_import.returncode != 0:
            raise RuntimeError(f"docker import failed: {run_import.stderr.decode(errors='replace')}")
        say(f"base image {tag} made in {time.monotonic() - started:.0f}s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def make_cli_image(node: Node) -> str:
    """A tiny image holding this machine's docker CLI at /usr/local/bin/docker (the Dockerfile's
    DOCKER_CLI_IMAGE), made right in the node's engine."""
    root = Path(tempfile.mkdtemp(prefix="ydmn-cli-"))
    try:
        (root / "usr/local/bin").mkdir(parents=True)
        (root / "usr/local/libexec/docker/cli-plugins").mkdir(parents=True)  # 20.10 builds with BuildKit itself
        shutil.copy2("/usr/bin/docker", root / "usr/local/bin/docker")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        done = subprocess.run(["docker", "-H", node.docker_host, "import", "-", CLI_IMAGE], stdin=tar.stdout,
                              capture_output=True, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or done.returncode != 0:
            raise RuntimeError(f"docker import of the CLI failed: {done.stderr.decode(errors='replace')}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return CLI_IMAGE


def make_wheelhouse() -> Path:
    run(str(REPO_ROOT / "scripts" / "wheelhouse.sh"))
    return REPO_ROOT / ".wheelhouse"


def build_yadockeri_image(node: Node, *, base: str, cli: str, tag: str) -> tuple[str, list[str]]:
    """`docker build --network none` of the top-level Dockerfile on the node; returns (image ID, log)."""
    client = node.client()
    lines: list[str] = []
    try:
        image, log = client.images.build(
            path=str(REPO_ROOT), tag=tag, network_mode="none", pull=False, rm=True, forcerm=True,
            buildargs={"BASE_IMAGE": base, "DOCKER_CLI_IMAGE": cli},
        )
    except docker.errors.BuildError as error:
        lines = [str(c.get("stream") or c.get("error") or "").rstrip() for c in error.build_log]
        raise RuntimeError("the yadockeri image did not build:\n" + "\n".join(lines[-40:])) from None
    lines = [str(c.get("stream") or "").rstrip() for c in log]
    return image.id, lines


def basic_auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
