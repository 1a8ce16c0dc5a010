"""Unit tests for stacks.compose: the middleware compose file, checked and rewritten; and one
test that hands a prepared file to the real `docker stack deploy` and reads back what runs."""

import hashlib
import json
import re
import subprocess
import textwrap
import time
from dataclasses import replace
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stacks.compose import (
    MiddlewarePolicy,
    PreparedCompose,
    format_duration,
    parse_duration,
    parse_image_reference,
    pin_volumes_to_node,
    prepare_compose,
    short_mount_source,
)
from stacks.errors import SpecError
from stacks.limits import Limits, capabilities, log_driver
from stacks.names import echo
from stacks.untrusted_yaml import load_untrusted

SOURCE = "docker-compose-yadockeri.yml"
LABELS = {"com.docker.stack.namespace": "akira", "yadockeri.stack": "akira"}
PROCESSES = {"web", "worker"}
MIB = 1024**2
LIMITS = Limits(default_cpus=1.0, max_cpus=4.0, default_memory=512 * MIB, max_memory=4096 * MIB,
                default_pids=1024, max_pids=4096, max_replicas=4, max_processes=16, max_tmpfs=256 * MIB)
OWN_DIGEST = "sha256:" + "ab" * 32
POLICY = MiddlewarePolicy(
    limits=LIMITS, capabilities=tuple(capabilities()), log_driver=log_driver(None),
    registry="registry.example.com:5000", own_images=frozenset({OWN_DIGEST}), max_bytes=256 * 1024,
)
CAPS = list(capabilities())
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
DEFAULT_RESOURCES = {"limits": {"cpus": "1", "memory": 512 * MIB, "pids": 1024}}
DEFAULT_DEPLOY = {"mode": "replicated", "replicas": 1, "endpoint_mode": "dnsrr", "labels": LABELS,
                  "resources": DEFAULT_RESOURCES}


def prep(text: str, **overrides: Any) -> PreparedCompose:
    options: dict[str, Any] = {"stack": "akira", "process_names": PROCESSES, "endpoint_mode": "dnsrr", "labels": LABELS,
               "policy": POLICY}
    options.update(overrides)
    return prepare_compose(textwrap.dedent(text), **options)


def refusal(text: str, **overrides) -> str:
    with pytest.raises(SpecError) as caught:
        prep(text, **overrides)
    message = str(caught.value)
    assert message.startswith(f"{overrides.get('source', SOURCE)}: ")
    assert "\n" not in message
    return message


def service(text: str, extra: str = "") -> str:
    """A file with one service `db` whose body is `text` (indented under it), then `extra`."""
    body = textwrap.indent(textwrap.dedent(text), "    ")
    return f"services:\n  db:\n    image: postgres:15\n{body}{textwrap.dedent(extra)}"


def db(prepared: PreparedCompose) -> dict:
    return prepared.data["services"]["db"]


def sent(prepared: PreparedCompose) -> dict:
    """What the docker CLI reads."""
    return json.loads(prepared.yaml)


def bare(**overrides) -> dict:
    """The output of `db: {image: postgres:15}` with some keys replaced."""
    out = {
        "image": "postgres:15", "environment": {}, "volumes": [], "networks": {"default": {}}, "init": True,
        "read_only": False, "labels": LABELS, "deploy": DEFAULT_DEPLOY, "cap_drop": ["ALL"], "cap_add": CAPS,
        "logging": LOGGING,
    }
    out.update(overrides)
    return out


NETWORK = {"driver": "overlay", "labels": LABELS}
EMPTY_OUTPUT = {"version": "3.9", "services": {}, "networks": {"default": NETWORK}}


# --- the whole rewrite -------------------------------------------------------------------


def test_full_rewrite():
    prepared = prep(
        """
        version: "3"
        x-env: &env
          environment:
            PGDATA: /var/lib/postgresql/data/pg
            GREETING: "$HOME and $$literal"
        services:
          db:
            <<: *env
            image: postgres:15
            ports: ["5432:5432"]
            container_name: my-db
            restart: always
            expose: ["5432"]
            labels: ["team=core", "tier"]
            networks: [back]
            volumes: ["pgdata:/var/lib/postgresql/data", {type: tmpfs, target: /dev/shm, tmpfs: {size: 64m}}]
            healthcheck: {test: [CMD, pg_isready], interval: 90s, timeout: 5s, retries: 3, start_period: 1m}
            stop_grace_period: 30s
            cap_drop: [NET_RAW]
            x-note: hello
          cache:
            image: memcached:1.6
            command: ["memcached", "-m", "64"]
            deploy:
              replicas: 2
              endpoint_mode: vip
              labels: {owner: akira}
              resources: {limits: {cpus: "0.5", memory: 128M, pids: 100}, reservations: {cpus: 0.25, memory: 64m}}
              restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
        networks:
          back:
        volumes:
          pgdata: {driver: local}
        """
    )
    env = {"PGDATA": "/var/lib/postgresql/data/pg", "GREETING": "$HOME and $$literal"}
    assert prepared.data == {
        "version": "3.9",
        "services": {
            "db": bare(
                environment=env,
                labels={"team": "core", "tier": "", **LABELS},
                networks={"back": {}, "default": {}},
                volumes=[
                    {"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data", "read_only": False,
                     "volume": {"nocopy": False}},
                    {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 64 * MIB}},
                ],
                healthcheck={"test": ["CMD", "pg_isready"], "interval": "1m30s", "timeout": "5s", "retries": 3,
                             "start_period": "1m"},
                stop_grace_period="30s",
            ),
            "cache": bare(
                image="memcached:1.6",
                command=["memcached", "-m", "64"],
                deploy={
                    "mode": "replicated", "replicas": 2, "endpoint_mode": "dnsrr",
                    "labels": {"owner": "akira", **LABELS},
                    "resources": {"limits": {"cpus": "0.5", "memory": 128 * MIB, "pids": 100},
                                  "reservations": {"cpus": "0.25", "memory": 64 * MIB}},
                    "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "2m"},
                },
            ),
        },
        "networks": {"back": NETWORK, "default": NETWORK},
        "volumes": {"pgdata": {"driver": "local", "labels": LABELS}},
    }
    assert prepared.services == ["cache", "db"]
    assert prepared.has_volumes is True
    assert prepared.warnings == [
        "service db: published ports removed",
        "service db: container_name removed",
        "service db: restart removed (swarm restarts tasks by `deploy.restart_policy`)",
        "service db: expose removed (services on the stack's network reach each other's ports anyway)",
        "service cache: deploy.endpoint_mode vip replaced by dnsrr",
    ]
    assert prepared.digest == hashlib.sha256(prepared.yaml.encode()).hexdigest()
    out = sent(prepared)
    assert out["services"]["db"]["environment"] == {"PGDATA": "/var/lib/postgresql/data/pg",
                                                    "GREETING": "$$HOME and $$$$literal"}
    assert out["services"]["cache"]["deploy"]["resources"]["limits"]["memory"] == str(128 * MIB)
    assert "x-env" not in out and "x-note" not in out["services"]["db"]


# --- empty files -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing\n", "version: '3.8'\n", "services:\n", "services: {}\n"])
def test_files_without_services_are_fine(text):
    prepared = prep(text)
    assert prepared.data == EMPTY_OUTPUT
    assert prepared.services == []
    assert prepared.has_volumes is False
    assert prepared.warnings == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("- a\n", f"{SOURCE}: the top level must be a mapping (version, services, networks, volumes)"),
        ("just text\n", f"{SOURCE}: the top level must be a mapping (version, services, networks, volumes)"),
        ("services: [db]\n", f"{SOURCE}: `services` must be a mapping of names"),
        ("networks: [a]\n", f"{SOURCE}: `networks` must be a mapping of names"),
        ("volumes: a\n", f"{SOURCE}: `volumes` must be a mapping of names"),
    ],
)
def test_sections_must_be_mappings(text, expected):
    assert refusal(text) == expected


def test_invalid_yaml_names_the_line():
    assert refusal("services:\n  db: {image: x\n").startswith(f"{SOURCE}: invalid YAML at line 3,")


def test_source_name_is_used_in_messages():
    message = refusal("services: {db: {image: x, privileged: true}}\n", source="middleware.yml")
    assert message.startswith("middleware.yml: service `db`")


# --- the document checked is the document docker reads ----------------------------------------


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        # The bypass that mounted a host path: `!!binary dHlwZQ==` is `type`, `c291cmNl` is `source`.
        (service("volumes:\n  - type: volume\n    source: data\n    target: /data\n    !!binary dHlwZQ==: bind\n"
                 "    !!binary c291cmNl: /etc\n", "volumes: {data: }\n"), 8, "the YAML tag `!!binary`"),
        (service("labels:\n  !!binary eWFkb2NrZXJpLnN0YWNr: other\n"), 5, "the YAML tag `!!binary`"),
        (service("environment: {A: !!str $HOME}\n"), 4, "the YAML tag `!!str`"),
        (service("image: !!python/object/apply:os.system [id]\n"), 4, "the YAML tag `!!python/object/apply:os.system`"),
        (service("command: !foo x\n"), 4, "the YAML tag `!foo`"),
        (service("deploy: !!map {replicas: 1}\n"), 4, "the YAML tag `!!map`"),
        # Duplicate keys: the docker CLI would read the last one, a checker maybe the first.
        (service("volumes:\n  - {type: volume, source: data, target: /d, type: bind}\n", "volumes: {data: }\n"), 5,
         "the key `type` appears twice"),
        ("services:\n  db: {image: x}\n  db: {image: y, privileged: true}\n", 3, "the key `db` appears twice"),
        (service("image: busybox\n"), 4, "the key `image` appears twice"),
        # Merged keys do not hide explicit duplicates.
        ("x-a: &a {image: x}\nservices:\n  db:\n    <<: *a\n    <<: {privileged: true}\n", 5,
         "the merge key `<<` appears twice"),
        # Anchors that refer to themselves, and alias bombs.
        ("x-loop: &a [*a]\n", 1, "the alias `*a` refers to the node that contains it"),
        ("x-deep: " + "[" * 60 + "]" * 60 + "\n", 1, "nested more than 40 levels deep"),
        (service('environment: {A: "\\0"}\n'), 4, "a NUL character is not allowed"),
        (service('environment: {A: "\\udc80"}\n'), 4, "a lone surrogate (U+DC80) is not allowed"),
        (service("deploy: {replicas: .inf}\n"), 4, "the number `.inf` is not finite"),
        (service("deploy: {replicas: 99999999999999999999}\n"), 4, "outside the 64-bit integer range"),
        ("services:\n  1: {image: x}\n", 2, "the key `1` reads as a number"),
        ("services:\n  db: {image: x, true: y}\n", 2, "the key `true` reads as a boolean"),
    ],
)
def test_yaml_that_two_parsers_could_read_differently_is_refused(text, line, fragment):
    message = refusal(text)
    assert message.startswith(f"{SOURCE}: line {line}: ")
    assert fragment in message


