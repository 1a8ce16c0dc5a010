"""Offline stand-ins for the public images examples/notes names: `python:3.11-slim` (its
Dockerfile's FROM) and `postgres:15` (its middleware). This machine and CI reach no registry,
so they are made here, on the host engine, and kept between runs (cached by tag):

- one Debian bookworm root made with debootstrap (minbase plus Python, pip and PostgreSQL 15),
  imported once as a base named after its recipe (tests/support/multinode/images.py does it);
- two small images built FROM it with no network (the Dockerfiles in example_images/): the
  python one with a wheelhouse of examples/notes/requirements.txt downloaded on the host and
  pip pointed at it; the postgres one with an entrypoint like the official image's.

Both carry the label `yadockeri.offline-standin=true` and a recipe digest: a stand-in of an
older recipe (say requirements.txt changed) is rebuilt; a tag that is not a stand-in (a real
image someone pulled) is left alone.

    python -m tests.support.example_images      makes them (for a human, or the bench)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

from tests.support.multinode.common import HOST_DOCKER
from tests.support.multinode.images import base_image_tag, ensure_base_image

HERE = Path(__file__).resolve().parent / "example_images"
REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "examples" / "notes" / "requirements.txt"

PYTHON_TAG = "python:3.11-slim"
POSTGRES_TAG = "postgres:15"
STANDIN_LABEL = "yadockeri.offline-standin"
RECIPE_LABEL = "yadockeri.offline-standin.recipe"

BASE_REPO = "yadockeri-test/debian-examples"
BASE_RECIPE = (
    "bookworm", "minbase",
    ("ca-certificates", "netbase", "python3", "python3-venv", "python3-pip", "python-is-python3", "postgresql-15"),
)
# The cluster postgresql-15's postinst makes (15/main): the stand-in makes its own in PGDATA.
BASE_REMOVE = ("var/lib/postgresql/15", "etc/postgresql/15")
# Bookworm's glibc is 2.36: wheels for manylinux 2.17 up to 2.36 (and the legacy names) run there.
GLIBC = (2, 36)
LOCK_FILE = "/run/lock/yadockeri-example-images.lock"


def wheel_platforms(arch: str | None = None) -> list[str]:
    arch = arch or platform.machine()
    legacy = [f"manylinux2014_{arch}"] + ([f"manylinux2010_{arch}", f"manylinux1_{arch}"]
                                          if arch in ("x86_64", "i686") else [])
    return [f"manylinux_{GLIBC[0]}_{minor}_{arch}" for minor in range(GLIBC[1], 16, -1)] + legacy


def base_tag() -> str:
    return base_image_tag(BASE_RECIPE, BASE_REPO, BASE_REMOVE)


def recipe_digest(name: str, *extra: bytes) -> str:
    """What a stand-in is made of: the base's tag, its folder's files, and `extra`."""
    digest = hashlib.sha256(base_tag().encode())
    for path in sorted((HERE / name).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(HERE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for part in extra:
        digest.update(part + b"\0")
    return digest.hexdigest()[:16]


def ensure_example_images(say: Callable[[str], None] = print) -> dict[str, str]:
    """`python:3.11-slim` and `postgres:15` on the host engine, made if missing (or a stand-in of
    an older recipe); returns {tag: image ID}. Minutes when cold (debootstrap), about a second
    when both are there. Safe to call from several processes at once (a file lock)."""
    host = docker.DockerClient(base_url=HOST_DOCKER, timeout=600)
    try:
        with _lock():
            recipes = {
                PYTHON_TAG: recipe_digest("python", REQUIREMENTS.read_bytes(), repr(wheel_platforms()).encode()),
                POSTGRES_TAG: recipe_digest("postgres"),
            }
            wanted = [tag for tag, recipe in recipes.items() if _needs_making(host, tag, recipe, say)]
            if wanted:
                started = time.monotonic()
                base = ensure_base_image(say, recipe=BASE_RECIPE, repo=BASE_REPO, remove=BASE_REMOVE)
                say(f"example images: base {base} ready after {time.monotonic() - started:.1f}s")
                for tag in wanted:
                    began = time.monotonic()
                    replaced = _image_id(host, tag)  # a stand-in of an older recipe
                    if tag == PYTHON_TAG:
                        _build_python(host, base, recipes[tag])
                    else:
                        _build(host, "postgres", tag, base, recipes[tag], HERE / "postgres")
                    if replaced and replaced != _image_id(host, tag):
                        with contextlib.suppress(docker.errors.APIError):  # a container may still use it
                            host.images.remove(replaced)
                    say(f"example images: {tag} built in {time.monotonic() - began:.1f}s")
                say(f"example images: made {', '.join(wanted)} in {time.monotonic() - started:.1f}s")
            return {tag: host.images.get(tag).id for tag in recipes}
    finally:
        host.close()


def _image_id(host: docker.DockerClient, tag: str) -> str | None:
    try:
        return host.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def _needs_making(host: docker.DockerClient, tag: str, recipe: str, say: Callable[[str], None]) -> bool:
    try:
        labels = host.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return True
    if labels.get(STANDIN_LABEL) != "true":
        say(f"example images: {tag} is a real image (no {STANDIN_LABEL} label): left as it is")
        return False
    return labels.get(RECIPE_LABEL) != recipe


def _build_python(host: docker.DockerClient, base: str, recipe: str) -> None:
    with tempfile.TemporaryDirectory(prefix="yd-example-python-") as folder:
        context = Path(folder) / "context"
        shutil.copytree(HERE / "python", context)
        download_wheels(REQUIREMENTS, context / "wheels")
        _build(host, "python", PYTHON_TAG, base, recipe, context)


def download_wheels(requirements: Path, target: Path) -> list[str]:
    """The wheels of `requirements` and their dependencies for CPython 3.11 on bookworm, from
    the host's package index (the builds have no network)."""
    target.mkdir(parents=True, exist_ok=True)
    platforms = [arg for name in wheel_platforms() for arg in ("--platform", name)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
         "--implementation", "cp", "--python-version", "3.11", *platforms, "--dest", str(target),
         "--requirement", str(requirements)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip download of {requirements} failed: {result.stderr[-2000:]}")
    return sorted(path.name for path in target.glob("*.whl"))


def _build(host: docker.DockerClient, name: str, tag: str, base: str, recipe: str, context: Path) -> str:
    """`docker build --network none` (the classic builder: no BuildKit feature is needed)."""
    try:
        image, _ = host.images.build(
            path=str(context), tag=tag, network_mode="none", pull=False, rm=True, forcerm=True,
            buildargs={"BASE": base}, labels={STANDIN_LABEL: "true", RECIPE_LABEL: recipe},
        )
    except docker.errors.BuildError as error:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in error.build_log]
        raise RuntimeError(f"the {name} stand-in ({tag}) did not build:\n" + "\n".join(lines[-40:])) from None
    return image.id


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    Path(LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> int:
    started = time.monotonic()
    images = ensure_example_images()
    for tag, image_id in images.items():
        print(f"{tag}  {image_id}")
    print(f"done in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
