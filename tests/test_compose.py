"""Unit tests for stacks.compose: the middleware compose file, checked and rewritten."""

import hashlib
import textwrap

import pytest
import yaml

from stacks.compose import PreparedCompose, prepare_compose, short_mount_source
from stacks.errors import SpecError

SOURCE = "docker-compose-yadockeri.yml"
LABELS = {"com.docker.stack.namespace": "akira", "yadockeri.stack": "akira"}
PROCESSES = {"web", "worker"}


def prep(text: str, **overrides) -> PreparedCompose:
    options = dict(stack="akira", process_names=PROCESSES, endpoint_mode="dnsrr", labels=LABELS)
    options.update(overrides)
    return prepare_compose(textwrap.dedent(text), **options)


def refusal(text: str, **overrides) -> str:
    with pytest.raises(SpecError) as caught:
        prep(text, **overrides)
    message = str(caught.value)
    assert message.startswith(f"{overrides.get('source', SOURCE)}: ")
    assert "\n" not in message
    return message


def service(text: str) -> str:
    """A file with one service `db` whose body is `text` (indented under it)."""
    body = textwrap.indent(textwrap.dedent(text), "    ")
    return f"services:\n  db:\n    image: postgres:15\n{body}"


def db(prepared: PreparedCompose) -> dict:
    return prepared.data["services"]["db"]