def test_merge_keys_are_resolved_before_checking():
    # The anchor's `type: bind` is overridden by the explicit key: what is checked is a volume.
    anchor = "x-bind: &bind {type: bind, source: /etc, target: /host}\n"
    text = anchor + service("volumes:\n  - <<: *bind\n    type: volume\n    source: data\n", "volumes: {data: }\n")
    assert db(prep(text))["volumes"] == [
        {"type": "volume", "source": "data", "target": "/host", "read_only": False, "volume": {"nocopy": False}}
    ]
    # And a bind mount brought in by a merge is checked like one written out.
    assert "of type `bind`" in refusal(anchor + service("volumes:\n  - <<: *bind\n"))


def test_alias_bomb_is_refused():
    lines = ["x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x-a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]
    assert "more than 50000 values once YAML aliases are expanded" in refusal("\n".join(lines) + "\n")


def test_oversized_file_is_refused_before_parsing():
    policy = replace(POLICY, max_bytes=2048)
    text = service("environment:\n" + "".join(f"  K{n}: value\n" for n in range(200)))
    assert refusal(text, policy=policy) == f"{SOURCE}: the file is larger than 2 KiB (YADOCKERI_MAX_SPEC_BYTES)"
    assert prep(text).services == ["db"]


def test_shared_anchors_do_not_leak_between_services():
    prepared = prep(
        """
        x-deploy: &deploy
          deploy: {replicas: 1, labels: {a: b}}
          networks: [back]
        services:
          one: {<<: *deploy, image: x}
          two: {<<: *deploy, image: y}
        networks:
          back:
        """
    )
    one, two = prepared.data["services"]["one"], prepared.data["services"]["two"]
    assert one["deploy"] == two["deploy"]
    assert one["deploy"]["labels"] == {"a": "b", **LABELS}
    assert one["deploy"] is not two["deploy"] and one["labels"] is not two["labels"]
    assert one["networks"] == {"back": {}, "default": {}}
    assert "x-deploy" not in prepared.data
    assert "&" not in prepared.yaml and "*" not in prepared.yaml  # no anchors or aliases


# --- service keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, key",
    [
        ("privileged: true\n", "privileged"),
        ("privileged: false\n", "privileged"),
        ("network_mode: host\n", "network_mode"),
        ("network_mode: 'service:other'\n", "network_mode"),
        ("pid: host\n", "pid"),
        ("ipc: host\n", "ipc"),
        ("uts: host\n", "uts"),
        ("userns_mode: host\n", "userns_mode"),
        ("cgroup_parent: /system.slice\n", "cgroup_parent"),
        ("cgroupns_mode: host\n", "cgroupns_mode"),
        ("devices: ['/dev/sda:/dev/sda']\n", "devices"),
        ("device_cgroup_rules: ['c 1:3 mr']\n", "device_cgroup_rules"),
        ("cap_add: [SYS_ADMIN]\n", "cap_add"),
        ("cap_add: []\n", "cap_add"),
        ("security_opt: ['seccomp:unconfined']\n", "security_opt"),
        ("env_file: .env\n", "env_file"),
        ("env_file: [/etc/yadockeri/secrets]\n", "env_file"),
        ("extends: {file: other.yml, service: base}\n", "extends"),
        ("build: .\n", "build"),
        ("secrets: [key]\n", "secrets"),
        ("configs: [conf]\n", "configs"),
        ("credential_spec: {file: spec.json}\n", "credential_spec"),
        ("logging: {driver: syslog, options: {syslog-address: 'tcp://127.0.0.1:22'}}\n", "logging"),
        ("logging: {driver: json-file}\n", "logging"),
        ("logging: {driver: awslogs, options: {awslogs-group: x}}\n", "logging"),
        ("logging: {driver: gelf, options: {gelf-address: 'udp://169.254.169.254:80'}}\n", "logging"),
        ("dns: [1.1.1.1]\n", "dns"),
        ("dns_search: [example.com]\n", "dns_search"),
        ("dns_opt: [ndots:1]\n", "dns_opt"),
        ("extra_hosts: ['yadockeri:10.0.0.1']\n", "extra_hosts"),
        ("shm_size: 8g\n", "shm_size"),
        ("tmpfs: [/run]\n", "tmpfs"),
        ("sysctls: {net.core.somaxconn: 1024}\n", "sysctls"),
        ("ulimits: {nproc: 65535}\n", "ulimits"),
        ("links: [other]\n", "links"),
        ("external_links: [otherstack_db]\n", "external_links"),
        ("volumes_from: [other]\n", "volumes_from"),
        ("mac_address: 02:42:ac:11:65:43\n", "mac_address"),
        ("isolation: hyperv\n", "isolation"),
        ("tty: true\n", "tty"),
        ("stdin_open: true\n", "stdin_open"),
        ("profiles: [debug]\n", "profiles"),
        ("mem_limit: 64g\n", "mem_limit"),
        ("cpus: 32\n", "cpus"),
        ("pids_limit: -1\n", "pids_limit"),
        ("oom_kill_disable: true\n", "oom_kill_disable"),
        ("oom_score_adj: -1000\n", "oom_score_adj"),
    ],
)
def test_refused_service_keys_say_why(body, key):
    message = refusal(service(body))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert f"`{key}`" in message
    assert "which yadockeri does not allow" in message or "silently ignores" in message


def test_privileged_message_reads_well():
    assert refusal(service("privileged: true\n")) == (
        f"{SOURCE}: service `db` asks for privileged mode (`privileged`), which yadockeri does not allow: "
        "a privileged container controls the host"
    )


def test_tmpfs_message_says_what_to_write_instead():
    assert "use a `volumes` entry `{type: tmpfs, target: /path, tmpfs: {size: 64m}}`" in refusal(service("tmpfs: /run\n"))


def test_logging_message_says_where_drivers_run():
    assert "log drivers run inside dockerd on the host's network" in refusal(service("logging: {driver: syslog}\n"))


@pytest.mark.parametrize("key", ["imagee", "platform", "runtime", "scale", "pull_policy", "domainname", "Image"])
def test_every_other_service_key_is_refused_by_name(key):
    message = refusal(service(f"{key}: x\n"))
    assert message.startswith(f"{SOURCE}: service `db` has key `{key}`, which yadockeri does not allow for middleware "
                              "(allowed: image, command, entrypoint,")


@pytest.mark.parametrize(
    "body, warning",
    [
        ("ports: ['5432:5432']\n", "service db: published ports removed"),
        ("ports: [{target: 80, published: 8080, mode: host}]\n", "service db: published ports removed"),
        ("container_name: postgres\n", "service db: container_name removed"),
        ("restart: unless-stopped\n", "service db: restart removed (swarm restarts tasks by `deploy.restart_policy`)"),
        ("expose: [5432]\n", "service db: expose removed (services on the stack's network reach each other's ports anyway)"),
    ],
)
def test_compose_only_keys_are_dropped_with_a_note(body, warning):
    prepared = prep(service(body))
    assert db(prepared) == bare()
    assert prepared.warnings == [warning]


def test_empty_ports_are_dropped_without_a_note():
    prepared = prep(service("ports: []\n"))
    assert db(prepared) == bare()
    assert prepared.warnings == []


@pytest.mark.parametrize(
    "body, key, value",
    [
        ("command: postgres -c fsync=off\n", "command", "postgres -c fsync=off"),
        ("command: [postgres, -c, fsync=off]\n", "command", ["postgres", "-c", "fsync=off"]),
        ("entrypoint: [docker-entrypoint.sh]\n", "entrypoint", ["docker-entrypoint.sh"]),
        ("entrypoint: []\n", "entrypoint", []),
        ("working_dir: /srv\n", "working_dir", "/srv"),
        ("user: postgres\n", "user", "postgres"),
        ("user: '999:999'\n", "user", "999:999"),
        ("user: 999\n", "user", "999"),
        ("hostname: db.local\n", "hostname", "db.local"),
        ("stop_signal: SIGINT\n", "stop_signal", "SIGINT"),
        ("stop_grace_period: 1m30s\n", "stop_grace_period", "1m30s"),
        ("stop_grace_period: 2m\n", "stop_grace_period", "2m"),
        ("stop_grace_period: 0\n", "stop_grace_period", "0s"),
        ("init: false\n", "init", False),
        ("read_only: true\n", "read_only", True),
    ],
)
def test_allowed_service_keys(body, key, value):
    assert db(prep(service(body)))[key] == value


def test_depends_on_names_services_of_the_file():
    text = "services:\n  db: {image: x}\n  app: {image: y, depends_on: [db]}\n"
    assert prep(text).data["services"]["app"]["depends_on"] == ["db"]
    assert refusal(service("depends_on: [cache]\n")) == (
        f"{SOURCE}: service `db` has `depends_on` `cache`, which is no service of this file"
    )


def test_cap_drop_is_accepted_and_superseded():
    assert db(prep(service("cap_drop: [NET_RAW, MKNOD]\n")))["cap_drop"] == ["ALL"]
    assert refusal(service("cap_drop: NET_RAW\n")) == f"{SOURCE}: service `db` has `cap_drop` that is not a list of strings"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("command: ''\n", "has `command` that is neither a string nor a list of strings"),
        ("command: [sleep, 1]\n", "has `command` that is neither a string nor a list of strings"),
        ("entrypoint: {a: b}\n", "has `entrypoint` that is neither a string nor a list of strings"),
        ("working_dir: srv\n", "has `working_dir` that is not an absolute path"),
        ("user: 'root root'\n", "has `user` that is not a user name or ID"),
        ("user: -1\n", "has `user` that is not a user name or ID"),
        ("hostname: '{{.Node.Hostname}}'\n", "has `hostname` that is not a host name"),
        ("hostname: -x\n", "has `hostname` that is not a host name"),
        ("stop_signal: 'KILL; rm'\n", "has `stop_signal` that is not a signal name"),
        ("stop_grace_period: 3m\n", "has `stop_grace_period` 3m: it must be at most 2m"),
        ("stop_grace_period: 10\n", "has `stop_grace_period` that is not a duration"),
        ("stop_grace_period: -1s\n", "has `stop_grace_period` that is not a duration"),
        ("init: 'yes'\n", "`init` must be true or false"),
        ("read_only: 1\n", "`read_only` must be true or false"),
        ("depends_on: {db2: {condition: service_healthy}}\n", "has `depends_on` that is not a list of strings"),
    ],
)
def test_malformed_allowed_keys_are_refused(body, fragment):
    message = refusal(service(body))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert fragment in message


@pytest.mark.parametrize(
    "text",
    ["services: {db: {}}\n", "services: {db: {image: ''}}\n", "services: {db: {image: 3}}\n",
     "services: {db: {environment: {A: b}}}\n"],
)
def test_service_needs_an_image(text):
    assert refusal(text) == f"{SOURCE}: service `db` needs an `image` (a string, like `postgres:15`)"


