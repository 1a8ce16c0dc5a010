"""Images: look up, pull, tag, push, collect; yadockeri's own router image built; the registry
login. A branch's image is built with BuildKit (buildkit.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from ..errors import BuildFailed, YadockeriError
from .errors import APIError, BuildError, DockerException, ImageNotFound, docker_errors, explanation, retry
from .labels import APP_LABEL, label_filters

TAIL_LINES = 15


class Images:
    """What the engine holds as images, and how they get there."""

    api: docker.APIClient
    client: docker.DockerClient
    registry_auth: tuple[str, str, str] | None

    def image_exists(self, ref: str) -> bool:
        return self.image_id(ref) is not None

    def image_id(self, ref: str) -> str | None:
        with docker_errors(f"looking up image {ref}"):
            try:
                return self.api.inspect_image(ref)["Id"]
            except ImageNotFound:
                return None

    def pull(self, ref: str) -> str | None:
        """Pull an image: None when pulled, else why not (in Docker's words)."""
        try:
            self.client.images.pull(ref)
            return None
        except DockerException as error:
            return explanation(error)

    def tag(self, image_id: str, ref: str) -> None:
        repository, tag = ref.rsplit(":", 1)
        with docker_errors(f"tagging {image_id} as {ref}"):
            self.api.tag(image_id, repository, tag)

    def build_folder(self, folder: Path, *, tag: str, buildargs: dict[str, str]) -> None:
        """Build one of yadockeri's own images (the router's) from a folder of this checkout."""
        with docker_errors(f"building {tag}"):
            try:
                self.client.images.build(path=str(folder), buildargs=buildargs, tag=tag, rm=True, forcerm=True,
                                         pull=False)
            except BuildError as error:
                lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in error.build_log]
                tail = "\n".join(line for line in lines if line)[-1500:]
                raise BuildFailed(f"{error.msg}\n{tail}") from None

    def push(self, ref: str, log_line: Callable[[str], None]) -> None:
        with docker_errors(f"pushing {ref}"):
            for chunk in self.api.push(ref, stream=True, decode=True):
                if "error" in chunk:
                    raise YadockeriError(f"pushing {ref} failed: {chunk['error']}")
                if chunk.get("status") and chunk.get("id") is None:
                    log_line(chunk["status"])

    def own_image_ids(self) -> set[str]:
        """IDs and repo digests (`sha256:...`) of every image yadockeri built here (any app):
        a branch's middleware may not name them, however it spells them."""
        with docker_errors("listing yadockeri's images"):
            images = self.api.images(filters={"label": APP_LABEL})
        found = set()
        for image in images:
            found.add(image["Id"])
            found.update(digest.split("@", 1)[1] for digest in image.get("RepoDigests") or [] if "@" in digest)
        return found

    def images(self, **labels: str) -> list[dict]:
        with docker_errors("listing images"):
            return self.api.images(filters={"label": label_filters(labels)})

    def prune_build_cache(self, older_than_seconds: int, keep_bytes: int | None = None) -> int:
        """Remove build cache unused for longer than that, then the least recently used until
        at most `keep_bytes` is left; returns the bytes freed."""
        with docker_errors("pruning the build cache"):
            freed = self.api.prune_builds(filters={"until": f"{older_than_seconds}s"})
            by_size = self.api.prune_builds(keep_storage=keep_bytes) if keep_bytes else None
        return sum(int((result or {}).get("SpaceReclaimed") or 0) for result in (freed, by_size))

    def remove_image(self, ref: str) -> bool:
        with docker_errors(f"removing image {ref}"):
            try:
                self.api.remove_image(ref, noprune=False)
                return True
            except ImageNotFound:
                return False
            except APIError as error:
                if error.status_code == 409:  # still used by a container that is going away
                    return retry(lambda: self.api.remove_image(ref), attempts=10)
                raise

    def login(self, registry: str, username: str, password: str) -> None:
        """Log the SDK client in: pushes, and services created or updated, then carry the
        credentials (X-Registry-Auth), so every node can pull from the registry."""
        with docker_errors(f"logging in to the registry {registry}"):
            self.api.login(username=username, password=password, registry=registry, reauth=True)
        self.registry_auth = (registry, username, password)
