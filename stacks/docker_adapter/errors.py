"""The one translator of Docker's errors: every SDK call of the adapter runs inside
`docker_errors`, so the engine sees only YadockeriErrors, with words a user can act on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import docker.errors
import requests

from ..errors import DockerUnavailable, YadockeriError

# What callers may catch from the SDK inside the adapter (a missing object is an answer, not a failure).
NotFound = docker.errors.NotFound
ImageNotFound = docker.errors.ImageNotFound
APIError = docker.errors.APIError
DockerException = docker.errors.DockerException
BuildError = docker.errors.BuildError


@contextmanager
def docker_errors(doing: str) -> Iterator[None]:
    """Translate Docker's exceptions, raised while `doing`, into messages a user can act on."""
    try:
        yield
    except YadockeriError:
        raise
    except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as error:
        raise DockerUnavailable(f"cannot reach the Docker daemon while {doing}: {reason(error)}") from None
    except docker.errors.APIError as error:
        explanation = str(error.explanation or error)
        if error.status_code == 503 or ("swarm" in explanation.lower() and "manager" in explanation.lower()):
            raise DockerUnavailable(
                f"Docker is not a swarm manager here, while {doing} ({explanation}); "
                "run `docker swarm init` or point DOCKER_HOST at a manager"
            ) from None
        raise YadockeriError(f"Docker refused {doing}: {explanation}") from None
    except docker.errors.DockerException as error:
        raise DockerUnavailable(f"Docker failed while {doing}: {error}") from None


def reason(error: BaseException) -> str:
    """The part of a connection error a person recognises."""
    text = str(error)
    for marker in ("FileNotFoundError", "Connection refused", "No such file or directory", "Permission denied"):
        if marker in text:
            return marker.replace("FileNotFoundError", "no such socket")
    return text.splitlines()[0][:200] if text else type(error).__name__


def explanation(error: docker.errors.DockerException) -> str:
    return str(getattr(error, "explanation", None) or error)


def retry(action: Callable[[], Any], attempts: int = 30, delay: float = 0.5) -> bool:
    """Retry an action that fails while swarm tears down tasks (network/volume/image in use).
    False when the object is gone already."""
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