@pytest.mark.parametrize("text", ["services: {db: }\n", "services: {db: postgres}\n", "services: {db: [a]}\n"])
def test_service_must_be_a_mapping(text):
    assert refusal(text) == f"{SOURCE}: service `db` must be a mapping (with at least an `image`)"


# --- service names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Db", "my_db", "-db", "db-", "d.b", "a" * 33, "db!"])
def test_service_names_must_be_dns_labels(name):
    message = refusal(f"services:\n  '{name}': {{image: x}}\n")
    assert message.startswith(f"{SOURCE}: service `{name}` has a name that is not allowed")


@pytest.mark.parametrize("name", ["db", "1db", "a", "a" * 32, "redis-cache-2"])
def test_service_names_that_are_fine(name):
    assert prep(f"services:\n  {name}: {{image: x}}\n").services == [name]


@pytest.mark.parametrize("process", ["web", "worker"])
def test_service_named_like_a_process_is_refused(process):
    assert refusal(f"services:\n  {process}: {{image: x}}\n") == (
        f"{SOURCE}: service `{process}` has the same name as the app's process `{process}`; rename one"
    )


def test_full_docker_name_must_fit():
    stack = "s" * 40
    name = "a" * 23  # 40 + 1 + 23 = 64 > 63
    message = refusal(f"services:\n  {name}: {{image: x}}\n", stack=stack)
    assert message.startswith(f"{SOURCE}: service `{name}` makes the Docker service name")
    assert prep(f"services:\n  {name[:-1]}: {{image: x}}\n", stack=stack).services == [name[:-1]]


def test_processes_and_middleware_together_are_bounded():
    services = "".join(f"  s{n}: {{image: x}}\n" for n in range(15))
    assert refusal("services:\n" + services) == (
        f"{SOURCE}: the stack would run 2 processes and 15 middleware services: at most 16 in all "
        "(YADOCKERI_MAX_PROCESSES)"
    )
    assert len(prep("services:\n" + services, process_names={"web"}).services) == 15


# --- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, reason",
    [
        # Images yadockeri builds, however they are spelled.
        ("yadockeri/app:abc123", "names an image yadockeri builds"),
        ("yadockeri/app", "names an image yadockeri builds"),
        ("yadockeri/yadockeri:latest", "names an image yadockeri builds"),
        ("yadockeri/router", "names an image yadockeri builds"),
        ("docker.io/yadockeri/app:abc", "names an image yadockeri builds"),
        ("index.docker.io/yadockeri/app:abc", "names an image yadockeri builds"),
        ("Docker.IO/yadockeri/app", "names an image yadockeri builds"),
        ("other.example.com:5000/yadockeri/app:abc", "names an image yadockeri builds"),
        ("localhost/yadockeri/app", "names an image yadockeri builds"),
        ("10.0.0.5:5000/yadockeri", "names an image yadockeri builds"),
        # Anything on yadockeri's registry.
        ("registry.example.com:5000/yadockeri/app:abc", "names an image yadockeri builds"),
        ("registry.example.com:5000/library/postgres:15", "comes from yadockeri's registry"),
        ("registry.example.com/postgres", "comes from yadockeri's registry"),
        ("REGISTRY.example.com:443/postgres", "comes from yadockeri's registry"),
        # By digest.
        (f"postgres@{OWN_DIGEST}", "is an image yadockeri built (by its digest)"),
        (f"docker.io/library/redis:7@{OWN_DIGEST}", "is an image yadockeri built (by its digest)"),
        (f"postgres@{OWN_DIGEST.upper().replace('SHA256', 'sha256')}", "is an image yadockeri built (by its digest)"),
        # Image IDs, whole or in part: dockerd runs them from its store without a pull.
        (OWN_DIGEST, "is an image ID"),
        ("sha256:" + "cd" * 32, "is an image ID"),
        ("sha256:abc1", "is an image ID"),
        ("SHA256:ABC", "is an image ID"),
        ("sha512:" + "0" * 128, "is an image ID"),
        ("abc123", "could read as a truncated image ID"),
        ("cafe", "could read as a truncated image ID"),
        ("0", "could read as a truncated image ID"),
        ("ab" * 32, "could read as a truncated image ID"),
        ("AB12", "could read as a truncated image ID"),
    ],
)
def test_images_yadockeri_built_are_refused_however_spelled(image, reason):
    message = refusal(service(f"image: '{image}'\n").replace("    image: postgres:15\n", "", 1))
    assert message.startswith(f"{SOURCE}: service `db` has image `{echo(image)}`, which ")
    assert reason in message


def test_a_registry_login_goes_only_with_yadockeris_images():
    text = "services:\n  db: {image: 'registry.example.com:5000/team/postgres:15'}\n"
    assert "comes from yadockeri's registry" in refusal(text)
    assert prep(text, policy=replace(POLICY, registry=None)).services == ["db"]


@pytest.mark.parametrize(
    "image",
    ["postgres:15", "postgres", "library/postgres", "docker.io/library/postgres:15", "bitnami/redis:7.0",
     "ghcr.io/org/image:v1", "quay.io/org/sub/image@sha256:" + "12" * 32, "localhost:5001/team/x",
     "cafe:latest", "abc123:1", "my-yadockeri/app", "team/yadockeri", "yadockeri-tools/x",
     "mcr.microsoft.com/mssql/server:2022-latest"],
)
def test_other_images_are_fine(image):
    assert db(prep(f"services:\n  db: {{image: '{image}'}}\n", policy=replace(POLICY, registry="registry.example.com")))[
        "image"] == image


@pytest.mark.parametrize(
    "image",
    ["Postgres", "postgres:", "postgres::15", "post gres", "postgres\t", "a/b/:c", "pg@sha256:12", "$IMAGE",
     "${IMAGE:-x}", "postgres:" + "a" * 129, "-postgres", "x" * 256, "postgres\\x1b", "pöstgres",
     "registry.example.com.:5000/postgres"],
)
def test_images_must_be_references(image):
    message = refusal(service(f'image: "{image}"\n').replace("    image: postgres:15\n", "", 1))
    assert "is not a Docker image reference" in message


@pytest.mark.parametrize(
    "text, domain, path, tag, digest",
    [
        ("postgres", "docker.io", "library/postgres", None, None),
        ("postgres:15", "docker.io", "library/postgres", "15", None),
        ("team/x", "docker.io", "team/x", None, None),
        ("index.docker.io/x", "docker.io", "library/x", None, None),
        ("localhost/x", "localhost", "x", None, None),
        ("Host.Example:5000/a/b:t", "host.example:5000", "a/b", "t", None),
        ("x@sha256:" + "A" * 64, "docker.io", "library/x", None, "sha256:" + "a" * 64),
    ],
)
def test_image_references_are_normalised_as_docker_does(text, domain, path, tag, digest):
    reference = parse_image_reference(text)
    assert reference is not None
    assert (reference.domain, reference.path, reference.tag, reference.digest) == (domain, path, tag, digest)


# --- environment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("environment: {A: b, N: 1, F: 1.5, S: 'x y'}\n", {"A": "b", "N": "1", "F": "1.5", "S": "x y"}),
        ("environment: [A=b, 'C=d=e', 'S=x y']\n", {"A": "b", "C": "d=e", "S": "x y"}),
        ("environment: []\n", {}),
        ("environment:\n", {}),
        ("environment: {A$B: c}\n", {"A$B": "c"}),
    ],
)
def test_environment_is_a_mapping_of_strings(written, expected):
    assert db(prep(service(written)))["environment"] == expected


@pytest.mark.parametrize(
    "written, fragment",
    [
        # The docker CLI fills an entry without a value from its own environment: yadockeri's secrets.
        ("environment: [YADOCKERI_SECRET_KEY]\n", "environment `YADOCKERI_SECRET_KEY` has no value or an empty one"),
        ("environment: {SLACK_BOT_TOKEN: }\n", "environment `SLACK_BOT_TOKEN` has no value or an empty one"),
        ("environment: {A: ''}\n", "environment `A` has no value or an empty one"),
        ("environment: ['A=']\n", "environment `A` has no value or an empty one"),
        ("environment: {A: true}\n", "environment `A` is a boolean"),
        ("environment: {A: no}\n", "environment `A` is a boolean"),
        ("environment: {A: [1]}\n", "environment `A` must be a string or a number"),
        ("environment: {A: {b: c}}\n", "environment `A` must be a string or a number"),
        ("environment: ['=x']\n", "has environment key ``, which is not allowed"),
        ("environment: {'A B': x}\n", "has environment key `A B`, which is not allowed"),
        ("environment: {'A=B': x}\n", "has environment key `A=B`, which is not allowed"),
        ('environment: {"A\\tB": x}\n', "has environment key `A"),
        ('environment: {"A\\nB": x}\n', "has environment key `A"),
        ("environment: [A=1, A=2]\n", "sets environment `A` twice"),
        ("environment: [1]\n", "has an `environment` entry that is not a `KEY=VALUE` string"),
        ("environment: A=b\n", "has `environment` that is neither a mapping nor a list"),
    ],
)
def test_environment_refusals(written, fragment):
    message = refusal(service(written))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert fragment in message


def test_boolean_refusal_says_to_quote_it():
    assert refusal(service("environment: {DEBUG: true}\n")).endswith('quote it: `DEBUG: "true"`')


# --- `$` interpolation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, escaped",
    [
        ("plain", "plain"),
        ("$HOME", "$$HOME"),
        ("${YADOCKERI_SECRET_KEY}", "$${YADOCKERI_SECRET_KEY}"),
        ("${X:-default}", "$${X:-default}"),
        ("$$literal", "$$$$literal"),
        ("a$b$$c$", "a$$b$$$$c$$"),
    ],
)
def test_dollars_are_escaped_in_every_string_value_sent(written, escaped):
    prepared = prep(
        service(
            f"""
            command: ["sh", "-c", '{written}']
            entrypoint: '{written}'
            environment: {{VALUE: '{written}'}}
            labels: {{note: '{written}'}}
            healthcheck: {{test: ['CMD', '{written}']}}
            working_dir: '/{written}'
            deploy: {{labels: ['k={written}']}}
            """
        )
    )
    out = sent(prepared)["services"]["db"]
    assert out["command"] == ["sh", "-c", escaped]
    assert out["entrypoint"] == escaped
    assert out["environment"] == {"VALUE": escaped}
    assert out["labels"]["note"] == escaped
    assert out["deploy"]["labels"]["k"] == escaped
    assert out["healthcheck"]["test"] == ["CMD", escaped]
    assert out["working_dir"] == f"/{escaped}"
    # The data is what the container gets: unescaped.
    assert db(prepared)["environment"] == {"VALUE": written}


