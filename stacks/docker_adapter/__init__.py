"""The Docker adapter: every call to Docker (the SDK and the docker CLI) is made here, and
Docker's errors are translated in one place (errors.docker_errors). Service specs are built by
pure functions in specs.py and system_specs.py; labels and names are defined in labels.py.

Nothing outside this package imports `docker` or runs the docker CLI (tests/test_layers.py).
"""

from .buildkit import BuildRequest
from .connect import connect_builder
from .errors import docker_errors
from .services import LogStream
from .swarm import Swarm

__all__ = ["BuildRequest", "LogStream", "Swarm", "connect_builder", "docker_errors"]
