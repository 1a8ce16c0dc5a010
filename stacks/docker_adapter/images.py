"""Images: build, look up, pull, tag, push, collect; and the registry login."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import docker
import requests
import urllib3

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

    def build(self, context: Path, *, tag: str, dockerfile: str, labels: dict[str, str],
              log_line: Callable[[str], None], timeout: float, memory_bytes: int | None = None) -> None:
        """docker build of a tar context file; output goes to log_line, failure ends with its last
        lines. At `timeout` seconds the connection is cut, which makes dockerd cancel the build
        (a branch's endless RUN never holds a worker). Build containers get `memory_bytes` (no
        swap beyond it). No registry login is sent: a branch's FROM cannot pull with ours."""
        lines: list[str] = []

        def out(text: str) -> None:
            for line in text.rstrip("\n").splitlines():
                lines.append(line)
                log_line(line)

        params: dict[str, object] = {"t": tag, "dockerfile": dockerfile, "labels": json.dumps(labels), "rm": True,
                                     "forcerm": True, "pull": False, "q": False, "nocache": False}
        if memory_bytes:
            params.update(memory=memory_bytes, memswap=memory_bytes)
        with docker_errors(f"building {tag}"), open(context, "rb") as body:
            response = self.api._post(self.api._url("/build"), data=body, params=params, stream=True, timeout=None,
                                      headers={"Content-Type": "application/tar"})
            sock = getattr(self.api._get_raw_response_socket(response), "_sock", None)
            expired = threading.Event()
            timer = threading.Timer(timeout, _cut, (sock, expired))
            timer.daemon = True
            timer.start()
            try:
                for chunk in self.api._stream_helper(response, decode=True):
                    if "stream" in chunk:
                        out(chunk["stream"])
                    if "error" in chunk:
                        out(chunk["error"])
                        raise BuildFailed(f"docker build failed: {chunk['error'].strip()}\n{_tail(lines)}")
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
                if not expired.is_set():
                    raise
            finally:
                timer.cancel()
                response.close()
            if expired.is_set():
                raise BuildFailed(f"docker build did not finish within {timeout:.0f}s (YADOCKERI_BUILD_TIMEOUT); "
                                  f"it was stopped\n{_tail(lines)}")
        if not self.image_exists(tag):
            raise BuildFailed("docker build ended without an image:\n" + _tail(lines))

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

    def prune_build_cache(self, older_than_seconds: int) -> int:
        """Remove build cache unused for longer than that; returns the bytes freed."""
        with docker_errors("pruning the build cache"):
            result = self.api.prune_builds(filters={"until": f"{older_than_seconds}s"})
        return int((result or {}).get("SpaceReclaimed") or 0)

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


def _tail(lines: list[str]) -> str:
    return "\n".join(lines[-TAIL_LINES:])


def _cut(sock: socket.socket | None, expired: threading.Event) -> None:
    """Cut a streaming response's connection (a build past its timeout): dockerd then cancels."""
    expired.set()
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