def test_dollars_in_keys_are_left_alone():
    # The docker CLI interpolates values only; an escaped key would change its name.
    assert sent(prep(service("environment: {A$B: c}\n")))["services"]["db"]["environment"] == {"A$B": "c"}


# --- volumes of a service ------------------------------------------------------------------


PGDATA = {"type": "volume", "source": "pgdata", "target": "/data", "read_only": False, "volume": {"nocopy": False}}


@pytest.mark.parametrize(
    "mounts, expected",
    [
        ('["pgdata:/data"]', [PGDATA]),
        ('["pgdata:/data:ro"]', [{**PGDATA, "read_only": True}]),
        ('["pgdata:/data:rw"]', [PGDATA]),
        ("[{type: volume, source: pgdata, target: /data}]", [PGDATA]),
        ("[{type: volume, source: pgdata, target: /data, read_only: true, volume: {nocopy: true}}]",
         [{**PGDATA, "read_only": True, "volume": {"nocopy": True}}]),
        ("[{type: tmpfs, target: /tmp}]", [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 256 * MIB}}]),
        ("[{type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]", [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": MIB}}]),
        ("[{type: tmpfs, target: /tmp, tmpfs: {size: 1048576}}]", [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": MIB}}]),
        ("[{type: tmpfs, target: /tmp, tmpfs: {size: 256m}}]",
         [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 256 * MIB}}]),
        ("[]", []),
    ],
)
def test_named_volumes_and_tmpfs_are_normalised_to_long_syntax(mounts, expected):
    prepared = prep(service(f"volumes: {mounts}\n", "volumes:\n  pgdata:\n"))
    assert db(prepared)["volumes"] == expected
    assert prepared.has_volumes is True  # pgdata is declared


def test_has_volumes_only_with_named_volumes():
    assert prep(service("volumes: [{type: tmpfs, target: /tmp}]\n")).has_volumes is False


@pytest.mark.parametrize(
    "mount, source",
    [
        ("/var/run/docker.sock:/var/run/docker.sock", "/var/run/docker.sock"),
        ("/:/host", "/"),
        ("/etc:/etc:ro", "/etc"),
        ("./data:/data", "./data"),
        (".:/app", "."),
        ("../x:/x", "../x"),
        ("~/.ssh:/root/.ssh", "~/.ssh"),
        ("~:/home", "~"),
        ("data/sub:/data", "data/sub"),
        ("C:/x:/data", "C:/x"),
        ("c:\\\\x:/data", "c:\\x"),
        ("$HOME:/home", "$HOME"),
        (":/data", ""),
    ],
)
def test_host_bind_mounts_short_syntax_are_refused(mount, source):
    message = refusal(service(f'volumes: ["{mount}"]\n'))
    assert message.startswith(f"{SOURCE}: service `db` bind-mounts the host path `{source}` (`volumes`)")
    assert "yadockeri does not allow" in message


@pytest.mark.parametrize(
    "mount",
    [
        "{type: bind, source: /etc, target: /etc}",
        "{type: bind, source: ./data, target: /data}",
        "{type: npipe, source: '\\\\.\\pipe\\docker_engine', target: /pipe}",
        "{source: data, target: /data}",
        "{type: cluster, source: data, target: /data}",
        "{type: Volume, source: data, target: /data}",
    ],
)
def test_host_mounts_long_syntax_are_refused(mount):
    message = refusal(service(f"volumes:\n  - {mount}\n", "volumes: {data: }\n"))
    assert message.startswith(f"{SOURCE}: service `db` has a `volumes` entry of type")
    assert "only `volume` and `tmpfs`" in message


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("volumes: [/data]\n", "has an anonymous volume `/data` (`volumes`), which yadockeri does not allow"),
        ("volumes: [{type: volume, target: /data}]\n", "has a `volumes` entry without a `source`: an anonymous volume"),
        ("volumes: ['other:/data']\n", "mounts volume `other`, which the top-level `volumes` does not declare"),
        ("volumes: [{type: volume, source: /etc, target: /etc}]\n", "mounts the host path `/etc`"),
        ("volumes: [{type: volume, source: pgdata, target: /d, volume: {nocopy: true, subpath: x}}]\n",
         "with `volume` options other than `nocopy`"),
        ("volumes: [{type: volume, source: pgdata, target: /d, bind: {propagation: shared}}]\n",
         "has `volumes.bind`, which yadockeri does not allow"),
        ("volumes: [{type: volume, source: pgdata, target: /d, consistency: cached}]\n",
         "has `volumes.consistency`, which yadockeri does not allow"),
        ("volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1g}}]\n",
         "tmpfs `volumes` entry size must be at most 256m (YADOCKERI_MAX_TMPFS)"),
        ("volumes: [{type: tmpfs, target: /t, tmpfs: {size: lots}}]\n", "size `lots` is not understood"),
        ("volumes: [{type: tmpfs, target: /t, tmpfs: {size: 0}}]\n", "must be more than zero"),
        ("volumes: [{type: tmpfs, target: /t, tmpfs: {mode: 1777}}]\n", "with `tmpfs` options other than `size`"),
        ("volumes: [{type: tmpfs, source: x, target: /t}]\n", "has `volumes.source`, which yadockeri does not allow"),
        ("volumes: ['pgdata:data']\n", "target is not an absolute path"),
        ("volumes: ['pgdata:/']\n", "target is not an absolute path"),
        ("volumes: ['pgdata:/d:z']\n", "that is not `name:/path`, `name:/path:ro` or `name:/path:rw`"),
        ("volumes: ['pgdata:/d:ro:x']\n", "that is not `name:/path`"),
        ("volumes: ['pgdata:/d', 'pgdata:/d']\n", "mounts two `volumes` at `/d`"),
        ("volumes: data:/data\n", "has `volumes` that is not a list"),
        ("volumes: [3]\n", "has a `volumes` entry that is neither a string nor a mapping"),
    ],
)
def test_mount_refusals(body, fragment):
    message = refusal(service(body, "volumes:\n  pgdata:\n"))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert fragment in message


@pytest.mark.parametrize(
    "spec, source",
    [
        ("/data", None), ("ab", None), ("data:/data", "data"), ("data:/data:ro", "data"), ("/a:/b", "/a"),
        ("C:/x:/d", "C:/x"), ("c:data", None), (":/data", ""),
    ],
)
def test_short_mount_source_splits_like_the_docker_cli(spec, source):
    assert short_mount_source(spec) == source


def test_counts_of_networks_volumes_and_mounts_are_bounded():
    networks = "networks:\n" + "".join(f"  n{n}:\n" for n in range(9)) + "  default:\n"
    assert refusal(networks) == f"{SOURCE}: the top-level `networks` declares 9: at most 8 are allowed"
    volumes = "volumes:\n" + "".join(f"  v{n}:\n" for n in range(17))
    assert refusal(volumes) == f"{SOURCE}: the top-level `volumes` declares 17: at most 16 are allowed"
    mounts = "".join(f"  - {{type: tmpfs, target: /t{n}}}\n" for n in range(17))
    assert refusal(service("volumes:\n" + mounts)) == (
        f"{SOURCE}: service `db` has 17 `volumes` entries: at most 16 are allowed")
    assert len(prep(networks.replace("  n8:\n", "")).data["networks"]) == 9


# --- top-level volumes and networks ---------------------------------------------------------------


@pytest.mark.parametrize(
    "volume, fragment",
    [
        ("{external: true}", "volume `data` is `external`"),
        ("{external: false}", "volume `data` is `external`"),
        ("{external: {name: otherstack_pgdata}}", "volume `data` is `external`"),
        ("{name: otherstack_pgdata}", "volume `data` sets `name`"),
        ("{name: akira_data}", "volume `data` sets `name`"),
        ("{driver: nfs}", "volume `data` asks for driver `nfs`"),
        ("{driver: local, driver_opts: {type: none, o: bind, device: /etc}}", "volume `data` sets `driver_opts`"),
        ("{driver_opts: {type: tmpfs}}", "volume `data` sets `driver_opts`"),
        ("{bogus: 1}", "volume `data` has key `bogus`, which yadockeri does not allow (allowed: driver, labels)"),
        ("[a]", "volume `data` must be a mapping"),
        ("{labels: 3}", "volume `data` has `labels` that is neither a mapping nor a list"),
    ],
)
def test_refused_top_level_volumes(volume, fragment):
    assert refusal(f"volumes:\n  data: {volume}\n").startswith(f"{SOURCE}: {fragment}")


@pytest.mark.parametrize("name", ["a/b", "-x", "x" * 64, "a b"])
def test_volume_and_network_names_are_checked(name):
    assert "has a name that is not allowed" in refusal(f"volumes:\n  '{name}':\n")
    assert "has a name that is not allowed" in refusal(f"networks:\n  '{name}':\n")


@pytest.mark.parametrize(
    "network, fragment",
    [
        ("{external: true}", "network `back` is `external`"),
        ("{external: {name: router}}", "network `back` is `external`"),
        ("{name: router}", "network `back` sets `name`"),
        ("{name: ingress}", "network `back` sets `name`"),
        ("{driver: host}", "network `back` asks for driver `host`"),
        ("{driver: bridge}", "network `back` asks for driver `bridge`"),
        ("{driver_opts: {com.docker.network.driver.overlay.vxlanid_list: '4097'}}", "network `back` sets `driver_opts`"),
        ("{ipam: {config: [{subnet: 10.0.0.0/8}]}}", "network `back` sets `ipam`"),
        ("{attachable: true}", "network `back` sets `attachable`"),
        ("{enable_ipv6: true}", "network `back` has key `enable_ipv6`, which yadockeri does not allow"),
        ("[a]", "network `back` must be a mapping"),
        ("{internal: 1}", "network `back` `internal` must be true or false"),
    ],
)
def test_refused_top_level_networks(network, fragment):
    assert refusal(f"networks:\n  back: {network}\n").startswith(f"{SOURCE}: {fragment}")


@pytest.mark.parametrize("network", ["", "{}", "{external: true}", "{driver: overlay}"])
def test_network_named_router_is_refused(network):
    assert refusal(f"networks:\n  router: {network}\n").startswith(f"{SOURCE}: network `router` is not allowed")


def test_default_network_pointing_at_router_is_refused():
    assert "is `external`" in refusal("networks:\n  default: {external: {name: router}}\n")


@pytest.mark.parametrize(
    "network, expected",
    [
        ("{driver: overlay}", NETWORK),
        ("{driver_opts: {encrypted: ''}}", {**NETWORK, "driver_opts": {"encrypted": ""}}),
        ("{driver_opts: {encrypted: 'true'}, internal: true}", {**NETWORK, "driver_opts": {"encrypted": ""}, "internal": True}),
        ("{labels: [team=core], x-note: a}", {"driver": "overlay", "labels": {"team": "core", **LABELS}}),
    ],
)
def test_allowed_network_options(network, expected):
    assert prep(f"networks:\n  back: {network}\n").data["networks"]["back"] == expected


