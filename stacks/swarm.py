"""The thin layer over the Docker engine: the only module (with router.py's few calls) that
talks to Docker, and the one place the docker CLI runs (`docker stack deploy`).

Specs come in as plain dicts built by specs.py; Docker's errors go out as YadockeriErrors.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import requests
import urllib3
from docker.constants import MINIMUM_DOCKER_API_VERSION as MINIMUM_API_VERSION

from .errors import BuildFailed, DockerUnavailable, SpecError, YadockeriError
from .specs import HASH_LABEL, NAMESPACE_LABEL

log = logging.getLogger(__name__)

DOCKER_TIMEOUT = 600  # builds and pushes stream for a long time


@contextmanager
def docker_errors(doing: str) -> Iterator[None]:
    """Translate Docker's exceptions into messages a user can act on."""
    try:
        yield
    except YadockeriError:
        raise
    except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as error:
        raise DockerUnavailable(f"cannot reach the Docker daemon while {doing}: {_reason(error)}") from None
    except docker.errors.APIError as error:
        raise YadockeriError(f"Docker refused {doing}: {error.explanation or error}") from None
    except docker.errors.DockerException as error:
        raise DockerUnavailable(f"Docker failed while {doing}: {error}") from None


def docker_host(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(docker_host_url: str | None = None) -> docker.DockerClient:
    """A client for the engine yadockeri manages; it must be a swarm manager."""
    host = docker_host(docker_host_url)
    try:
        client = docker.DockerClient(base_url=host, timeout=DOCKER_TIMEOUT)
        info = client.info()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
        raise DockerUnavailable(
            f"cannot reach the Docker daemon at {host} ({_reason(error)}); is dockerd running? "
            "scripts/setup.sh starts it"
        ) from None
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise DockerUnavailable(
            f"the Docker engine at {host} is not a swarm manager; run `docker swarm init` (scripts/setup.sh does)"
        )
    return client


def connect_builder(url: str, tls: tuple[str, str, str] | None = None, tls_dir: Path | None = None) -> docker.DockerClient:
    """A client for the engine that builds images (YADOCKERI_BUILDER): any Docker engine, by a
    DOCKER_HOST URL; with `tls` (CA, certificate, key PEM texts) it is verified and we are too."""
    try:
        tls_config = _tls_config(tls, tls_dir) if tls else False
        # requests lets REQUESTS_CA_BUNDLE (set on many machines) win over a session's own CA, so
        # trust_env is off; and the API version is asked with it off too (not `auto`).
        probe = docker.APIClient(base_url=url, tls=tls_config, version=MINIMUM_API_VERSION, timeout=DOCKER_TIMEOUT)
        probe.trust_env = False
        version = probe.version(api_version=False)["ApiVersion"]
        client = docker.DockerClient(base_url=url, tls=tls_config, version=version, timeout=DOCKER_TIMEOUT)
        client.api.trust_env = False
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
        raise DockerUnavailable(
            f"cannot reach the builder's Docker engine at {url} (YADOCKERI_BUILDER): {_reason(error)}"
        ) from None
    return client


def _tls_config(tls: tuple[str, str, str], folder: Path | None) -> docker.tls.TLSConfig:
    """docker-py reads certificates from files: write them, private, where only we look."""
    folder = folder or Path(tempfile.mkdtemp(prefix="yadockeri-builder-tls-"))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, cert, key = (_write_private(str(folder / name), text)
                     for name, text in zip(("ca.pem", "cert.pem", "key.pem"), tls, strict=True))
    return docker.tls.TLSConfig(ca_cert=ca, client_cert=(cert, key), verify=True)


def _write_private(path: str, text: str) -> str:
    """Write a file only its owner may read (mode 600 from its creation on); returns its path."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _reason(error: BaseException) -> str:
    text = str(error)
    for marker in ("FileNotFoundError", "Connection refused", "No such file or directory", "Permission denied"):
        if marker in text:
            return marker.replace("FileNotFoundError", "no such socket")
    return text.splitlines()[0][:200] if text else type(error).__name__


OUT_OF_SEQUENCE_TRIES = 3


class Swarm:
    """Operations on one swarm, by name and label."""

    def __init__(self, client: docker.DockerClient, host: str | None = None) -> None:
        self.client = client
        self.api = client.api
        self.host = host or client.api.base_url  # for the docker CLI: the same engine as the SDK
        self.registry_auth: tuple[str, str, str] | None = None  # (registry, username, password) after login()

    # Services ---------------------------------------------------------------------------------
    def service(self, name: str) -> dict | None:
        with docker_errors(f"looking up service {name}"):
            try:
                return self.api.inspect_service(name)
            except docker.errors.NotFound:
                return None

    def services(self, **labels: str) -> list[dict]:
        with docker_errors("listing services"):
            return self.api.services(filters={"label": _label_filters(labels)})

    def apply_service(self, spec: dict) -> str:
        """Create the service, or update it if its spec hash or its scale changed (a sleeping
        stack's processes are scaled to 0 under the same spec). Returns what happened."""
        name = spec["name"]
        for attempt in range(OUT_OF_SEQUENCE_TRIES):
            current = self.service(name)
            with docker_errors(f"creating or updating service {name}"):
                if current is None:
                    self.api.create_service(**spec)
                    return "created"
                same_spec = current["Spec"].get("Labels", {}).get(HASH_LABEL) == spec["labels"].get(HASH_LABEL)
                if same_spec and _replicas(current["Spec"]) == _replicas(spec):
                    return "unchanged"
                try:
                    self.api.update_service(current["ID"], current["Version"]["Index"], **spec)
                except docker.errors.APIError as error:
                    # swarm itself wrote the service meanwhile (its update or rollback moving on)
                    if "update out of sequence" not in str(error) or attempt == OUT_OF_SEQUENCE_TRIES - 1:
                        raise
                    continue
                return "updated"
        raise AssertionError("unreachable")

    def create_job(self, spec: dict) -> str:
        with docker_errors(f"starting job {spec['name']}"):
            self.remove_service(spec["name"])  # a job left behind by a killed run
            return self.api.create_service(**spec)["ID"]

    def scale(self, name: str, replicas: int) -> bool:
        """Set a replicated service's replica count; False if the service does not exist."""
        current = self.service(name)
        if current is None:
            return False
        spec = current["Spec"]
        if spec.get("Mode", {}).get("Replicated", {}).get("Replicas") == replicas:
            return True
        with docker_errors(f"scaling {name}"):
            self.api.update_service(
                current["ID"], current["Version"]["Index"], task_template=spec["TaskTemplate"], name=spec["Name"],
                labels=spec.get("Labels"), mode={"Replicated": {"Replicas": replicas}},
                update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
                endpoint_spec=spec.get("EndpointSpec"),
            )
        return True

    def remove_service(self, name: str) -> bool:
        with docker_errors(f"removing service {name}"):
            try:
                self.api.remove_service(name)
                return True
            except docker.errors.NotFound:
                return False

    def tasks(self, service: str) -> list[dict]:
        with docker_errors(f"listing tasks of {service}"):
            return self.api.tasks(filters={"service": service})

    def service_logs(self, service: str, tail: int = 100, timestamps: bool = False) -> list[str]:
        with docker_errors(f"reading logs of {service}"):
            try:
                raw = self.api.service_logs(
                    service, stdout=True, stderr=True, tail=tail, timestamps=timestamps, follow=False
                )
            except docker.errors.NotFound:
                return []
        data = b"".join(raw) if not isinstance(raw, bytes) else raw
        return data.decode("utf-8", "replace").splitlines()

    def follow_service_logs(self, service: str, *, since: float) -> LogStream:
        """Follow a (non-TTY) service's stdout from `since` (seconds since the epoch), with
        timestamps, across all its tasks and nodes. The stream can be closed from another thread."""
        with docker_errors(f"following logs of {service}"):
            # docker-py's service_logs() hides the response, and only closing the response
            # unblocks a follow that waits for the next line; so the request is made here.
            response = self.api._get(self.api._url("/services/{0}/logs", service), stream=True, params={
                "follow": True, "stdout": True, "stderr": False, "timestamps": True, "since": f"{since:.6f}",
            })
            raw = self.api._get_raw_response_socket(response)  # raises for a bad status too
            chunks = self.api._multiplexed_response_stream_helper(response)
            return LogStream(getattr(raw, "_sock", raw), chunks)

    # Networks, volumes, configs -----------------------------------------------------------------
    def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        with docker_errors(f"creating network {name}"):
            if self.api.networks(names=[name]):
                return
            try:
                self.api.create_network(name, driver="overlay", labels=labels, check_duplicate=True)
            except docker.errors.APIError as error:
                if "already exists" not in str(error):
                    raise

    def remove_networks(self, **labels: str) -> list[str]:
        """Remove networks by label; retried while their last tasks leave them."""
        removed = []
        with docker_errors("removing networks"):
            for network in self.api.networks(filters={"label": _label_filters(labels)}):
                if _retry(partial(self.api.remove_network, network["Id"])):
                    removed.append(network["Name"])
        return removed

    def remove_volumes(self, **labels: str) -> list[str]:
        removed = []
        with docker_errors("removing volumes"):
            for volume in self.api.volumes(filters={"label": _label_filters(labels)}).get("Volumes") or []:
                if _retry(partial(self.api.remove_volume, volume["Name"])):
                    removed.append(volume["Name"])
        return removed

    def containers(self, **labels: str) -> list[dict]:
        with docker_errors("listing containers"):
            return self.api.containers(all=True, filters={"label": _label_filters(labels)})

    def remove_containers(self, *, exited_only: bool = False, ancestor: str | None = None, **labels: str) -> int:
        """Remove this node's containers with these labels (and image); stopped ones only if exited_only."""
        filters: dict[str, object] = {"label": _label_filters(labels)}
        if ancestor:
            filters["ancestor"] = ancestor
        if exited_only:
            filters["status"] = ["exited", "created", "dead"]
        removed = 0
        with docker_errors("removing containers"):
            for container in self.api.containers(all=True, filters=filters):
                try:
                    self.api.remove_container(container["Id"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
        return removed

    # Images -----------------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        with docker_errors(f"looking up image {ref}"):
            try:
                self.api.inspect_image(ref)
                return True
            except docker.errors.ImageNotFound:
                return False

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
        timer: threading.Timer | None = None
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
                        tail = "\n".join(lines[-15:])
                        raise BuildFailed(f"docker build failed: {chunk['error'].strip()}\n{tail}")
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
                if not expired.is_set():
                    raise
            finally:
                timer.cancel()
                response.close()
            if expired.is_set():
                tail = "\n".join(lines[-15:])
                raise BuildFailed(f"docker build did not finish within {timeout:.0f}s (YADOCKERI_BUILD_TIMEOUT); "
                                  f"it was stopped\n{tail}")
        if not self.image_exists(tag):
            raise BuildFailed("docker build ended without an image:\n" + "\n".join(lines[-15:]))

    def engine_log_driver(self) -> str | None:
        """The engine's default log driver (what tasks get unless told otherwise)."""
        with docker_errors("reading the engine's log driver"):
            return self.api.info().get("LoggingDriver")

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
            images = self.api.images(filters={"label": "yadockeri.app"})
        found = set()
        for image in images:
            found.add(image["Id"])
            found.update(digest.split("@", 1)[1] for digest in image.get("RepoDigests") or [] if "@" in digest)
        return found

    def network_names(self) -> dict[str, str]:
        """Network ID -> name (service specs name their networks by ID)."""
        with docker_errors("listing networks"):
            return {network["Id"]: network["Name"] for network in self.api.networks()}

    def images(self, **labels: str) -> list[dict]:
        with docker_errors("listing images"):
            return self.api.images(filters={"label": _label_filters(labels)})

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
            except docker.errors.ImageNotFound:
                return False
            except docker.errors.APIError as error:
                if error.status_code == 409:  # still used by a container that is going away
                    return _retry(lambda: self.api.remove_image(ref), attempts=10)
                raise

    # The docker CLI, for middleware ---------------------------------------------------------------
    def stack_deploy(self, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        """`docker stack deploy` of a checked compose file. Never --prune: that would remove the
        process services, which carry the stack's namespace label too."""
        cli = shutil.which("docker", path="/usr/bin:/usr/local/bin") or "docker"
        args = [cli, "stack", "deploy", "--compose-file", "-", "--resolve-image", "never"]
        if with_registry_auth:
            args.append("--with-registry-auth")
        args += ["--", stack]
        # A minimal environment: the CLI interpolates ${VARS} in the file from its own environment,
        # and yadockeri's holds secrets (compose.py also escapes every `$`).
        env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": os.environ.get("HOME", "/root")}
        env.update({k: v for k, v in os.environ.items() if k in ("DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")})
        env["DOCKER_HOST"] = self.host
        login = _cli_login(self.registry_auth) if with_registry_auth and self.registry_auth else None
        if login is not None:  # the CLI sends its own login with --with-registry-auth: a throwaway config
            env["DOCKER_CONFIG"] = login.name
        try:
            result = subprocess.run(args, input=compose_yaml, capture_output=True, text=True, env=env, timeout=300, check=False)
        except FileNotFoundError:
            raise DockerUnavailable("the docker CLI is not installed (needed for `docker stack deploy`)") from None
        except subprocess.TimeoutExpired:
            raise YadockeriError(f"`docker stack deploy {stack}` did not finish within 300 s") from None
        finally:
            if login is not None:
                login.cleanup()
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            if "Cannot connect to the Docker daemon" in output:
                raise DockerUnavailable(f"cannot reach the Docker daemon: {output.splitlines()[-1]}")
            said = output.splitlines()[-1] if output else result.returncode
            raise SpecError(f"docker stack deploy refused the middleware: {said}")
        return output

    def stack_services(self, stack: str) -> list[dict]:
        return self.services(**{NAMESPACE_LABEL: stack, "yadockeri.stack": stack})

    # Nodes and the registry (several nodes: stacks/nodes.py) ------------------------------------
    def nodes(self) -> list[dict]:
        with docker_errors("listing the swarm's nodes"):
            return self.api.nodes()

    def local_node_id(self) -> str:
        """The swarm node ID of the engine yadockeri talks to (where images are built)."""
        with docker_errors("reading the engine's swarm node"):
            return self.api.info()["Swarm"]["NodeID"]

    def login(self, registry: str, username: str, password: str) -> None:
        """Log the SDK client in: pushes, and services created or updated, then carry the
        credentials (X-Registry-Auth), so every node can pull from the registry."""
        with docker_errors(f"logging in to the registry {registry}"):
            self.api.login(username=username, password=password, registry=registry, reauth=True)
        self.registry_auth = (registry, username, password)


class LogStream:
    """Lines of a followed log; close() ends the iteration from any thread."""

    def __init__(self, sock: socket.socket, chunks: Iterator[bytes]) -> None:
        self._sock = sock
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self._chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending

    def close(self) -> None:
        # Shutting the socket down wakes a reader blocked in recv(); closing the response
        # instead would wait for the lock that very reader holds.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _cut(sock: socket.socket | None, expired: threading.Event) -> None:
    """Cut a streaming response's connection (a build past its timeout): dockerd then cancels."""
    expired.set()
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _replicas(spec: dict) -> int | None:
    mode = spec.get("Mode") or spec.get("mode") or {}
    return (mode.get("Replicated") or {}).get("Replicas")


def _cli_login(auth: tuple[str, str, str]) -> tempfile.TemporaryDirectory:
    """A DOCKER_CONFIG folder (mode 700) whose config.json holds the registry login, for one CLI call."""
    registry, username, password = auth
    folder = tempfile.TemporaryDirectory(prefix="yadockeri-cli-")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    _write_private(os.path.join(folder.name, "config.json"), json.dumps({"auths": {registry: {"auth": token}}}))
    return folder


def _label_filters(labels: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in labels.items()]


def _retry(action: Callable[[], Any], attempts: int = 30, delay: float = 0.5) -> bool:
    """Retry an action that fails while swarm tears down tasks (network/volume/image in use)."""
    for attempt in range(attempts):
        try:
            action()
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
    return False