EMPTY_OUTPUT = {"version": "3.8", "services": {}, "networks": {"default": {"labels": LABELS}}}


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
            labels: ["team=core", "tier"]
            networks: [back]
            volumes: ["pgdata:/var/lib/postgresql/data"]
          cache:
            image: memcached:1.6
            deploy:
              replicas: 1
              endpoint_mode: vip
              labels: {owner: akira}
        networks:
          back:
        volumes:
          pgdata: {driver: local}
        """
    )
    env = {"PGDATA": "/var/lib/postgresql/data/pg", "GREETING": "$$HOME and $$$$literal"}
    assert prepared.data == {
        "version": "3.8",
        "x-env": {"environment": env},
        "services": {
            "db": {
                "image": "postgres:15",
                "environment": env,
                "labels": {"team": "core", "tier": "", **LABELS},
                "networks": ["back", "default"],
                "volumes": ["pgdata:/var/lib/postgresql/data"],
                "deploy": {"endpoint_mode": "dnsrr", "labels": LABELS},
                "init": True,
            },
            "cache": {
                "image": "memcached:1.6",
                "labels": LABELS,
                "init": True,
                "deploy": {"replicas": 1, "endpoint_mode": "dnsrr", "labels": {"owner": "akira", **LABELS}},
            },
        },
        "networks": {"back": {"labels": LABELS}, "default": {"labels": LABELS}},
        "volumes": {"pgdata": {"driver": "local", "labels": LABELS}},
    }
    assert prepared.services == ["cache", "db"]
    assert prepared.has_volumes is True
    assert prepared.warnings == [
        "service db: published ports removed",
        "service db: container_name removed",
        "service cache: deploy.endpoint_mode vip replaced by dnsrr",
    ]
    assert yaml.safe_load(prepared.yaml) == prepared.data
    assert prepared.digest == hashlib.sha256(prepared.yaml.encode()).hexdigest()


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


# --- refusals: service keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body, key",
    [
        ("privileged: true\n", "privileged"),
        ("privileged: false\n", "privileged"),
        ("network_mode: host\n", "network_mode"),
        ("network_mode: bridge\n", "network_mode"),
        ("network_mode: 'service:other'\n", "network_mode"),
        ("pid: host\n", "pid"),
        ("pid: 'container:x'\n", "pid"),
        ("ipc: host\n", "ipc"),
        ("ipc: shareable\n", "ipc"),
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
        ("build: {context: ., dockerfile: Dockerfile}\n", "build"),
        ("secrets: [key]\n", "secrets"),
        ("configs: [conf]\n", "configs"),
        ("credential_spec: {file: spec.json}\n", "credential_spec"),
    ],
)
def test_refused_service_keys(body, key):
    message = refusal(service(body))
    assert message.startswith(f"{SOURCE}: service `db` ")
    assert f"`{key}`" in message
    assert "yadockeri does not allow" in message


def test_privileged_message_reads_well():
    assert refusal(service("privileged: true\n")) == (
        f"{SOURCE}: service `db` asks for privileged mode (`privileged`), which yadockeri does not allow: "
        "a privileged container controls the host"
    )


def test_host_network_mode_message_reads_well():
    message = refusal(service("network_mode: host\n"))
    assert message.startswith(f"{SOURCE}: service `db` sets `network_mode`, which yadockeri does not allow")


def test_unknown_service_key_is_refused():
    assert refusal(service("imagee: x\n")) == f"{SOURCE}: service `db` has unknown key `imagee`"


def test_service_extension_keys_are_allowed():
    assert db(prep(service("x-note: hello\n")))["x-note"] == "hello"


@pytest.mark.parametrize(
    "text",
    [
        "services: {db: {}}\n",
        "services: {db: {image: ''}}\n",
        "services: {db: {image: 3}}\n",
        "services: {db: {environment: {A: b}}}\n",
    ],
)
def test_service_needs_an_image(text):
    assert refusal(text) == f"{SOURCE}: service `db` needs an `image` (a string, like `postgres:15`)"


@pytest.mark.parametrize("text", ["services: {db: }\n", "services: {db: postgres}\n", "services: {db: [a]}\n"])
def test_service_must_be_a_mapping(text):
    assert refusal(text) == f"{SOURCE}: service `db` must be a mapping (with at least an `image`)"


# --- refusals: service names ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["Db", "my_db", "-db", "db-", "d.b", "a" * 33, "db!"])
def test_service_names_must_be_dns_labels(name):
    message = refusal(f"services:\n  '{name}': {{image: x}}\n")
    assert message.startswith(f"{SOURCE}: service `{name}` has a name that is not allowed")


def test_numeric_service_name_is_refused():
    assert refusal("services:\n  1: {image: x}\n").startswith(f"{SOURCE}: service `1` has a name that is not allowed")


@pytest.mark.parametrize("name", ["db", "1db", "a", "a" * 32, "redis-cache-2"])
def test_service_names_that_are_fine(name):
    assert prep(f"services:\n  {name}: {{image: x}}\n").services == [name]


@pytest.mark.parametrize("process", ["web", "worker"])
def test_service_named_like_a_process_is_refused(process):
    assert refusal(f"services:\n  {process}: {{image: x}}\n") == (
        f"{SOURCE}: service `{process}` has the same name as the app's process `{process}`; rename one"
    )


def test_process_names_come_from_the_caller():
    assert prep("services:\n  clock: {image: x}\n").services == ["clock"]
    assert "process `clock`" in refusal("services:\n  clock: {image: x}\n", process_names={"web", "clock"})


def test_full_docker_name_must_fit():
    stack = "s" * 40
    name = "a" * 23  # 40 + 1 + 23 = 64 > 63
    message = refusal(f"services:\n  {name}: {{image: x}}\n", stack=stack)
    assert message.startswith(f"{SOURCE}: service `{name}` makes the Docker service name")
    assert prep(f"services:\n  {name[:-1]}: {{image: x}}\n", stack=stack).services == [name[:-1]]


# --- refusals: volumes ----------------------------------------------------------------------


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
        ("\\\\\\\\pipe\\\\docker:/pipe", "\\\\pipe\\docker"),
        ("$HOME:/home", "$HOME"),
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
    ],
)
def test_host_mounts_long_syntax_are_refused(mount):
    message = refusal(service(f"volumes:\n  - {mount}\n"))
    assert message.startswith(f"{SOURCE}: service `db` has a `volumes` entry of type")
    assert "only `volume` and `tmpfs`" in message


def test_long_syntax_volume_with_a_path_source_is_refused():
    message = refusal(service("volumes:\n  - {type: volume, source: /etc, target: /etc}\n"))
    assert message.startswith(f"{SOURCE}: service `db` mounts the host path `/etc`")


@pytest.mark.parametrize(
    "body, message",
    [
        ("volumes: data:/data\n", f"{SOURCE}: service `db` has `volumes` that is not a list"),
        ("volumes: [3]\n", f"{SOURCE}: service `db` has a `volumes` entry that is neither a string nor a mapping"),
        ('volumes: ["/etc\\0:/x"]\n', f"{SOURCE}: service `db` has a `volumes` entry with a NUL character"),
    ],
)
def test_malformed_mounts_are_refused(body, message):
    assert refusal(service(body)) == message


@pytest.mark.parametrize(
    "mounts, has_volumes",
    [
        ('["pgdata:/var/lib/postgresql/data"]', True),
        ('["pgdata:/var/lib/postgresql/data:ro"]', True),
        ('["/var/lib/postgresql/data"]', True),  # anonymous volume
        ('["/d"]', True),
        ("[{type: volume, source: pgdata, target: /data}]", True),
        ("[{type: volume, target: /data}]", True),
        ("[{type: tmpfs, target: /tmp}]", False),
        ("[]", False),
    ],
)
def test_named_anonymous_and_tmpfs_mounts_are_allowed(mounts, has_volumes):
    text = service(f"volumes: {mounts}\n")
    if "pgdata" in mounts:
        text += "volumes:\n  pgdata:\n"
    prepared = prep(text)
    assert db(prepared)["volumes"] == yaml.safe_load(mounts)
    assert prepared.has_volumes is (has_volumes or "pgdata" in mounts)


@pytest.mark.parametrize(
    "spec, source",
    [
        ("/data", None),
        ("ab", None),
        ("data:/data", "data"),
        ("data:/data:ro", "data"),
        ("/a:/b", "/a"),
        ("C:/x:/d", "C:/x"),
        ("c:data", None),
        (":/data", ""),
    ],
)
def test_short_mount_source_splits_like_the_docker_cli(spec, source):
    assert short_mount_source(spec) == source


# --- refusals: top-level volumes -------------------------------------------------------------


@pytest.mark.parametrize(
    "volume, fragment",
    [
        ("{external: true}", "volume `data` is `external`"),
        ("{external: {name: otherstack_pgdata}}", "volume `data` is `external`"),
        ("{name: otherstack_pgdata}", "volume `data` sets `name`"),
        ("{driver: nfs}", "volume `data` asks for driver `nfs`"),
        ("{driver: local, driver_opts: {type: none, o: bind, device: /etc}}", "volume `data` sets `driver_opts`"),
        ("{driver_opts: {type: tmpfs}}", "volume `data` sets `driver_opts`"),
        ("{bogus: 1}", "volume `data` has unknown key `bogus`"),
        ("[a]", "volume `data` must be a mapping"),
        ("{labels: 3}", "volume `data` has `labels` that is neither a mapping nor a list"),
    ],
)
def test_refused_top_level_volumes(volume, fragment):
    message = refusal(f"volumes:\n  data: {volume}\n")
    assert message.startswith(f"{SOURCE}: {fragment}")


def test_volume_name_equal_to_its_stack_name_is_allowed():
    prepared = prep("volumes:\n  data: {name: akira_data, external: false}\n")
    assert prepared.data["volumes"] == {"data": {"name": "akira_data", "external": False, "labels": LABELS}}
    assert prepared.has_volumes is True


# --- refusals: networks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "network, fragment",
    [
        ("{external: true}", "network `back` is `external`"),
        ("{external: {name: router}}", "network `back` is `external`"),
        ("{external: {name: otherstack_default}}", "network `back` is `external`"),
        ("{name: router}", "network `back` sets `name`"),
        ("{name: ingress}", "network `back` sets `name`"),
        ("{driver: host}", "network `back` asks for driver `host`"),
        ("{driver: bridge}", "network `back` asks for driver `bridge`"),
        ("{driver_opts: {com.docker.network.driver.overlay.vxlanid_list: '4097'}}", "network `back` sets `driver_opts`"),
        ("{ipam: {config: [{subnet: 10.0.0.0/8}]}}", "network `back` sets `ipam`"),
        ("{bogus: 1}", "network `back` has unknown key `bogus`"),
        ("[a]", "network `back` must be a mapping"),
    ],
)
def test_refused_top_level_networks(network, fragment):
    assert refusal(f"networks:\n  back: {network}\n").startswith(f"{SOURCE}: {fragment}")


@pytest.mark.parametrize("network", ["", "{}", "{external: true}", "{driver: overlay}"])
def test_network_named_router_is_refused(network):
    assert refusal(f"networks:\n  router: {network}\n").startswith(f"{SOURCE}: network `router` is not allowed")


def test_default_network_pointing_at_router_is_refused():
    assert "is `external`" in refusal("networks:\n  default: {external: {name: router}}\n")


@pytest.mark.parametrize("networks", ["[router]", "{router: }", "{router: {aliases: [x]}}", "[default, router]"])
def test_service_joining_router_is_refused(networks):
    assert refusal(service(f"networks: {networks}\n")).startswith(
        f"{SOURCE}: service `db` asks to join network `router` (`networks`)"
    )


@pytest.mark.parametrize("network", ["{driver: overlay}", "{driver_opts: {encrypted: ''}}", "{internal: true, attachable: true}"])
def test_allowed_network_options(network):
    prepared = prep(f"networks:\n  back: {network}\n")
    assert prepared.data["networks"]["back"] == {**yaml.safe_load(network), "labels": LABELS}


def test_alias_equal_to_a_process_name_is_refused():
    message = refusal(service("networks: {default: {aliases: [web]}}\n"))
    assert message == f"{SOURCE}: service `db` has network alias `web`, the name of the app's process; rename it"
    assert db(prep(service("networks: {default: {aliases: [postgres]}}\n")))["networks"] == {
        "default": {"aliases": ["postgres"]}
    }


@pytest.mark.parametrize(
    "networks, message",
    [
        ("default", "has `networks` that is neither a list nor a mapping"),
        ("[1]", "has `networks` entries that are not names"),
    ],
)
def test_malformed_service_networks_are_refused(networks, message):
    assert refusal(service(f"networks: {networks}\n")) == f"{SOURCE}: service `db` {message}"


# --- refusals: top level ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key",
    [
        ("secrets:\n  key: {file: /etc/shadow}\n", "secrets"),
        ("secrets:\n  key: {external: true}\n", "secrets"),
        ("configs:\n  conf: {file: ./nginx.conf}\n", "configs"),
    ],
)
def test_top_level_secrets_and_configs_are_refused(text, key):
    message = refusal(text)
    assert message.startswith(f"{SOURCE}: top-level `{key}` is not allowed")
    assert "read files of the machine yadockeri runs on" in message


@pytest.mark.parametrize("key", ["name", "include", "service", "servces"])
def test_unknown_top_level_keys_are_refused(key):
    assert refusal(f"{key}: x\n").startswith(f"{SOURCE}: top-level key `{key}` is not allowed")


def test_top_level_extension_keys_are_kept():
    assert prep("x-anything: {a: 1}\n").data["x-anything"] == {"a": 1}


# --- refusals: size ---------------------------------------------------------------------------------


def test_alias_bomb_is_refused():
    lines = ['a0: &a0 ["x"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"x-a{level}: &a{level} [{', '.join([previous] * 10)}]")
    text = "\n".join(["x-" + lines[0]] + lines[1:]) + "\n"
    assert "too large" in refusal(text)


def test_self_referencing_alias_is_refused():
    assert "nested too deeply" in refusal("x-loop: &a [*a]\n")


def test_deep_nesting_is_refused():
    assert "nested too deeply" in refusal("x-deep: " + "[" * 60 + "]" * 60 + "\n")


# --- rewrites -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["", "version: '2'\n", "version: 3\n", "version: '3.9'\n"])
def test_version_is_set(version):
    prepared = prep(version + "services: {db: {image: x}}\n")
    assert prepared.data["version"] == "3.8"
    assert 'version: "3.8"' in prepared.yaml


@pytest.mark.parametrize(
    "ports",
    ['["5432:5432"]', "[5432]", "[{target: 80, published: 8080, mode: host}]", '["127.0.0.1:6379:6379/tcp"]'],
)
def test_published_ports_are_removed(ports):
    prepared = prep(service(f"ports: {ports}\n"))
    assert "ports" not in db(prepared)
    assert prepared.warnings == ["service db: published ports removed"]


def test_empty_ports_are_removed_without_warning():
    prepared = prep(service("ports: []\n"))
    assert "ports" not in db(prepared)
    assert prepared.warnings == []


def test_container_name_is_dropped():
    prepared = prep(service("container_name: postgres\n"))
    assert "container_name" not in db(prepared)
    assert prepared.warnings == ["service db: container_name removed"]


@pytest.mark.parametrize("endpoint_mode", ["dnsrr", "vip"])
def test_endpoint_mode_is_set(endpoint_mode):
    prepared = prep(service("deploy: {replicas: 2}\n"), endpoint_mode=endpoint_mode)
    assert db(prepared)["deploy"] == {"replicas": 2, "endpoint_mode": endpoint_mode, "labels": LABELS}
    assert prepared.warnings == []


def test_endpoint_mode_of_the_file_is_replaced_with_a_warning():
    prepared = prep(service("deploy: {endpoint_mode: vip}\n"))
    assert db(prepared)["deploy"]["endpoint_mode"] == "dnsrr"
    assert prepared.warnings == ["service db: deploy.endpoint_mode vip replaced by dnsrr"]


def test_endpoint_mode_must_be_known():
    with pytest.raises(ValueError):
        prep("", endpoint_mode="host")


@pytest.mark.parametrize(
    "written, expected",
    [
        ("", {}),
        ("labels: {team: core}\n", {"team": "core"}),
        ('labels: ["team=core", "a=b=c", "flag"]\n', {"team": "core", "a": "b=c", "flag": ""}),
        ("labels: []\n", {}),
        ("labels: {yadockeri.stack: other}\n", {}),  # ours win
    ],
)
def test_container_labels_are_a_mapping_with_ours(written, expected):
    assert db(prep(service(written)))["labels"] == {**expected, **LABELS}


@pytest.mark.parametrize(
    "written, expected",
    [
        ("deploy: {}\n", {}),
        ("deploy:\n", {}),
        ("deploy: {labels: {team: core}}\n", {"team": "core"}),
        ('deploy: {labels: ["team=core"]}\n', {"team": "core"}),
        ("deploy: {labels: {com.docker.stack.namespace: other}}\n", {}),
    ],
)
def test_deploy_labels_are_a_mapping_with_ours(written, expected):
    assert db(prep(service(written)))["deploy"]["labels"] == {**expected, **LABELS}


@pytest.mark.parametrize(
    "written, what",
    [
        ("labels: {yadockeri.process: web}\n", "service db: label yadockeri.process"),
        ('deploy: {labels: ["yadockeri.router=yes"]}\n', "service db: deploy label yadockeri.router"),
        ("labels: {com.docker.stack.image: x}\n", "service db: label com.docker.stack.image"),
    ],
)
def test_reserved_labels_of_the_file_are_removed(written, what):
    prepared = prep(service(written))
    assert db(prepared)["labels"] == LABELS
    assert db(prepared)["deploy"]["labels"] == LABELS
    assert prepared.warnings == [f"{what} removed (reserved for yadockeri)"]


@pytest.mark.parametrize("body", ["labels: x\n", "labels: [1]\n", "deploy: {labels: 3}\n", "deploy: []\n"])
def test_malformed_labels_and_deploy_are_refused(body):
    assert refusal(service(body)).startswith(f"{SOURCE}: service `db` has `")


@pytest.mark.parametrize(
    "networks, volumes, expected_networks, expected_volumes",
    [
        ("", "", {"default": {}}, None),
        ("networks:\n  back:\n", "", {"back": {}, "default": {}}, None),
        ("networks:\n  default: {driver: overlay}\n", "", {"default": {"driver": "overlay"}}, None),
        ("networks:\n  back: {labels: [team=core]}\n", "", {"back": {"labels": {"team": "core"}}, "default": {}}, None),
        ("", "volumes:\n  data:\n", {"default": {}}, {"data": {}}),
        ("", "volumes:\n  data: {labels: {team: core}}\n", {"default": {}}, {"data": {"labels": {"team": "core"}}}),
        ("", "volumes: {}\n", {"default": {}}, None),
    ],
)
def test_networks_and_volumes_get_our_labels(networks, volumes, expected_networks, expected_volumes):
    data = prep(networks + volumes).data

    def labelled(specs):
        return {name: {**spec, "labels": {**spec.get("labels", {}), **LABELS}} for name, spec in specs.items()}

    assert data["networks"] == labelled(expected_networks)
    if expected_volumes is None:
        assert "volumes" not in data
    else:
        assert data["volumes"] == labelled(expected_volumes)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("", None),  # no `networks`: compose puts the service on `default`
        ("networks: [back]\n", ["back", "default"]),
        ("networks: [default, back]\n", ["default", "back"]),
        ("networks: {back: }\n", {"back": None, "default": None}),
        ("networks: {back: {aliases: [pg]}}\n", {"back": {"aliases": ["pg"]}, "default": None}),
        ("networks: {default: {aliases: [pg]}}\n", {"default": {"aliases": ["pg"]}}),
    ],
)
def test_services_join_the_default_network(written, expected):
    prepared = prep(service(written) + "networks:\n  back:\n")
    assert db(prepared).get("networks") == expected


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
def test_dollars_are_escaped_in_every_string_value(written, escaped):
    prepared = prep(
        service(
            f"""
            command: ["sh", "-c", '{written}']
            environment: {{VALUE: '{written}'}}
            labels: {{note: '{written}'}}
            healthcheck: {{test: ['CMD', '{written}']}}
            """
        )
    )
    service_data = db(prepared)
    assert service_data["command"] == ["sh", "-c", escaped]
    assert service_data["environment"] == {"VALUE": escaped}
    assert service_data["labels"]["note"] == escaped
    assert service_data["healthcheck"]["test"] == ["CMD", escaped]


def test_dollars_in_keys_are_left_alone():
    # The docker CLI interpolates values only; an escaped key would change its name.
    assert db(prep(service("environment: {A$B: c}\n")))["environment"] == {"A$B": "c"}


def test_dollars_in_list_form_labels_are_escaped_after_conversion():
    assert db(prep(service('labels: ["k=$v"]\n')))["labels"]["k"] == "$$v"


def test_non_string_values_are_kept():
    prepared = prep(service("deploy: {replicas: 2}\nenvironment: {N: 1, B: true, F: 1.5, Z: }\ninit: true\n"))
    assert db(prepared)["environment"] == {"N": 1, "B": True, "F": 1.5, "Z": None}
    assert db(prepared)["init"] is True


# --- isolation of shared parts, determinism, output --------------------------------------------


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
    assert one["deploy"] == two["deploy"] == {"replicas": 1, "endpoint_mode": "dnsrr", "labels": {"a": "b", **LABELS}}
    assert one["deploy"] is not two["deploy"]
    assert one["networks"] == ["back", "default"]
    assert prepared.data["x-deploy"] == {"deploy": {"replicas": 1, "labels": {"a": "b"}}, "networks": ["back"]}
    assert "&" not in prepared.yaml and "*" not in prepared.yaml  # no anchors or aliases


def test_output_is_deterministic():
    first = prep("services:\n  b: {image: x, environment: {Z: 1, A: 2}}\n  a: {image: y}\n")
    second = prep("services:\n  a: {image: y}\n  b: {environment: {A: 2, Z: 1}, image: x}\n")
    assert first.yaml == second.yaml
    assert first.digest == second.digest
    assert first.digest != prep("services:\n  a: {image: z}\n").digest
    assert first.services == ["a", "b"]


def test_output_round_trips():
    prepared = prep(service("environment: {A: '$x', B: 'multi\\nline', C: 'é'}\ncommand: ['a: b', '#c']\n"))
    assert yaml.safe_load(prepared.yaml) == prepared.data
    assert prepared.yaml.isascii()


@pytest.mark.parametrize("value", ["y", "n", "Y", "N", "yes", "off", "1e3", "0x10", "0o17", "1_000", "~", "null", "3.8"])
def test_strings_are_quoted_where_go_yaml_would_read_something_else(value):
    prepared = prep(service(f"environment: {{V: '{value}'}}\n"))
    assert db(prepared)["environment"]["V"] == value
    assert f'V: "{value}"' in prepared.yaml


def test_labels_argument_is_not_shared_or_modified():
    labels = dict(LABELS)
    prepared = prep(service("labels: {a: b}\n"), labels=labels)
    assert labels == LABELS
    assert db(prepared)["labels"] is not db(prepared)["deploy"]["labels"]


def test_prepared_compose_is_frozen():
    prepared = prep("")
    with pytest.raises(AttributeError):
        prepared.yaml = "x"  # type: ignore[misc]


def test_services_get_an_init_unless_they_say_otherwise():
    # PID 1 without an init ignores SIGTERM, and every destroy would wait out the grace period.
    assert db(prep(service(""))).get("init") is True
    assert db(prep(service("init: false"))).get("init") is False