@pytest.mark.parametrize("networks", ["[router]", "{router: }", "{router: {aliases: [x]}}", "[default, router]"])
def test_service_joining_router_is_refused(networks):
    assert refusal(service(f"networks: {networks}\n")).startswith(
        f"{SOURCE}: service `db` asks to join network `router` (`networks`)"
    )


@pytest.mark.parametrize(
    "written, expected",
    [
        ("", {"default": {}}),
        ("networks: [back]\n", {"back": {}, "default": {}}),
        ("networks: [default, back]\n", {"default": {}, "back": {}}),
        ("networks: {back: }\n", {"back": {}, "default": {}}),
        ("networks: {back: {aliases: [pg]}}\n", {"back": {"aliases": ["pg"]}, "default": {}}),
        ("networks: {default: {aliases: [pg, postgres]}}\n", {"default": {"aliases": ["pg", "postgres"]}}),
    ],
)
def test_services_join_the_default_network(written, expected):
    assert db(prep(service(written, "networks:\n  back:\n")))["networks"] == expected


@pytest.mark.parametrize(
    "networks, message",
    [
        ("default", "has `networks` that is neither a list nor a mapping"),
        ("[1]", "has `networks` entries that are not names"),
        ("[front]", "joins network `front`, which the top-level `networks` does not declare"),
        ("{default: {aliases: [web]}}", "has network alias `web`, the name of the app's process; rename it"),
        ("{default: {aliases: ['a b']}}", "has network alias `a b`, which is not a host name"),
        ("{default: {ipv4_address: 10.0.0.9}}", "has `networks.ipv4_address`, which yadockeri does not allow"),
        ("{default: [x]}", "has `networks` options that are not a mapping"),
    ],
)
def test_malformed_service_networks_are_refused(networks, message):
    assert refusal(service(f"networks: {networks}\n")).startswith(f"{SOURCE}: service `db` {message}")


# --- deploy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("deploy: {mode: global}\n", "sets `deploy.mode: global`, which yadockeri does not allow"),
        ("deploy: {mode: replicated-job}\n", "sets `deploy.mode` `replicated-job`; only `replicated` is allowed"),
        ("deploy: {replicas: 10000}\n", "deploy.replicas must be a whole number from 0 to 4 (YADOCKERI_MAX_REPLICAS)"),
        ("deploy: {replicas: 5}\n", "deploy.replicas must be a whole number from 0 to 4"),
        ("deploy: {replicas: -1}\n", "deploy.replicas must be a whole number from 0 to 4"),
        ("deploy: {replicas: '2'}\n", "deploy.replicas must be a whole number from 0 to 4"),
        ("deploy: {placement: {constraints: [node.role == manager]}}\n",
         "sets `deploy.placement`, which yadockeri does not allow: the only placement is the constraint yadockeri adds"),
        ("deploy: {placement: {max_replicas_per_node: 1}}\n", "sets `deploy.placement`"),
        ("deploy: {update_config: {parallelism: 2}}\n", "sets `deploy.update_config`"),
        ("deploy: {rollback_config: {parallelism: 2}}\n", "sets `deploy.rollback_config`"),
        ("deploy: {max_replicas_per_node: 1}\n", "sets `deploy.max_replicas_per_node`"),
        ("deploy: {bogus: 1}\n", "has `deploy.bogus`, which yadockeri does not allow (allowed in `deploy`: mode,"),
        ("deploy: []\n", "has `deploy` that is not a mapping"),
        ("deploy: {resources: {limits: {cpus: 8}}}\n",
         "deploy.resources.limits.cpus is 8: it must be between 0.01 and 4 (YADOCKERI_MAX_CPUS)"),
        ("deploy: {resources: {limits: {cpus: '0.0000000001'}}}\n",
         "deploy.resources.limits.cpus is 1e-10: it must be between 0.01 and 4"),
        ("deploy: {resources: {limits: {cpus: 0}}}\n", "deploy.resources.limits.cpus is 0: it must be between 0.01"),
        ("deploy: {resources: {limits: {cpus: '1e400'}}}\n", "has `deploy.resources.limits.cpus` that is not a number of CPUs"),
        ("deploy: {resources: {limits: {cpus: lots}}}\n", "has `deploy.resources.limits.cpus` that is not a number of CPUs"),
        ("deploy: {resources: {limits: {cpus: true}}}\n", "has `deploy.resources.limits.cpus` that is not a number of CPUs"),
        ("deploy: {resources: {limits: {memory: 64g}}}\n",
         "deploy.resources.limits.memory is 64g: it must be between 6m and 4g (YADOCKERI_MAX_MEMORY)"),
        ("deploy: {resources: {limits: {memory: 1k}}}\n", "deploy.resources.limits.memory is 1k: it must be between 6m"),
        ("deploy: {resources: {limits: {memory: lots}}}\n", "deploy.resources.limits.memory: size `lots` is not understood"),
        ("deploy: {resources: {limits: {memory: 1.5}}}\n", "deploy.resources.limits.memory: size 1.5 is not understood"),
        ("deploy: {resources: {limits: {pids: 100000}}}\n",
         "deploy.resources.limits.pids must be a whole number from 1 to 4096 (YADOCKERI_MAX_PIDS)"),
        ("deploy: {resources: {limits: {pids: -1}}}\n", "deploy.resources.limits.pids must be a whole number from 1"),
        ("deploy: {resources: {limits: {pids: 0}}}\n", "deploy.resources.limits.pids must be a whole number from 1"),
        ("deploy: {resources: {reservations: {cpus: 2}}}\n",
         "has `deploy.resources.reservations.cpus` 2: it must be between 0.01 and the limit, 1"),
        ("deploy: {resources: {reservations: {memory: 1g}}}\n",
         "has `deploy.resources.reservations.memory` 1g: it must be at most the limit, 512m"),
        ("deploy: {resources: {reservations: {pids: 1}}}\n", "has `deploy.resources.reservations.pids`"),
        ("deploy: {resources: {reservations: {generic_resources: []}}}\n",
         "sets `deploy.resources.reservations.generic_resources`"),
        ("deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}\n",
         "sets `deploy.resources.reservations.devices`"),
        ("deploy: {resources: {limits: 1}}\n", "has `deploy.resources.limits` that is not a mapping"),
        ("deploy: {resources: {requests: {}}}\n", "has `deploy.resources.requests`"),
        ("deploy: {restart_policy: {condition: always}}\n",
         "has `deploy.restart_policy.condition` that is not one of none, on-failure, any"),
        ("deploy: {restart_policy: {delay: 61s}}\n", "has `deploy.restart_policy.delay` 61s: it must be at most 60s"),
        ("deploy: {restart_policy: {delay: 5}}\n", "has `deploy.restart_policy.delay` that is not a duration"),
        ("deploy: {restart_policy: {max_attempts: 101}}\n",
         "has `deploy.restart_policy.max_attempts` that must be a whole number from 0 to 100"),
        ("deploy: {restart_policy: {window: 11m}}\n", "has `deploy.restart_policy.window` 11m: it must be at most 10m"),
        ("deploy: {restart_policy: {bogus: 1}}\n", "has `deploy.restart_policy.bogus`"),
        ("deploy: {labels: [1]}\n", "has `deploy.labels` that is neither a mapping nor a list"),
    ],
)
def test_deploy_refusals(body, fragment):
    message = refusal(service(body))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert fragment in message


@pytest.mark.parametrize(
    "limits, expected",
    [
        ("{}", {"cpus": "1", "memory": 512 * MIB, "pids": 1024}),
        ("{cpus: 0.5}", {"cpus": "0.5", "memory": 512 * MIB, "pids": 1024}),
        ("{cpus: '0.25'}", {"cpus": "0.25", "memory": 512 * MIB, "pids": 1024}),
        ("{cpus: 4}", {"cpus": "4", "memory": 512 * MIB, "pids": 1024}),
        ("{cpus: 0.01}", {"cpus": "0.01", "memory": 512 * MIB, "pids": 1024}),
        ("{cpus: 0.333333333333}", {"cpus": "0.333333333", "memory": 512 * MIB, "pids": 1024}),
        ("{memory: 256M}", {"cpus": "1", "memory": 256 * MIB, "pids": 1024}),
        ("{memory: 1.5g}", {"cpus": "1", "memory": 1536 * MIB, "pids": 1024}),
        ("{memory: 268435456}", {"cpus": "1", "memory": 256 * MIB, "pids": 1024}),
        ("{memory: '4g'}", {"cpus": "1", "memory": 4096 * MIB, "pids": 1024}),
        ("{pids: 64}", {"cpus": "1", "memory": 512 * MIB, "pids": 64}),
    ],
)
def test_every_service_gets_cpu_memory_and_pids_limits(limits, expected):
    prepared = prep(service(f"deploy: {{resources: {{limits: {limits}}}}}\n"))
    assert db(prepared)["deploy"]["resources"] == {"limits": expected}
    assert sent(prepared)["services"]["db"]["deploy"]["resources"]["limits"]["memory"] == str(expected["memory"])


def test_a_service_without_deploy_gets_the_defaults():
    assert db(prep(service(""))) == bare()


@pytest.mark.parametrize("replicas", [0, 1, 4])
def test_replicas_within_the_maximum(replicas):
    assert db(prep(service(f"deploy: {{replicas: {replicas}}}\n")))["deploy"]["replicas"] == replicas


def test_restart_policy_within_bounds():
    written = "deploy: {restart_policy: {condition: any, delay: 60s, max_attempts: 0, window: 10m}}\n"
    assert db(prep(service(written)))["deploy"]["restart_policy"] == {
        "condition": "any", "delay": "1m", "max_attempts": 0, "window": "10m"}


@pytest.mark.parametrize("endpoint_mode", ["dnsrr", "vip"])
def test_endpoint_mode_is_set(endpoint_mode):
    prepared = prep(service("deploy: {replicas: 2}\n"), endpoint_mode=endpoint_mode)
    assert db(prepared)["deploy"]["endpoint_mode"] == endpoint_mode
    assert prepared.warnings == []


def test_endpoint_mode_of_the_file_is_replaced_with_a_warning():
    prepared = prep(service("deploy: {endpoint_mode: vip}\n"))
    assert db(prepared)["deploy"]["endpoint_mode"] == "dnsrr"
    assert prepared.warnings == ["service db: deploy.endpoint_mode vip replaced by dnsrr"]


def test_endpoint_mode_must_be_known():
    with pytest.raises(ValueError):
        prep("", endpoint_mode="host")


