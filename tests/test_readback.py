"""The read-back of what Docker runs, and the host's packet filter rules: pure parts, by equality.
(The same read-back against a real `docker stack deploy` is in tests/test_isolation.py.)"""

from __future__ import annotations

import copy

import pytest

from stacks import firewall, readback
from stacks.docker_adapter.specs import Hardening, ProcessInput, process_service_spec
from stacks.limits import NANO, capabilities, log_driver

CAPS = capabilities()
LOG = log_driver("json-file")
MIDDLEWARE = {
    "image": "postgres:15",
    "environment": {"POSTGRES_PASSWORD": "x"},
    "volumes": [{"type": "volume", "source": "data", "target": "/var/lib/postgresql/data", "read_only": False},
                {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1024}}],
    "networks": {"default": {}},
    "deploy": {"replicas": 1, "resources": {"limits": {"cpus": "0.5", "memory": 64 * 1024**2, "pids": 100}},
               "labels": {"yadockeri.stack": "s", "com.docker.stack.namespace": "s"}},
    "cap_drop": ["ALL"], "cap_add": CAPS,
    "logging": {"driver": LOG["Name"], "options": LOG["Options"]},
}
NETWORKS = {"n1": "s_default", "n2": "router", "n3": "other_default"}


def inspected_middleware() -> dict:
    """What `docker service inspect s_db` says for MIDDLEWARE deployed as it was checked."""
    return {"Spec": {
        "Name": "s_db",
        "Labels": {"yadockeri.stack": "s", "com.docker.stack.namespace": "s"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "postgres:15", "Env": ["POSTGRES_PASSWORD=x"],
                "Labels": {"yadockeri.stack": "s", "com.docker.stack.namespace": "s"},
                "Mounts": [{"Type": "volume", "Source": "s_data", "Target": "/var/lib/postgresql/data"},
                           {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
                "Privileges": {"CredentialSpec": None, "SELinuxContext": None},
                "Init": True, "StopGracePeriod": 10 * NANO, "DNSConfig": {}, "Isolation": "default",
                "CapabilityAdd": CAPS, "CapabilityDrop": ["ALL"],
            },
            "Resources": {"Limits": {"NanoCPUs": NANO // 2, "MemoryBytes": 64 * 1024**2, "Pids": 100},
                          "Reservations": {}},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * NANO, "MaxAttempts": 0},
            "Placement": {}, "Networks": [{"Target": "n1", "Aliases": ["db"]}],
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}},
            "ForceUpdate": 0, "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }}


def middleware_differences(inspected: dict) -> list[str]:
    expected = readback.middleware_expected("s", "db", MIDDLEWARE, tmpfs_max=1024)
    return readback.differences(inspected, expected, NETWORKS)


def test_what_was_checked_reads_back_without_a_difference() -> None:
    assert middleware_differences(inspected_middleware()) == []


def _changed(path: list[str | int], value: object) -> dict:
    inspected = copy.deepcopy(inspected_middleware())
    target = inspected["Spec"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return inspected


CONTAINER = ["TaskTemplate", "ContainerSpec"]


@pytest.mark.parametrize(("path", "value", "said"), [
    (CONTAINER + ["Mounts", 0], {"Type": "bind", "Source": "/etc", "Target": "/h"}, "mounts a bind"),
    (CONTAINER + ["Mounts", 0, "VolumeOptions"], {"DriverConfig": {"Name": "local", "Options": {"o": "bind"}}},
     "driver options"),
    (CONTAINER + ["Mounts", 1, "TmpfsOptions"], {}, "tmpfs"),
    (CONTAINER + ["Mounts", 0, "Source"], "other_data", "mounts"),
    (CONTAINER + ["Image"], "yadockeri/app:abc", "image"),
    (CONTAINER + ["Env"], ["POSTGRES_PASSWORD=x", "SLACK_BOT_TOKEN=xoxb"], "env"),
    (CONTAINER + ["CapabilityAdd"], CAPS + ["CAP_NET_RAW"], "capabilities"),
    (CONTAINER + ["CapabilityDrop"], [], "drops"),
    (CONTAINER + ["Privileges"], {"SELinuxContext": {"Disable": True}}, "privileges"),
    (CONTAINER + ["Sysctls"], {"net.ipv4.ip_forward": "1"}, "Sysctls"),
    (CONTAINER + ["Hosts"], ["1.2.3.4 github.com"], "Hosts"),
    (CONTAINER + ["Labels", "yadockeri.stack"], "other", "label"),
    (["Labels", "com.docker.stack.namespace"], "other", "label"),
    (["TaskTemplate", "LogDriver"], {"Name": "syslog", "Options": {"syslog-address": "tcp://127.0.0.1:1"}}, "logs"),
    (["TaskTemplate", "Resources", "Limits"], {"NanoCPUs": 0, "MemoryBytes": 64 * 1024**2, "Pids": 100}, "NanoCPUs"),
    (["TaskTemplate", "Resources", "Limits"], {"NanoCPUs": NANO // 2, "MemoryBytes": 64 * 1024**2}, "Pids"),
    (["TaskTemplate", "Placement"], {"Constraints": ["node.role == manager"]}, "placed"),
    (["TaskTemplate", "Networks"], [{"Target": "n1"}, {"Target": "n2"}], "router"),
    (["TaskTemplate", "Networks"], [{"Target": "n3"}], "other_default"),
    (["Mode"], {"Global": {}}, "mode"),
    (["Mode"], {"Replicated": {"Replicas": 10000}}, "mode"),
    (["EndpointSpec", "Ports"], [{"PublishedPort": 5432, "TargetPort": 5432}], "publishes"),
])
def test_every_difference_is_found_and_named(path: list[str | int], value: object, said: str) -> None:
    found = middleware_differences(_changed(path, value))
    assert found and all(line.startswith("s_db: ") for line in found)
    assert said.lower() in " ".join(found).lower(), found


def test_a_process_spec_reads_back_as_it_was_sent() -> None:
    spec = process_service_spec(ProcessInput(
        stack="s", app="a", process="web", image="yadockeri/a:1", command=None, env={"PORT": "8080"},
        hardening=Hardening(cpus=1, memory_bytes=64 * 1024**2, pids=100, log_driver=LOG), router_network="router",
    ))
    template = spec["task_template"]
    inspected = {"Spec": {
        "Name": "s_web", "Labels": spec["labels"], "Mode": spec["mode"], "EndpointSpec": {"Mode": "dnsrr"},
        "TaskTemplate": {
            **{key: value for key, value in template.items() if key != "Networks"},
            "Networks": [{"Target": "n1", "Aliases": ["web"]}, {"Target": "n2", "Aliases": ["s.yadockeri-web"]}],
        },
    }}
    names = {"n1": "s_default", "n2": "router"}
    assert readback.differences(inspected, readback.process_expected(spec), names) == []
    inspected["Spec"]["TaskTemplate"]["ContainerSpec"] = {**template["ContainerSpec"], "CapabilityAdd": []}
    assert readback.differences(inspected, readback.process_expected(spec), names)


# The packet filter --------------------------------------------------------------------------------
def test_the_packet_filter_rules() -> None:
    plan = firewall.plan(status_port=8081, blocked=["10.20.0.0/16"], bridges=("docker_gwbridge", "docker0"))
    assert plan.input_rules == [
        ["-i", "docker_gwbridge", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-i", "docker_gwbridge", "-p", "tcp", "--dport", "8081", "-m", "connlimit", "--connlimit-above", "32",
         "--connlimit-mask", "32", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-i", "docker_gwbridge", "-p", "tcp", "--dport", "8081", "-j", "RETURN"],
        ["-i", "docker_gwbridge", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-i", "docker_gwbridge", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
        # Build steps (classic builder, the default bridge) never reach the status endpoint either.
        ["-i", "docker0", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-i", "docker0", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-i", "docker0", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"],
    ]
    assert plan.forward_rules == [
        ["-i", bridge, "-d", network, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"]
        for bridge in ("docker_gwbridge", "docker0") for network in ("169.254.0.0/16", "10.20.0.0/16")
    ]
    commands = firewall.commands(plan)
    assert commands[0] == ["-F", "YADOCKERI-INPUT"] and ["-I", "INPUT", "1", "-j", "YADOCKERI-INPUT"] in commands
    assert ["-I", "DOCKER-USER", "1", "-j", "YADOCKERI-FORWARD"] in commands


def test_installed_yadockeri_opens_no_host_port_at_all() -> None:
    # Installed, the status endpoint is a container on the control network: no host port for it.
    plan = firewall.plan(status_port=None, blocked=[])
    assert not [rule for rule in plan.input_rules if "--dport" in rule]
