"""The image registry (YADOCKERI_REGISTRY): how images built on the manager reach other nodes.

Pushing and pulling go through Docker (swarm.py: the SDK client is logged in with the registry
credentials, so pushes and service creations carry them and any node can pull). This module
is the registry's own HTTP API (distribution v2), used to delete the images of a destroyed stack
that no other stack uses: the manifest's digest is asked with a HEAD request (with the Accept
header of the schema 2 / OCI manifest types, else the registry answers with another digest),
then `DELETE /v2/<name>/manifests/<digest>`. The registry must allow deletes
(`storage.delete.enabled: true`); the blobs go at the registry's next garbage collection.

TLS: the CA of a registry with its own certificate is read where Docker reads it,
`/etc/docker/certs.d/<registry>/ca.crt` (install mounts it into the yadockeri service).
Authentication: HTTP basic (htpasswd) or a bearer token from the realm the registry names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import requests

from .errors import YadockeriError

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

CERTS_DIR = Path("/etc/docker/certs.d")
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
TIMEOUT = 30


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str


def split_ref(ref: str, registry: str) -> ImageRef | None:
    """`<registry>/<repository>:<tag>` -> its parts; None for an image of another registry."""
    prefix = registry.rstrip("/") + "/"
    if not ref.startswith(prefix):
        return None
    rest = ref[len(prefix):]
    repository, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag:
        repository, tag = rest, "latest"
    return ImageRef(registry.rstrip("/"), repository, tag)


def ca_file(registry: str, certs_dir: Path = CERTS_DIR) -> Path | None:
    path = certs_dir / registry.rstrip("/") / "ca.crt"
    return path if path.is_file() else None


class Registry:
    """A few calls of the registry HTTP API, with Docker's TLS and credential conventions."""

    def __init__(self, address: str, *, username: str | None = None, password: str | None = None,
                 certs_dir: Path = CERTS_DIR) -> None:
        self.address = address.rstrip("/")
        self.auth = (username, password or "") if username else None
        ca = ca_file(self.address, certs_dir)
        self.verify: str | bool = str(ca) if ca else True
        self.base = f"https://{self.address}"
        self._session = requests.Session()

    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                 scope: str | None = None) -> requests.Response:
        url = self.base + path
        try:
            response = self._session.request(method, url, headers=headers, auth=self.auth, verify=self.verify,
                                             timeout=TIMEOUT)
            if response.status_code == 401 and scope:
                token = self._bearer_token(response.headers.get("WWW-Authenticate", ""), scope)
                if token:
                    response = self._session.request(
                        method, url, headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                        verify=self.verify, timeout=TIMEOUT,
                    )
        except requests.RequestException as error:
            raise YadockeriError(f"cannot reach the registry {self.address}: {error}") from None
        return response

    def _bearer_token(self, challenge: str, scope: str) -> str | None:
        """Token auth (Docker Hub, GitLab, Harbor): ask the realm for a token for this scope."""
        if not challenge.lower().startswith("bearer "):
            return None
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            return None
        params["scope"] = scope
        try:
            answer = requests.get(realm, params=params, auth=self.auth, verify=self.verify, timeout=TIMEOUT)
            answer.raise_for_status()
            body = answer.json()
        except (requests.RequestException, ValueError) as error:
            raise YadockeriError(f"the registry {self.address} refused a token: {error}") from None
        return body.get("token") or body.get("access_token")

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The digest a tag points to, or None when the registry does not have it."""
        response = self._request("HEAD", f"/v2/{quote(repository)}/manifests/{quote(tag)}",
                                 headers={"Accept": MANIFEST_TYPES}, scope=f"repository:{repository}:pull")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise YadockeriError(f"the registry {self.address} answered {response.status_code} "
                                 f"for {repository}:{tag}")
        return response.headers.get("Docker-Content-Digest")

    def delete(self, repository: str, tag: str) -> bool:
        """Delete the image a tag names; False when the registry did not have it."""
        digest = self.manifest_digest(repository, tag)
        if digest is None:
            return False
        response = self._request("DELETE", f"/v2/{quote(repository)}/manifests/{digest}",
                                 scope=f"repository:{repository}:delete,pull")
        if response.status_code in (200, 202):
            return True
        if response.status_code == 404:
            return False
        if response.status_code == 405:
            raise YadockeriError(f"the registry {self.address} does not allow deletes "
                                 "(set storage.delete.enabled: true in its configuration)")
        raise YadockeriError(f"the registry {self.address} answered {response.status_code} "
                             f"when deleting {repository}:{tag}")

    def tags(self, repository: str) -> list[str]:
        response = self._request("GET", f"/v2/{quote(repository)}/tags/list", scope=f"repository:{repository}:pull")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise YadockeriError(f"the registry {self.address} answered {response.status_code} for {repository}")
        return list(response.json().get("tags") or [])


def delete_images(settings: Settings, refs: list[str], log_line: Callable[[str], None]) -> list[str]:
    """Delete these images (those of YADOCKERI_REGISTRY) from the registry; a failure is said, not raised:
    the stack is gone either way, and the registry's own garbage collection can catch up."""
    if not settings.registry:
        return []
    registry = Registry(
        settings.registry, username=settings.registry_username,
        password=settings.registry_password.get_secret_value() if settings.registry_password else None,
    )
    deleted = []
    for ref in refs:
        parts = split_ref(ref, settings.registry)
        if parts is None:
            continue
        try:
            if registry.delete(parts.repository, parts.tag):
                deleted.append(ref)
        except YadockeriError as error:
            log_line(f"note: {ref} stays in the registry: {error}")
    return deleted