# --- healthcheck ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("{test: pg_isready}", {"test": "pg_isready"}),
        ("{test: [CMD-SHELL, pg_isready -U x]}", {"test": ["CMD-SHELL", "pg_isready -U x"]}),
        ("{test: [NONE]}", {"test": ["NONE"]}),
        ("{disable: true}", {"disable": True}),
        ("{test: [CMD, x], interval: 1s, timeout: 5m, retries: 100, start_period: 10m}",
         {"test": ["CMD", "x"], "interval": "1s", "timeout": "5m", "retries": 100, "start_period": "10m"}),
        ("{interval: 500000us, timeout: 1.5s, start_period: 0s}",
         None),  # 500000us is 0.5s: under the minimum
        ("{interval: 90s, start_period: 1h0m0s}", None),
        ("{interval: 1m30s, timeout: 2500ms, start_period: 0}",
         {"interval": "1m30s", "timeout": "2500ms", "start_period": "0s"}),
    ],
)
def test_healthchecks(written, expected):
    if expected is None:
        assert "healthcheck." in refusal(service(f"healthcheck: {written}\n"))
    else:
        assert db(prep(service(f"healthcheck: {written}\n")))["healthcheck"] == expected


@pytest.mark.parametrize(
    "written, fragment",
    [
        ("{test: [CMD]}", "has `healthcheck.test` that is neither a command string nor a list"),
        ("{test: [RUN, x]}", "has `healthcheck.test` that is neither"),
        ("{test: [NONE, x]}", "has `healthcheck.test` that is neither"),
        ("{test: ''}", "has `healthcheck.test` that is neither"),
        ("{test: [CMD, 1]}", "has `healthcheck.test` that is neither"),
        ("{interval: 0s}", "has `healthcheck.interval` 0s: it must be from 1s to 5m"),
        ("{interval: 6m}", "has `healthcheck.interval` 6m: it must be from 1s to 5m"),
        ("{timeout: 1h}", "has `healthcheck.timeout` 1h: it must be from 1s to 5m"),
        ("{start_period: 11m}", "has `healthcheck.start_period` 11m: it must be at most 10m"),
        ("{interval: 10}", "has `healthcheck.interval` that is not a duration"),
        ("{interval: ten}", "has `healthcheck.interval` that is not a duration"),
        ("{retries: 0}", "has `healthcheck.retries` that must be a whole number from 1 to 100"),
        ("{retries: 1000}", "has `healthcheck.retries` that must be a whole number from 1 to 100"),
        ("{retries: 1.5}", "has `healthcheck.retries` that must be a whole number from 1 to 100"),
        ("{disable: true, test: [CMD, x]}", "has `healthcheck` with both `test` and `disable: true`; keep one"),
        ("{disable: 1}", "`healthcheck.disable` must be true or false"),
        ("{bogus: 1}", "has `healthcheck.bogus`, which yadockeri does not allow"),
        ("[CMD, x]", "has `healthcheck` that is not a mapping"),
    ],
)
def test_healthcheck_refusals(written, fragment):
    message = refusal(service(f"healthcheck: {written}\n"))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert fragment in message


@pytest.mark.parametrize(
    "text, nanoseconds",
    [
        ("0", 0), ("0s", 0), ("10s", 10 * 10**9), ("1m30s", 90 * 10**9), ("500ms", 5 * 10**8), ("1.5h", 5400 * 10**9),
        ("1h2m3s4ms5us6ns", 3723004005006), ("2µs", 2000), (".5s", 5 * 10**8), ("1.s", 10**9),
        ("-1s", None), ("1", None), ("1d", None), ("", None), ("s", None), ("1 s", None), (10, None), ("9" * 40 + "s", None),
    ],
)
def test_durations_read_as_go_reads_them(text, nanoseconds):
    assert parse_duration(text) == nanoseconds
    if nanoseconds is not None:
        assert parse_duration(format_duration(nanoseconds)) == nanoseconds


@pytest.mark.parametrize(
    "nanoseconds, text", [(0, "0s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h"), (5 * 10**8, "500ms"), (1500, "1500ns")]
)
def test_durations_are_written_shortest(nanoseconds, text):
    assert format_duration(nanoseconds) == text


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("", {}),
        ("labels: {team: core}\n", {"team": "core"}),
        ('labels: ["team=core", "a=b=c", "flag"]\n', {"team": "core", "a": "b=c", "flag": ""}),
        ("labels: {n: 1, b: true, z: }\n", {"n": "1", "b": "true", "z": ""}),
        ("labels: []\n", {}),
        ("labels: {yadockeri.stack: other}\n", {}),  # ours win
    ],
)
def test_container_labels_are_a_mapping_with_ours(written, expected):
    assert db(prep(service(written)))["labels"] == {**expected, **LABELS}


@pytest.mark.parametrize(
    "written, what",
    [
        ("labels: {yadockeri.process: web}\n", "service db: label yadockeri.process"),
        ('deploy: {labels: ["yadockeri.router=yes"]}\n', "service db: deploy label yadockeri.router"),
        ("labels: {com.docker.stack.image: x}\n", "service db: label com.docker.stack.image"),
        ("labels: {com.docker.swarm.service.name: other_web}\n", "service db: label com.docker.swarm.service.name"),
        ("deploy: {labels: {yadockeri.stack: other, yadockeri.role: process}}\n",
         "service db: deploy label yadockeri.role"),
    ],
)
def test_reserved_labels_of_the_file_are_removed_with_a_note(written, what):
    prepared = prep(service(written))
    assert db(prepared)["labels"] == LABELS
    assert db(prepared)["deploy"]["labels"] == LABELS
    assert prepared.warnings == [f"{what} removed (reserved for yadockeri)"]


def test_reserved_labels_of_networks_and_volumes_are_removed():
    prepared = prep("networks:\n  back: {labels: {yadockeri.app: x}}\nvolumes:\n  data: {labels: [com.docker.x=y]}\n")
    assert prepared.data["networks"]["back"]["labels"] == LABELS
    assert prepared.data["volumes"]["data"]["labels"] == LABELS
    assert prepared.warnings == ["network back: label yadockeri.app removed (reserved for yadockeri)",
                                 "volume data: label com.docker.x removed (reserved for yadockeri)"]


@pytest.mark.parametrize(
    "body",
    ["labels: x\n", "labels: [1]\n", "labels: {a: [b]}\n", "labels: ['=x']\n", "labels: [a=1, a=2]\n",
     "deploy: {labels: 3}\n"],
)
def test_malformed_labels_are_refused(body):
    assert refusal(service(body)).startswith(f"{SOURCE}: service `db` has `")


def test_labels_argument_is_not_shared_or_modified():
    labels = dict(LABELS)
    prepared = prep(service("labels: {a: b}\n"), labels=labels)
    assert labels == LABELS
    assert db(prepared)["labels"] is not db(prepared)["deploy"]["labels"]


# --- what every service gets -------------------------------------------------------------------


def test_capabilities_and_log_driver_come_from_the_policy():
    policy = replace(POLICY, capabilities=tuple(capabilities(["NET_RAW"])), log_driver=log_driver("syslog"))
    out = db(prep(service(""), policy=policy))
    assert out["cap_drop"] == ["ALL"]
    assert out["cap_add"] == sorted(CAPS + ["CAP_NET_RAW"])
    assert out["logging"] == {"driver": "syslog"}  # the engine's own choice, never the branch's
    assert db(prep(service(""), policy=replace(POLICY, log_driver=log_driver("local"))))["logging"] == {
        "driver": "local", "options": {"max-size": "10m", "max-file": "3"}}


# --- output ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["", "version: '2'\n", "version: 3\n", "version: '3.9'\n"])
def test_version_is_set(version):
    prepared = prep(version + "services: {db: {image: x}}\n")
    assert prepared.data["version"] == "3.9"
    assert sent(prepared)["version"] == "3.9"


def test_output_is_json_that_reads_back_the_same():
    prepared = prep(service('environment: {A: x, B: "multi\\nline", C: "é😀", D: "a\\u2028b\\x85c\\x7fd\\ufeff"}\n'
                            "command: ['a: b', '#c', '!!binary x', '&a', '*a']\n"))
    assert prepared.yaml.startswith("{") and "\n" not in prepared.yaml
    assert sent(prepared) == load_untrusted(prepared.yaml, "out", max_bytes=10**6)
    assert "é😀" in prepared.yaml  # raw: the docker CLI refuses surrogate escapes
    assert "\\u2028" in prepared.yaml and "\\u0085" in prepared.yaml and "\\u007f" in prepared.yaml
    assert db(prepared)["environment"]["D"] == "a\u2028b\x85c\x7fd\ufeff"
    assert sent(prepared)["services"]["db"]["command"] == ["a: b", "#c", "!!binary x", "&a", "*a"]


def test_output_is_deterministic():
    first = prep("services:\n  b: {image: x, environment: {Z: 1, A: 2}}\n  a: {image: y}\n")
    second = prep("services:\n  a: {image: y}\n  b: {environment: {A: 2, Z: 1}, image: x}\n")
    assert first.yaml == second.yaml
    assert first.digest == second.digest
    assert first.digest != prep("services:\n  a: {image: z}\n").digest
    assert first.services == ["a", "b"]


def test_prepared_compose_is_frozen():
    prepared = prep("")
    with pytest.raises(AttributeError):
        prepared.yaml = "x"  # type: ignore[misc]  # assigning to a frozen dataclass on purpose


def test_services_with_volumes_are_pinned_to_the_stack_node():
    prepared = prep(
        "services:\n"
        "  db: {image: postgres, volumes: ['data:/var/lib/postgresql/data']}\n"
        "  cache: {image: memcached}\n"
        "  scratch: {image: busybox, volumes: [{type: tmpfs, target: /t}]}\n"
        "volumes: {data: {}}\n"
    )
    pinned = pin_volumes_to_node(prepared, "abc123")
    services = pinned.data["services"]
    assert services["db"]["deploy"]["placement"] == {"constraints": ["node.id == abc123"]}
    assert "placement" not in services["cache"]["deploy"] and "placement" not in services["scratch"]["deploy"]
    assert "placement" not in prepared.data["services"]["db"]["deploy"]  # the original is unchanged
    assert pinned.digest != prepared.digest and sent(pinned)["services"]["db"]["deploy"]["placement"] == {
        "constraints": ["node.id == abc123"]}
    assert pin_volumes_to_node(pinned, "abc123").digest == pinned.digest  # pinning twice changes nothing
    assert pin_volumes_to_node(pinned, "def456").data["services"]["db"]["deploy"]["placement"] == {
        "constraints": ["node.id == def456"]}
    with pytest.raises(ValueError):
        pin_volumes_to_node(prepared, "abc; rm")


# --- properties ----------------------------------------------------------------------------------

SPECIAL_TEXT = [
    "$HOME", "${X}", "data:/data", "/etc:/etc", "pgdata", "bind", "volume", "tmpfs", "yadockeri/app:1", "abc123",
    "sha256:ab", OWN_DIGEST, "postgres:15", "1g", "0.5", "10s", "global", "router", "default", "CMD", "x=y", "",
    "yadockeri.stack", "com.docker.x", "\x85", "\u2028", "é", "\x1b[2J", "$$", "a\x00b",
]
TEXT = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(st.characters(exclude_categories=["Cs"]), max_size=10))
GOOD_TEXT = st.one_of(
    st.sampled_from([t for t in SPECIAL_TEXT if t and "\x00" not in t]),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=10),
)


