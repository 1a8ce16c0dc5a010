"""Swarm services and their tasks and logs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import docker

from ..errors import YadockeriError
from .errors import APIError, NotFound, docker_errors
from .labels import HASH_LABEL, label_filters

OUT_OF_SEQUENCE_TRIES = 3


class Services:
    """Create, update, scale and remove services; read their tasks and logs."""

    api: docker.APIClient

    def service(self, name: str) -> dict | None:
        with docker_errors(f"looking up service {name}"):
            try:
                return self.api.inspect_service(name)
            except NotFound:
                return None

    def services(self, **labels: str) -> list[dict]:
        with docker_errors("listing services"):
            return self.api.services(filters={"label": label_filters(labels)} if labels else None)

    def apply_service(self, spec: dict) -> str:
        """Create the service, or update it if its spec hash or its scale changed (a sleeping
        stack's processes are scaled to 0 under the same spec). Returns what happened:
        `created`, `updated` or `unchanged`."""
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
                except APIError as error:
                    # swarm itself wrote the service meanwhile (its update or rollback moving on)
                    if "update out of sequence" not in str(error) or attempt == OUT_OF_SEQUENCE_TRIES - 1:
                        raise
                    continue
                return "updated"
        raise AssertionError("unreachable")

    def rollback_service(self, name: str) -> bool:
        """Put the service's previous spec back, as `docker service rollback` does (swarm rolls
        the tasks back by the service's rollback config). False if it has no previous spec."""
        for attempt in range(OUT_OF_SEQUENCE_TRIES):
            current = self.service(name)
            if current is None or not current.get("PreviousSpec"):
                return False
            with docker_errors(f"rolling back service {name}"):
                url = self.api._url("/services/{0}/update", current["ID"])
                response = self.api._post_json(url, data=current["Spec"], params={
                    "version": current["Version"]["Index"], "rollback": "previous"})
                try:
                    self.api._raise_for_status(response)
                except APIError as error:
                    if "update out of sequence" not in str(error) or attempt == OUT_OF_SEQUENCE_TRIES - 1:
                        raise
                    continue
                return True
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

    def set_networks(self, name: str, networks: list[dict]) -> None:
        """Put the service on these networks (`Target` by name or ID, with `Aliases`), as it is
        otherwise: its tasks are replaced by its update config."""
        current = self.service(name)
        if current is None:
            raise YadockeriError(f"no service {name}")
        spec = current["Spec"]
        with docker_errors(f"moving {name} to another network"):
            self.api.update_service(
                current["ID"], current["Version"]["Index"], task_template={**spec["TaskTemplate"], "Networks": networks},
                name=spec["Name"], labels=spec.get("Labels"), mode=spec.get("Mode"),
                update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
                endpoint_spec=spec.get("EndpointSpec"),
            )

    def remove_service(self, name: str) -> bool:
        with docker_errors(f"removing service {name}"):
            try:
                self.api.remove_service(name)
                return True
            except NotFound:
                return False

    def tasks(self, service: str, *, desired_running: bool = False) -> list[dict]:
        """A service's tasks (those swarm wants running only, with desired_running)."""
        filters: dict[str, Any] = {"service": service}
        if desired_running:
            filters["desired-state"] = "running"
        with docker_errors(f"listing tasks of {service}"):
            return self.api.tasks(filters=filters)

    def service_logs(self, service: str, tail: int = 100, timestamps: bool = False) -> list[str]:
        with docker_errors(f"reading logs of {service}"):
            try:
                raw = self.api.service_logs(
                    service, stdout=True, stderr=True, tail=tail, timestamps=timestamps, follow=False
                )
            except NotFound:
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


def _replicas(spec: dict) -> int | None:
    mode = spec.get("Mode") or spec.get("mode") or {}
    return (mode.get("Replicated") or {}).get("Replicas")
