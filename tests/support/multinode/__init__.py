"""A separate two-node swarm on this one machine, with a real registry, for multi-node tests.

Nothing here touches the host's own Docker engine or swarm (other tests and engineers use it):

    10.77.0.254  host side: veth `ydmn-host`; the registry listens here (TLS, htpasswd login)
    10.77.0.1    netns `ydmn-m`: dockerd, swarm manager (advertises this address)
    10.77.0.2    netns `ydmn-w`: dockerd, swarm worker
                 netns `ydmn-sw`: a bridge joining the three (the host's FORWARD policy, DROP with
                 bridge netfilter on, would drop bridged traffic on a bridge in the host namespace)

Each dockerd runs with `nsenter --net` (not `ip netns exec`, which remounts /sys: dockerd then
fails), its own data root, exec root, pidfile, socket and cgroup parent; iptables stays on inside
its namespace, so its containers reach the host side (the Slack stand-in) through NAT. It also
has a private mount namespace in which /var/run/docker.sock is bind-mounted from its own socket:
a service that mounts the Docker socket (yadockeri itself, its jobs) talks to that node, never to
the host's engine.
Images reach the manager with `docker save | docker load`, the worker through the registry.

Only the addresses above (made here) are ever targets of test traffic. Everything is removed by
`Cluster.down()` (also after a failure), and leftovers of a killed run by the next `up()`; one
cluster at a time on the machine (a lock file).

  common.py    the layout (addresses, namespaces, paths, the two nodes) and process helpers
  network.py   the namespaces, the bridge and the host's veth
  registry.py  the registry process and its API
  dockerd.py   one dockerd per node, the builder's TLS certificates, and what a dockerd leaves
  cluster.py   Cluster: up() and down() over those parts, and what tests ask of the swarm
  images.py    the yadockeri image, built with no network
"""

from .cluster import Cluster
from .common import (
    BUILDER_URL,
    CERTS_DIR,
    DEFAULT_SOCKET,
    HOST_ADDR,
    HOST_DOCKER,
    HOST_IF,
    HOST_IMAGES,
    LEGACY_VETH,
    LOCK_FILE,
    MANAGER,
    MANAGER_ADDR,
    NODES,
    REGISTRY,
    REGISTRY_PIDFILE,
    STATE_DIR,
    SUBNET,
    SWITCH_NS,
    WORKER,
    WORKER_ADDR,
    Node,
    in_ns,
    run,
)
from .images import (
    BASE_RECIPE,
    BASE_REPO,
    CLI_IMAGE,
    REPO_ROOT,
    base_image_tag,
    basic_auth,
    build_yadockeri_image,
    debian_mirror,
    ensure_base_image,
    make_cli_image,
    make_wheelhouse,
)

__all__ = [
    "BASE_RECIPE", "BASE_REPO", "BUILDER_URL", "CERTS_DIR", "CLI_IMAGE", "DEFAULT_SOCKET", "HOST_ADDR", "HOST_DOCKER",
    "HOST_IF", "HOST_IMAGES", "LEGACY_VETH", "LOCK_FILE", "MANAGER", "MANAGER_ADDR", "NODES", "REGISTRY",
    "REGISTRY_PIDFILE", "REPO_ROOT", "STATE_DIR", "SUBNET", "SWITCH_NS", "WORKER", "WORKER_ADDR", "Cluster", "Node",
    "base_image_tag", "basic_auth", "build_yadockeri_image", "debian_mirror", "ensure_base_image", "in_ns",
    "make_cli_image", "make_wheelhouse", "run",
]