def _some(**keys) -> st.SearchStrategy[dict]:
    """A mapping with any subset of these keys."""
    return st.fixed_dictionaries({}, optional=keys)


def _one(*values) -> st.SearchStrategy:
    return st.sampled_from(values)


def _target(mount) -> str:
    return mount.split(":")[1] if isinstance(mount, str) else mount["target"]


# Files like real ones, from values that are all allowed: every one must pass, and what is sent
# must hold the invariants. BAD then puts one refused value into such a file.
GOOD_LABELS = st.one_of(st.dictionaries(_one("a", "b", "team", "yadockeri.stack", "com.docker.x"), GOOD_TEXT, max_size=2),
                        st.lists(_one("a=b", "c", "$d=$e", "yadockeri.x=y"), max_size=2, unique=True))
GOOD = {
    "command": st.one_of(GOOD_TEXT.filter(str.strip), st.lists(GOOD_TEXT, max_size=3)),
    "entrypoint": st.lists(_one("sh", "-c", "$HOME"), max_size=2),
    "environment": st.one_of(
        st.dictionaries(_one("A", "B", "C$D", "G"),
                        st.one_of(GOOD_TEXT, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)),
                        max_size=3),
        st.lists(_one("A=1", "D=$HOME", "E=x=y", "F=${X:-y}"), max_size=3, unique=True)),
    "volumes": st.lists(st.one_of(
        _one("pgdata:/data", "pgdata:/d:ro", "pgdata:/e:rw"),
        st.fixed_dictionaries({"type": st.just("volume"), "source": st.just("pgdata"), "target": _one("/v", "/w")},
                              optional={"read_only": st.booleans(), "volume": _some(nocopy=st.booleans())}),
        st.fixed_dictionaries({"type": st.just("tmpfs"), "target": _one("/t", "/u")},
                              optional={"tmpfs": _some(size=_one("1m", "64k", 1024, "256m"))}),
    ), max_size=3, unique_by=_target),
    "deploy": _some(
        replicas=st.integers(0, 4), mode=st.just("replicated"),
        resources=_some(
            limits=_some(cpus=_one(0.5, "0.25", 4, 0.01, "1"), memory=_one("64m", "1g", 64 * MIB, "1.5g"),
                         pids=st.integers(1, 4096)),
            reservations=_some(cpus=st.just(0.01), memory=_one("6m", "16m"))),
        labels=GOOD_LABELS,
        restart_policy=_some(condition=_one("any", "on-failure", "none"), delay=_one("5s", "1m", 0),
                             max_attempts=st.integers(0, 100), window=_one("1m", "10m")),
        endpoint_mode=_one("vip", "dnsrr")),
    "healthcheck": _some(test=_one("true", ["CMD", "true"], ["NONE"], ["CMD-SHELL", "x $y"]),
                         interval=_one("10s", "1s", "5m", "1m30s"), retries=st.integers(1, 100),
                         start_period=_one("0s", "10m")),
    "labels": GOOD_LABELS,
    "networks": st.one_of(
        st.lists(_one("back", "default"), max_size=2, unique=True),
        st.dictionaries(_one("back", "default"),
                        st.one_of(st.none(), st.fixed_dictionaries({"aliases": st.lists(_one("pg", "cache-1"),
                                                                                          max_size=2)})), max_size=2)),
    "stop_grace_period": _one("10s", "2m", 0),
    "init": st.booleans(), "read_only": st.booleans(),
    "user": _one("postgres", 999, "999:999"), "hostname": _one("db", "db.local"), "working_dir": _one("/srv", "/"),
    "stop_signal": _one("SIGINT", "TERM"), "depends_on": st.just(["db"]), "x-note": GOOD_TEXT,
    # dropped with a note
    "ports": _one(["5432:5432"], []), "container_name": _one("x"), "restart": _one("always"), "expose": _one([80]),
    "cap_drop": _one(["ALL"], ["NET_RAW"]),
}
GOOD_IMAGES = _one("postgres:15", "redis", "memcached:1.6", "redis@sha256:" + "1" * 64, "ghcr.io/x/y:1",
                   "localhost:5001/team/db", "cafe:latest")
GOOD_SERVICE = st.fixed_dictionaries({"image": GOOD_IMAGES}, optional=GOOD)
GOOD_DOCUMENTS = st.fixed_dictionaries(
    {"services": st.fixed_dictionaries({"db": GOOD_SERVICE}, optional={"cache": GOOD_SERVICE, "queue": GOOD_SERVICE}),
     "volumes": st.just({"pgdata": None}), "networks": st.just({"back": None})},
    optional={"x-anchor": st.just({"a": 1}), "version": _one("3.8", 3)},
)
BAD = {
    "image": _one("yadockeri/app:1", "docker.io/yadockeri/x", "index.docker.io/yadockeri/x", "h:5000/yadockeri/x",
                  "abc123", "ab" * 32, OWN_DIGEST, "sha256:abc", "registry.example.com:5000/x", f"redis@{OWN_DIGEST}",
                  "Postgres", "$IMAGE", 3, None),
    "environment": _one({"A": None}, {"A": ""}, {"A": True}, ["B"], ["C="], {"A B": "x"}, {"A": [1]}, "A=b"),
    "volumes": _one(["/etc:/etc"], ["/anon"], ["other:/o"], [{"type": "bind", "source": "/etc", "target": "/e"}],
                    [{"type": "volume", "target": "/d"}], [{"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1g"}}],
                    [{"type": "volume", "source": "pgdata", "target": "/d", "volume": {"nocopy": True, "subpath": "x"}}],
                    [{"type": "volume", "source": "pgdata", "target": "/d", "bind": {"propagation": "shared"}}],
                    ["pgdata:/d", "pgdata:/d"], ["~/.ssh:/s"], ["$HOME:/h"]),
    "deploy": _one({"mode": "global"}, {"replicas": 10000}, {"placement": {"constraints": ["node.role == manager"]}},
                   {"resources": {"limits": {"cpus": "0.0000000001"}}}, {"resources": {"limits": {"memory": "64g"}}},
                   {"resources": {"limits": {"pids": 100000}}}, {"update_config": {}}, {"rollback_config": {}},
                   {"restart_policy": {"delay": "2m"}}, {"resources": {"reservations": {"memory": "8g"}}},
                   {"resources": {"limits": {"cpus": 0}}}),
    "healthcheck": _one({"interval": "1h"}, {"retries": 0}, {"test": ["CMD"]}, {"start_period": "1h"}, {"x": 1}),
    "labels": _one([1], {"a": [1]}, "a=b"),
    "networks": _one(["router"], ["front"], {"default": {"aliases": ["web"]}}, {"router": None}),
    "stop_grace_period": _one("1h", "-1s", 10), "user": _one("a b", -1), "hostname": _one("{{.Node.Hostname}}"),
    "working_dir": _one("x"), "init": _one("yes", 1), "depends_on": _one(["nope"], "db"),
    "logging": _one({"driver": "syslog", "options": {"syslog-address": "tcp://127.0.0.1:22"}}, {"driver": "json-file"}),
    "privileged": st.booleans(), "cap_add": _one(["SYS_ADMIN"], []), "tmpfs": _one(["/run"]), "shm_size": _one("8g"),
    "dns": _one(["1.1.1.1"]), "extra_hosts": _one(["a:1.2.3.4"]), "sysctls": _one({"a": 1}), "ulimits": _one({"nproc": 1}),
    "devices": _one(["/dev/sda"]), "network_mode": _one("host"), "pid": _one("host"), "ipc": _one("host"),
    "security_opt": _one(["seccomp:unconfined"]), "env_file": _one(".env"), "build": _one("."), "links": _one(["x"]),
    "userns_mode": _one("host"), "cgroup_parent": _one("/"), "volumes_from": _one(["x"]), "platform": _one("linux"),
}
TAGS = ["!!binary", "!!str", "!foo", "!", "!!python/object:os.system", "!!map", "!!int"]
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _compose_text(document: dict, tag: str | None = None) -> str:
    text = yaml.safe_dump(document, allow_unicode=False)
    if tag is not None:  # a tag on the first mapping value of some line
        text = re.sub(r"^(\s*[a-z_]+): ", rf"\1: {tag} ", text, count=1, flags=re.MULTILINE)
    return text


@PROPERTY
@given(GOOD_DOCUMENTS)
def test_files_of_allowed_values_pass_and_what_is_sent_holds(document):
    prepared = prep(_compose_text(document))
    _check_sent(prepared)
    assert prepared.services == sorted(document["services"])


@PROPERTY
@given(GOOD_DOCUMENTS, st.data())
def test_one_refused_value_anywhere_refuses_the_file_naming_its_service(document, data):
    name = data.draw(st.sampled_from(sorted(document["services"])))
    key = data.draw(st.sampled_from(sorted(BAD)))
    document["services"][name][key] = data.draw(BAD[key])
    with pytest.raises(SpecError) as caught:
        prep(_compose_text(document))
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: service `{name}` ") and "\n" not in message, message


@PROPERTY
@given(GOOD_DOCUMENTS, st.sampled_from(TAGS), st.integers(0, 40))
def test_a_tag_anywhere_refuses_the_file_with_its_line(document, tag, line):
    lines = _compose_text(document).splitlines()
    index = line % len(lines)
    tagged = re.sub(r": (?=\S)", f": {tag} ", lines[index], count=1)
    if tagged == lines[index]:
        tagged = re.sub(r"^(\s*)- (?=\S)", rf"\1- {tag} ", lines[index], count=1)
    if tagged == lines[index]:
        return  # nothing on this line to tag
    lines[index] = tagged
    with pytest.raises(SpecError) as caught:
        prep("\n".join(lines) + "\n")
    message = str(caught.value)
    assert re.match(rf"{SOURCE}: (line {index + 1}: the YAML tag `|invalid YAML at line)", message), message


SERVICE_KEYS = [*GOOD, "image", "logging", "privileged", "tmpfs", "cap_add"]
INNER_KEYS = [
    "type", "source", "target", "read_only", "volume", "tmpfs", "size", "nocopy", "test", "interval", "retries",
    "mode", "replicas", "resources", "limits", "reservations", "cpus", "memory", "pids", "restart_policy",
    "condition", "delay", "labels", "placement", "aliases", "driver", "driver_opts", "external", "name", "A", "B",
]
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.one_of(st.sampled_from(INNER_KEYS), TEXT), children, max_size=4)),
    max_leaves=12,
)
SERVICES = st.dictionaries(
    st.sampled_from(["db", "cache", "web", "x"]),
    st.dictionaries(st.sampled_from(SERVICE_KEYS), VALUES, max_size=6).map(lambda s: {"image": "postgres:15", **s}),
    max_size=3,
)
DOCUMENTS = st.fixed_dictionaries(
    {"services": SERVICES},
    optional={"volumes": st.dictionaries(st.sampled_from(["pgdata", "data"]), VALUES, max_size=2),
              "networks": st.dictionaries(st.sampled_from(["back", "default", "router"]), VALUES, max_size=2),
              "version": st.just("3.8")},
)


