"""yadockeri on the swarm, the parts that need no Docker: install's service spec and env (no
secret in them, idempotent hashes), secret file names Settings reads, placement, the registry
reference parsing, the health check, and the documented stack file."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from stacks import install, nodes
from stacks.compose import MiddlewarePolicy, pin_volumes_to_node, prepare_compose
from stacks.config import Settings
from stacks.docker_adapter.labels import HASH_LABEL, INSTALL_LABEL
from stacks.docker_adapter.system_specs import Attached, image_job_spec, install_service_spec, volume_job_spec
from stacks.errors import YadockeriError
from stacks.limits import Limits, capabilities, log_driver
from stacks.registry import split_ref
from yadockeri import health

SECRET_VALUES = {
    "slack_bot_token": "xoxb-canary-bot-token",
    "slack_signing_secret": "canary-signing-secret",
    "slack_app_token": "xapp-canary-app-token",
    "secret_key": "canary-fernet-key",
    "registry_password": "canary-registry-password",
    "git_token": "canary-git-token",
    "database_url": "postgresql://u:canary-db-password@db/y",
    "builder_tls_ca": "canary-builder-ca-pem",
    "builder_tls_cert": "canary-builder-cert-pem",
    "builder_tls_key": "canary-builder-key-pem",
}


def settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path, "registry": "reg.example:5000", "registry_username": "ci"}
    base.update({k: SecretStr(v) if k != "database_url" else v for k, v in SECRET_VALUES.items()})
    base.update(values)
    return Settings(**base)


def attached(s: Settings) -> list[Attached]:
    roles = install.mounted_roles(s, set(install.secret_values(s)))
    files = {d.role: d.filename for d in install.SECRETS}
    return [Attached(f"id-{role}", f"yadockeri-{role}-x", f"/run/secrets/{files[role]}") for role in roles]


def spec_of(s: Settings, image_id: str = "sha256:1") -> dict:
    env = install.service_env(s, image="img:1", router_image="router:1", with_config=False)
    return install_service_spec(s, image="img:1", image_id=image_id, env=env, secrets=attached(s), configs=[])


def test_the_service_spec_and_env_hold_no_secret_value(tmp_path: Path) -> None:
    for mode in ("socket", "http"):
        s = settings(tmp_path, bot_mode=mode, domain="y.example.com", workers=8)
        text = json.dumps(spec_of(s), default=str)
        assert not [v for v in SECRET_VALUES.values() if v in text]
        env = install.service_env(s, image="img:1", router_image="router:1", with_config=False)
        assert env["YADOCKERI_DOMAIN"] == "y.example.com" and env["YADOCKERI_WORKERS"] == "8"
        assert env["YADOCKERI_SECRETS_DIR"] == "/run/secrets" and env["YADOCKERI_DATA_DIR"] == "/data"
        assert env["YADOCKERI_ROUTER_URL"] == "http://router:80"  # the router network, not a host port
        assert "YADOCKERI_BUILDER" not in env  # a default is not passed on; a setting is:
        assert install.service_env(settings(tmp_path, builder="tcp://b:2376"), image="i:1", router_image="r:1",
                                   with_config=False)["YADOCKERI_BUILDER"] == "tcp://b:2376"
        assert not any(key.endswith(("TOKEN", "PASSWORD", "SECRET", "SECRET_KEY", "DATABASE_URL", "USERNAME"))
                       for key in env)


def test_the_service_runs_on_a_manager_with_the_socket_and_its_data(tmp_path: Path) -> None:
    spec = spec_of(settings(tmp_path))
    template = spec["task_template"]
    assert template["Placement"]["Constraints"] == ["node.role == manager"]
    mounts = {m["Target"]: m for m in template["ContainerSpec"]["Mounts"]}
    assert mounts["/var/run/docker.sock"]["Type"] == "bind"
    assert mounts["/data"] == {"Target": "/data", "Source": "yadockeri-data", "Type": "volume", "ReadOnly": False,
                               "VolumeOptions": {"Labels": {INSTALL_LABEL: "yadockeri"}}}
    # Not the router network, where every stack's web process is: the control network, which
    # only the router shares with yadockeri (no web process can reach the bot or status ports).
    assert [n["Target"] for n in template["Networks"]] == ["yadockeri-control"]
    container = template["ContainerSpec"]
    assert container["CapabilityDrop"] == ["ALL"] and "CAP_NET_RAW" not in container["CapabilityAdd"]
    assert spec["mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["update_config"]["Order"] == "stop-first"


def test_socket_mode_publishes_nothing_and_http_mode_publishes_the_bot_port_in_host_mode(tmp_path: Path) -> None:
    socket = spec_of(settings(tmp_path))
    assert socket["endpoint_spec"].get("Ports") in (None, [])
    assert "SLACK_APP_TOKEN" in {s["File"]["Name"] for s in socket["task_template"]["ContainerSpec"]["Secrets"]}
    http = spec_of(settings(tmp_path, bot_mode="http", bot_port=3300))
    assert http["endpoint_spec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 3300, "PublishedPort": 3300,
                                               "PublishMode": "host"}]
    # The bot runs Socket Mode whenever it finds an app token: HTTP mode does not mount it.
    assert "SLACK_APP_TOKEN" not in {s["File"]["Name"] for s in http["task_template"]["ContainerSpec"]["Secrets"]}


def test_the_api_is_published_only_when_an_address_is_chosen_for_it(tmp_path: Path) -> None:
    assert spec_of(settings(tmp_path))["endpoint_spec"].get("Ports") in (None, [])
    published = settings(tmp_path, api_bind="10.0.0.5", api_port=8443)
    assert spec_of(published)["endpoint_spec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 8443, "PublishedPort": 8443, "PublishMode": "host"}]
    env = install.service_env(published, image="img:1", router_image="router:1", with_config=False)
    assert env["YADOCKERI_API_BIND"] == "0.0.0.0" and env["YADOCKERI_API_PORT"] == "8443"


def test_the_spec_hash_changes_with_the_image_and_only_then(tmp_path: Path) -> None:
    s = settings(tmp_path)
    one, again, other = spec_of(s), spec_of(s), spec_of(s, image_id="sha256:2")
    assert one["labels"][HASH_LABEL] == again["labels"][HASH_LABEL]
    assert one["labels"][HASH_LABEL] != other["labels"][HASH_LABEL]


def test_secret_names_are_stable_fingerprints_that_do_not_show_the_value() -> None:
    name = install.secret_name("yadockeri", "slack-bot-token", "xoxb-1")
    assert name == install.secret_name("yadockeri", "slack-bot-token", "xoxb-1")
    assert name != install.secret_name("yadockeri", "slack-bot-token", "xoxb-2")
    assert name.startswith("yadockeri-slack-bot-token-") and "xoxb" not in name
    assert len(name) <= 64  # Docker's limit for a secret name


def test_settings_read_every_secret_from_the_file_install_mounts(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    def value_of(field: str) -> str:
        return "ab" * 32 if field == "router_token" else f"value-of-{field}"  # the token is hex

    for definition in install.SECRETS:
        (folder / definition.filename).write_text(value_of(definition.field) + "\n")
    s = Settings(_secrets_dir=folder, data_dir=tmp_path)
    for definition in install.SECRETS:
        value = getattr(s, definition.field)
        value = value.get_secret_value() if isinstance(value, SecretStr) else value
        assert value == value_of(definition.field), definition


def test_what_install_needs_for_each_mode(tmp_path: Path) -> None:
    bare = Settings(data_dir=tmp_path)
    assert install.required_roles(bare) == ["slack-bot-token", "slack-app-token"]
    assert install.required_roles(bare.model_copy(update={"bot_mode": "http"})) == ["slack-bot-token",
                                                                                   "slack-signing-secret"]
    assert "registry-password" in install.required_roles(bare.model_copy(update={"registry_username": "u"}))


def test_services_with_volumes_are_pinned_to_the_stack_node() -> None:
    text = ("services:\n"
            "  db: {image: postgres, volumes: ['data:/var/lib/postgresql/data']}\n"
            "  cache: {image: memcached}\n"
            "  scratch: {image: busybox, volumes: [{type: tmpfs, target: /t}]}\n"
            "volumes: {data: {}}\n")
    policy = MiddlewarePolicy(limits=Limits.of(Settings(data_dir=Path("/nonexistent"))),
                              capabilities=tuple(capabilities()), log_driver=log_driver("json-file"), registry=None,
                              own_images=frozenset(), max_bytes=256 * 1024)
    prepared = prepare_compose(text, stack="s", process_names=["web"], endpoint_mode="dnsrr",
                               labels={"yadockeri.stack": "s"}, policy=policy)
    pinned = pin_volumes_to_node(prepared, "abc123")
    services = pinned.data["services"]
    # The only placement a service gets is the one yadockeri adds (a branch's own is refused).
    assert services["db"]["deploy"]["placement"] == {"constraints": ["node.id == abc123"]}
    assert "placement" not in services["cache"]["deploy"] and "placement" not in services["scratch"]["deploy"]
    assert pinned.digest != prepared.digest and "node.id == abc123" in pinned.yaml
    assert pin_volumes_to_node(pinned, "abc123").digest == pinned.digest  # pinning twice changes nothing
    with pytest.raises(ValueError):
        pin_volumes_to_node(prepared, "abc; rm")


def node(node_id: str, state: str = "ready", availability: str = "active") -> dict:
    return {"ID": node_id, "Status": {"State": state}, "Spec": {"Availability": availability},
            "Description": {"Hostname": node_id}}


def test_a_stack_node_is_the_schedulable_node_with_the_fewest_pinned_stacks() -> None:
    nodes_ = [node("a"), node("b"), node("c", availability="pause"), node("d", state="down")]
    assert nodes.choose_node(nodes_, Counter()) == "a"
    assert nodes.choose_node(nodes_, Counter({"a": 2, "b": 1})) == "b"
    with pytest.raises(YadockeriError, match="no swarm node is ready and active"):
        nodes.choose_node([node("c", availability="drain")], Counter())


def test_the_volume_job_runs_on_that_node_with_the_socket_and_no_health_check() -> None:
    spec = volume_job_spec(stack="akira", node_id="n1", image="reg/yadockeri:1")
    template = spec["task_template"]
    assert template["Placement"]["Constraints"] == ["node.id == n1"]
    assert template["ContainerSpec"]["Command"][-1] == "yadockeri.stack=akira"
    assert template["ContainerSpec"]["Healthcheck"]["Test"] == ["NONE"]
    assert spec["mode"] == {"ReplicatedJob": {}} and "yadockeri.stack" not in spec["labels"]


def test_the_image_job_runs_on_every_other_node_and_keeps_what_stacks_run() -> None:
    spec = image_job_spec(name="yadockeri__images", image="reg/yadockeri:1", apps=["shop", "blog"],
                                in_use={"reg/yadockeri/shop:b", "reg/yadockeri/shop:a"}, min_age=600, skip_node="m1")
    template = spec["task_template"]
    assert spec["mode"] == {"GlobalJob": {}} and template["Placement"]["Constraints"] == ["node.id != m1"]
    assert template["ContainerSpec"]["Command"] == [
        "python", "-m", "stacks.nodes", "collect-images", "--min-age", "600", "--apps", "shop,blog",
        "reg/yadockeri/shop:a", "reg/yadockeri/shop:b",
    ]
    assert template["ContainerSpec"]["Mounts"][0]["Target"] == "/var/run/docker.sock"
    assert template["ContainerSpec"]["Healthcheck"]["Test"] == ["NONE"]


@pytest.mark.parametrize("argv", [[], ["remove-volumes"], ["remove-volumes", "novalue"], ["collect-images", "x"],
                                  ["collect-images", "--apps", "a", "--min-age", "soon"], ["format-disk"]])
def test_the_node_jobs_refuse_wrong_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        nodes.main(argv)
    assert ended.value.code == 2


def test_image_references_of_the_registry() -> None:
    ref = split_ref("10.77.0.254:5000/yadockeri/app:abc", "10.77.0.254:5000")
    assert ref is not None and (ref.repository, ref.tag) == ("yadockeri/app", "abc")
    assert split_ref("yadockeri/app:abc", "10.77.0.254:5000") is None
    latest = split_ref("reg:5000/yadockeri/app", "reg:5000")
    assert latest is not None and latest.tag == "latest"


def test_the_health_check_says_why_the_bot_is_unhealthy() -> None:
    status = {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status["code"] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert health.check(port) is None
        status["code"] = 503
        assert health.check(port) == "/healthz answered 503"
    finally:
        server.shutdown()
        server.server_close()
    problem = health.check(port)
    assert problem is not None and "does not answer" in problem


def test_the_stack_file_mounts_the_secrets_where_settings_read_them() -> None:
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "deploy" / "yadockeri-stack.yml").read_text())
    bot = data["services"]["bot"]
    filenames = {d.role: d.filename for d in install.SECRETS}
    for secret in bot["secrets"]:
        role = secret["source"].removeprefix("yadockeri-")
        assert secret["target"] == filenames[role]
    assert bot["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in bot["volumes"]
    assert not [key for key in bot["environment"] if key.endswith(("TOKEN", "SECRET", "PASSWORD"))]
    assert bot["environment"]["YADOCKERI_SECRETS_DIR"] == "/run/secrets"
    assert data["services"]["router"]["deploy"]["mode"] == "global"
    assert data["services"]["router"]["ports"][0]["mode"] == "host"
    subnet = data["networks"]["router"]["ipam"]["config"][0]["subnet"]
    assert subnet == str(Settings.model_fields["router_subnet"].default)  # the same default as `yadockeri install`
