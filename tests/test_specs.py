"""Service specs are pure functions: tested by equality with the dict Docker receives."""

from typing import Any

from stacks.docker_adapter import labels as specs
from stacks.docker_adapter.specs import Hardening, ProcessInput, process_env, process_service_spec, release_job_spec
from stacks.limits import log_driver

NANO = 1_000_000_000
HARDENING = Hardening(cpus=0.5, memory_bytes=256 * 1024 * 1024, pids=1024, log_driver=log_driver("json-file"))
MINIMAL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                "CAP_SETGID", "CAP_SETUID"]


def web_input(**changes: Any) -> ProcessInput:
    values: dict[str, Any] = dict(
        stack="akira", app="crowdworks", process="web", image="yadockeri/crowdworks:abc", command="bin/web -p $PORT",
        env={"PORT": "8080", "A": "1"}, hardening=HARDENING, router_network="router",
    )
    values.update(changes)
    return ProcessInput(**values)


def test_web_process_spec() -> None:
    spec = process_service_spec(web_input())
    digest = spec["labels"][specs.HASH_LABEL]
    labels = {
        "com.docker.stack.namespace": "akira", "yadockeri.stack": "akira", "yadockeri.app": "crowdworks",
        "yadockeri.role": "process", "yadockeri.process": "web",
    }
    assert spec == {
        "name": "akira_web",
        "labels": {**labels, specs.HASH_LABEL: digest},
        "task_template": {
            "ContainerSpec": {
                "Image": "yadockeri/crowdworks:abc",
                "Command": ["/bin/sh", "-c", "bin/web -p $PORT"],
                "Args": None,
                "Env": ["A=1", "PORT=8080"],
                "Labels": {**labels, specs.HASH_LABEL: digest},
                "StopGracePeriod": 10 * NANO,
                "Init": True,
                "CapabilityDrop": ["ALL"],
                "CapabilityAdd": MINIMAL_CAPS,  # no NET_RAW: no forged ARP or raw packets
                "Privileges": {"NoNewPrivileges": True},
            },
            "Resources": {"Limits": {"NanoCPUs": NANO // 2, "MemoryBytes": 256 * 1024 * 1024, "Pids": 1024}},
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}},
            "RestartPolicy": {"Condition": "any", "Delay": 2 * NANO, "MaxAttempts": 0, "Window": 0},
            "Networks": [
                {"Target": "akira_default", "Aliases": ["web"], "DriverOpts": None},
                {"Target": "router", "Aliases": ["akira.yadockeri-web"], "DriverOpts": None},
            ],
        },
        "mode": {"Replicated": {"Replicas": 1}},
        "endpoint_spec": {"Mode": "dnsrr"},
        "update_config": {"Parallelism": 1, "Order": "start-first", "FailureAction": "rollback", "Monitor": 5 * NANO},
        "rollback_config": {"Parallelism": 1, "FailureAction": "continue", "Order": "start-first"},
    }


def test_only_web_joins_the_router_network() -> None:
    worker = process_service_spec(web_input(process="worker", command=None))
    assert worker["task_template"]["Networks"] == [{"Target": "akira_default", "Aliases": ["worker"], "DriverOpts": None}]
    assert worker["task_template"]["ContainerSpec"]["Command"] is None  # the image's CMD


def test_hash_changes_with_what_matters_and_only_then() -> None:
    base = process_service_spec(web_input())["labels"][specs.HASH_LABEL]
    assert process_service_spec(web_input())["labels"][specs.HASH_LABEL] == base
    more_cpus = Hardening(cpus=1.0, memory_bytes=HARDENING.memory_bytes, pids=1024)
    for change in ({"image": "yadockeri/crowdworks:def"}, {"env": {"A": "2"}}, {"hardening": more_cpus}, {"command": "x"}):
        assert process_service_spec(web_input(**change))["labels"][specs.HASH_LABEL] != base


def test_env_order_port_always_wins() -> None:
    env = process_env(spec_env={"A": "spec", "B": "spec", "PORT": "1"}, stack_env={"B": "stack"}, stack="akira",
                      branch="main", commit="abc", url="http://akira.y.localhost")
    assert env == {
        "YADOCKERI_STACK": "akira", "YADOCKERI_BRANCH": "main", "YADOCKERI_COMMIT": "abc",
        "YADOCKERI_URL": "http://akira.y.localhost", "A": "spec", "B": "stack", "PORT": "8080",
    }


def test_release_job_runs_once_on_the_stack_network() -> None:
    spec = release_job_spec(stack="akira", app="crowdworks", image="img", command="migrate", env={"A": "1"}, deployment_id=7,
                            hardening=HARDENING)
    assert spec["name"] == "akira__release"
    assert spec["mode"] == {"ReplicatedJob": {}}
    assert spec["task_template"]["RestartPolicy"] == {"Condition": "none", "Delay": 0, "MaxAttempts": 0, "Window": 0}
    assert spec["task_template"]["Networks"] == [{"Target": "akira_default", "Aliases": None, "DriverOpts": None}]
    assert spec["task_template"]["ContainerSpec"]["Command"] == ["/bin/sh", "-c", "migrate"]
    assert spec["labels"]["yadockeri.role"] == "release"
    # A release task is as limited as a process: limits, minimal capabilities, rotating logs.
    assert spec["task_template"]["Resources"]["Limits"]["Pids"] == 1024
    assert spec["task_template"]["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert spec["task_template"]["ContainerSpec"]["CapabilityAdd"] == MINIMAL_CAPS
    assert spec["task_template"]["LogDriver"]["Name"] == "json-file"


def test_a_tiny_cpu_limit_never_rounds_to_no_limit() -> None:
    # Docker reads NanoCPUs 0 as "no limit"; Limits refuses less than 0.01, and specs never round to 0.
    spec = process_service_spec(web_input(hardening=Hardening(cpus=1e-12, memory_bytes=6 * 1024**2, pids=1)))
    assert spec["task_template"]["Resources"]["Limits"]["NanoCPUs"] == 1


def test_admin_capabilities_are_added_to_the_minimal_set() -> None:
    from stacks.limits import capabilities

    hardening = Hardening(cpus=1, memory_bytes=6 * 1024**2, pids=10, capabilities=tuple(capabilities(["SYS_CHROOT"])))
    added = process_service_spec(web_input(hardening=hardening))["task_template"]["ContainerSpec"]["CapabilityAdd"]
    assert added == sorted(MINIMAL_CAPS + ["CAP_SYS_CHROOT"])


def test_names() -> None:
    assert specs.service_name("akira", "web") == "akira_web"
    assert specs.network_name("akira") == "akira_default"
    assert specs.image_tag("app", "abc", None) == "yadockeri/app:abc"
    assert specs.image_tag("app", "abc", "10.77.0.1:5000/") == "10.77.0.1:5000/yadockeri/app:abc"