@PROPERTY
@given(st.one_of(DOCUMENTS, GOOD_DOCUMENTS), st.one_of(st.none(), st.sampled_from(TAGS)))
@example({"services": {"db": {"image": "postgres:15", "volumes": [{"type": "volume", "source": "pgdata",
                                                                     "target": "/d"}]}},
          "volumes": {"pgdata": None}}, "!!binary")
def test_any_document_gives_a_checked_file_or_a_clear_refusal(document, tag):
    text = _compose_text(document, tag)
    try:
        prepared = prep(text)
    except SpecError as error:
        message = str(error)
        assert message.startswith(f"{SOURCE}: ") and "\n" not in message, message
        return
    assert tag is None or tag not in text  # a tag that stayed in the text was refused
    _check_sent(prepared)


RAW_TEXT = st.lists(st.one_of(
    st.sampled_from(["services:\n", "  db:\n", "    image: postgres:15\n", "    volumes: [", "data:/d", "]\n",
                     "volumes: {data: }\n", "    environment: {A: ", "!!binary ", "&a ", "*a", "<<: ", "\x00",
                     "\ud800", "\x85", "\u2028", "\x1b", "\t", "'", '"', "$HOME", "{", "}", ": ", "- "]),
    st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=4),
), max_size=30).map("".join)


@PROPERTY
@given(RAW_TEXT)
@example("services:\n  db:\n    image: postgres:15\n    environment: {A: \"\\ud800\"}\n")
def test_any_text_gives_a_checked_file_or_a_clear_refusal(text):
    try:
        prepared = prep(text)
    except SpecError as error:
        message = str(error)
        assert message.startswith(f"{SOURCE}: ") and "\n" not in message, message
        return
    _check_sent(prepared)


def _check_sent(prepared: PreparedCompose) -> None:
    """What goes to the docker CLI: the checked data, `$` escaped, with yadockeri's settings."""
    out = sent(prepared)
    assert out["version"] == "3.9" and set(out) <= {"version", "services", "networks", "volumes"}
    for spec in out["services"].values():
        assert spec["cap_drop"] == ["ALL"] and spec["cap_add"] == CAPS and spec["logging"] == LOGGING
        assert set(spec["deploy"]["resources"]["limits"]) == {"cpus", "memory", "pids"}
        assert spec["deploy"]["mode"] == "replicated" and "placement" not in spec["deploy"]
        assert 0 <= spec["deploy"]["replicas"] <= LIMITS.max_replicas
        assert "router" not in spec["networks"] and "default" in spec["networks"]
        assert all(mount["type"] in ("volume", "tmpfs") for mount in spec["volumes"])
        assert all(mount["source"] in out["volumes"] for mount in spec["volumes"] if mount["type"] == "volume")
        for labels in (spec["labels"], spec["deploy"]["labels"]):
            assert all(not key.startswith(("yadockeri.", "com.docker.")) or key in LABELS for key in labels)
        assert all(isinstance(value, str) and value for value in spec["environment"].values())
        assert set(spec) <= set(SERVICE_KEYS) - {"ports", "container_name", "restart", "expose"} | {"logging", "cap_add"}
    assert _dollars_doubled(out)
    assert _unescaped(out) == _memory_as_text(prepared.data)  # what is sent is the checked data
    assert load_untrusted(prepared.yaml, "sent", max_bytes=10**7) == out  # and YAML reads it the same


def _memory_as_text(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    for spec in data["services"].values():
        for part in spec["deploy"]["resources"].values():
            if "memory" in part:
                part["memory"] = str(part["memory"])
    return data


def _unescaped(node):
    """`$$` -> `$`: the docker CLI's reading of an escaped value."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, dict):
        return {key: _unescaped(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unescaped(value) for value in node]
    return node


def _dollars_doubled(node) -> bool:
    """Every `$` in a value sent is part of a `$$` pair: nothing left for the CLI to expand."""
    if isinstance(node, str):
        return "$" not in node.replace("$$", "")
    if isinstance(node, dict):
        return all(_dollars_doubled(value) for value in node.values())
    if isinstance(node, list):
        return all(_dollars_doubled(value) for value in node)
    return True


# --- against the real docker CLI and engine --------------------------------------------------------

CAP_BITS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
    "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_SYS_ADMIN": 21,
    "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31,
}
SWARM_COMPOSE = """
x-common: &common
  image: busybox:latest
  command: ["sh", "-c", "sleep 3600"]
services:
  db:
    <<: *common
    environment:
      GREETING: "$HOME and $$literal ${YADOCKERI_SECRET_KEY:-unset}"
      ODD: "a\\u2028b\\x85c"
    labels: {team: core, yadockeri.stack: someone-else, com.docker.stack.namespace: other}
    volumes: ["data:/data", {type: tmpfs, target: /scratch, tmpfs: {size: 8m}}]
    stop_grace_period: 5s
    ports: ["5432:5432"]
    deploy:
      labels: [owner=akira, yadockeri.role=process]
      resources: {limits: {cpus: "0.25", memory: 64m, pids: 40}, reservations: {memory: 16m}}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 3}
  cache:
    <<: *common
    healthcheck: {test: [CMD, "true"], interval: 2s, retries: 2}
volumes:
  data:
"""


def _deploy(text: str, stack: str) -> subprocess.CompletedProcess:
    # As swarm.stack_deploy runs it: the docker CLI with nothing of yadockeri's environment but
    # what it needs, reading the prepared text on stdin.
    return subprocess.run(
        ["/usr/bin/docker", "stack", "deploy", "--resolve-image", "never", "-c", "-", stack],
        input=text, text=True, capture_output=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/root", "YADOCKERI_SECRET_KEY": "must-not-leak"},
    )


def _running_container(client, service: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}",
                                                "status": "running"})
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"{service} has no running container after {timeout} s")


def _read(container, command: str) -> str:
    result = container.exec_run(["sh", "-c", command])
    return result.output.decode()


@pytest.mark.swarm
def test_docker_runs_what_was_checked(docker_client):
    from tests.conftest import purge, unique

    stack = unique("c")
    labels = {"com.docker.stack.namespace": stack, "yadockeri.stack": stack, "yadockeri.role": "middleware"}
    prepared = prep(SWARM_COMPOSE, stack=stack, labels=labels)
    try:
        result = _deploy(prepared.yaml, stack)
        assert result.returncode == 0, result.stderr
        api = docker_client.api
        for name, checked in prepared.data["services"].items():
            spec = api.inspect_service(f"{stack}_{name}")["Spec"]
            task = spec["TaskTemplate"]
            container_spec = task["ContainerSpec"]
            limits = checked["deploy"]["resources"]["limits"]
            assert container_spec["CapabilityDrop"] == ["ALL"]
            assert container_spec["CapabilityAdd"] == CAPS
            assert task["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}
            assert task["Resources"]["Limits"] == {
                "NanoCPUs": round(float(limits["cpus"]) * 10**9), "MemoryBytes": limits["memory"], "Pids": limits["pids"]}
            assert sorted(container_spec.get("Env") or []) == sorted(f"{k}={v}" for k, v in checked["environment"].items())
            assert container_spec["Labels"] == {**checked["labels"], "com.docker.stack.namespace": stack}
            assert spec["Labels"] == {**checked["deploy"]["labels"], "com.docker.stack.namespace": stack,
                                      "com.docker.stack.image": "busybox:latest"}
            assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
            assert not (task.get("Placement") or {}).get("Constraints")
            mounts = container_spec.get("Mounts") or []
            assert [(m["Type"], m["Target"]) for m in mounts] == [(m["type"], m["target"]) for m in checked["volumes"]]
            assert all(m["Type"] != "bind" for m in mounts)
        db_spec = api.inspect_service(f"{stack}_db")["Spec"]["TaskTemplate"]
        assert db_spec["Resources"]["Reservations"] == {"MemoryBytes": 16 * MIB}
        assert db_spec["RestartPolicy"] == {"Condition": "on-failure", "Delay": 10**9, "MaxAttempts": 3}
        assert db_spec["ContainerSpec"]["Mounts"][0]["Source"] == f"{stack}_data"
        assert db_spec["ContainerSpec"]["Mounts"][1]["TmpfsOptions"] == {"SizeBytes": 8 * MIB}
        assert db_spec["ContainerSpec"]["StopGracePeriod"] == 5 * 10**9

        # From inside: the process has exactly the capabilities checked, the limits hold.
        container = _running_container(docker_client, f"{stack}_db")
        status = dict(line.split(":\t") for line in _read(container, "grep ^Cap /proc/1/status").split("\n") if line)
        expected = sum(1 << CAP_BITS[name] for name in CAPS)
        assert int(status["CapEff"], 16) == expected and int(status["CapBnd"], 16) == expected
        assert "CAP_NET_RAW" not in CAPS and "CAP_SYS_CHROOT" not in CAPS
        assert "Operation not permitted" in _read(container, "chroot / true 2>&1")
        cgroup = "cat /sys/fs/cgroup/{v2} 2>/dev/null || cat /sys/fs/cgroup/{v1}"
        assert _read(container, cgroup.format(v2="pids.max", v1="pids/pids.max")).strip() == "40"
        assert _read(container, cgroup.format(v2="memory.max", v1="memory/memory.limit_in_bytes")).strip() == str(64 * MIB)
        cpu = _read(container, cgroup.format(v2="cpu.max", v1="cpu/cpu.cfs_quota_us")).split()
        assert cpu[0] == "25000"  # a quarter of the 100 ms period
        environ = _read(container, "cat /proc/1/environ").split("\0")  # values may hold line breaks
        env = dict(entry.split("=", 1) for entry in environ if "=" in entry)
        assert env["GREETING"] == "$HOME and $$literal ${YADOCKERI_SECRET_KEY:-unset}"
        assert env["ODD"] == "a\u2028b\x85c"
        assert "must-not-leak" not in "".join(environ)
        log_config = container.attrs["HostConfig"]["LogConfig"]
        assert log_config == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
        assert {m["Type"] for m in container.attrs["Mounts"]} == {"volume", "tmpfs"}
        # Last: while the sleeps last, the container can start no other process.
        forked = _read(container, "for i in $(seq 60); do sleep 2 & done 2>&1; wait")
        assert "can't fork" in forked or "Resource temporarily unavailable" in forked
    finally:
        subprocess.run(["/usr/bin/docker", "stack", "rm", stack], capture_output=True, timeout=120, check=False)
        purge(docker_client, stack)
