"""`yadockeri install` / `yadockeri uninstall [--stacks]`: yadockeri on the swarm it manages.

install makes, from the settings of the command that runs it (docs/install.md):
- the router network and the router, a global service published in host mode on every node
  (stacks.router.ensure_router; with a registry its image is pushed there so every node pulls it);
- Docker secrets for the Slack tokens, the secret key, the registry login, git credentials and
  the database URL, each named `<service>-<role>-<fingerprint>` (a slow salted hash of the value:
  a changed value is a new secret, an unchanged one the same), mounted as files in /run/secrets
  under the names Settings reads there (YADOCKERI_SECRETS_DIR); never a value in the service spec;
- Docker configs for yadockeri.yml and the registry's CA certificate, if there are any;
- the service `<service>` (YADOCKERI_SERVICE_NAME, default `yadockeri`): one replica on a manager
  (`node.role == manager`), running `yadockeri bot` from YADOCKERI_IMAGE, with the Docker socket
  and the data volume `<service>-data` mounted, on the router network (it checks deployments
  through the router). Socket Mode by default; with YADOCKERI_BOT_MODE=http the bot port is
  published in host mode, for a TLS terminator in front.

Idempotent: every object is named or labelled by a hash of what it holds, so a second run with
nothing changed writes nothing (every service keeps its Version.Index); a new image (its ID is a
label of the spec) or a changed setting updates the service in place.

uninstall removes the service, the router, their secrets and configs; the data volume (database,
generated secret key, git mirrors) is kept so that a new install carries on. With --stacks,
every stack is destroyed first, through the engine, by a job with the service's own settings and
data, and then the data volume goes too.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import docker.errors
from docker.types import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    RestartPolicy,
    RollbackConfig,
    SecretReference,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)
from pydantic import AliasChoices, SecretStr

from . import nodes, router, specs
from .config import Settings, config_file
from .errors import ConfigError, YadockeriError
from .limits import LOG_MAX_FILE, LOG_MAX_SIZE, capabilities, restrict_privileges
from .registry import ca_file
from .swarm import Swarm, docker_errors

INSTALL_LABEL = "yadockeri.install"  # on everything install makes; the value is the service name
IMAGE_ID_LABEL = "yadockeri.image-id"  # a new image under the same tag is a new spec
DATA_DIR = "/data"
SECRETS_DIR = "/run/secrets"
CONFIG_PATH = "/etc/yadockeri/yadockeri.yml"
ROUTER_PORT_INSIDE = 80  # what nginx listens on in its container
NANO = 1_000_000_000
FINGERPRINT_ROUNDS = 100_000


@dataclass(frozen=True)
class SecretDef:
    role: str  # in the Docker secret's name: <service>-<role>-<fingerprint>
    filename: str  # the file in /run/secrets: the name Settings reads (case does not matter)
    field: str  # the Settings field it fills


SECRETS = (
    SecretDef("slack-bot-token", "SLACK_BOT_TOKEN", "slack_bot_token"),
    SecretDef("slack-signing-secret", "SLACK_SIGNING_SECRET", "slack_signing_secret"),
    SecretDef("slack-app-token", "SLACK_APP_TOKEN", "slack_app_token"),
    SecretDef("secret-key", "YADOCKERI_SECRET_KEY", "secret_key"),
    SecretDef("registry-username", "YADOCKERI_REGISTRY_USERNAME", "registry_username"),
    SecretDef("registry-password", "YADOCKERI_REGISTRY_PASSWORD", "registry_password"),
    SecretDef("git-token", "YADOCKERI_GIT_TOKEN", "git_token"),
    SecretDef("git-ssh-key", "YADOCKERI_GIT_SSH_KEY", "git_ssh_key"),
    SecretDef("database-url", "YADOCKERI_DATABASE_URL", "database_url"),
    SecretDef("router-token", "YADOCKERI_ROUTER_TOKEN", "router_token"),
    SecretDef("builder-tls-ca", "YADOCKERI_BUILDER_TLS_CA", "builder_tls_ca"),
    SecretDef("builder-tls-cert", "YADOCKERI_BUILDER_TLS_CERT", "builder_tls_cert"),
    SecretDef("builder-tls-key", "YADOCKERI_BUILDER_TLS_KEY", "builder_tls_key"),
)
SECRET_FIELDS = frozenset(s.field for s in SECRETS)
# Settings that are not passed on as they are: set by install itself, or meaningless in the service.
NOT_PASSED = frozenset({
    "data_dir", "apps", "router_url", "router_base_image", "router_image", "image", "service_name", "bot_mode",
})


# Pure parts --------------------------------------------------------------------------------------
def fingerprint(value: str) -> str:
    """A slow salted hash: names a secret by its value without giving the value away."""
    return hashlib.pbkdf2_hmac("sha256", value.encode(), b"yadockeri-install-secret", FINGERPRINT_ROUNDS).hex()[:12]


def secret_name(service: str, role: str, value: str) -> str:
    return f"{service}-{role}-{fingerprint(value)}"


def config_name(service: str, role: str, content: bytes) -> str:
    return f"{service}-{role}-{hashlib.sha256(content).hexdigest()[:12]}"


def control_network(settings: Settings) -> str:
    return f"{settings.service_name}-control"


def data_volume(settings: Settings) -> str:
    return f"{settings.service_name}-data"


def secret_values(settings: Settings) -> dict[str, str]:
    """role -> value, for the secrets the settings give (others may exist from an earlier install)."""
    values = {}
    for secret in SECRETS:
        value = getattr(settings, secret.field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value:
            values[secret.role] = str(value)
    return values


def required_roles(settings: Settings) -> list[str]:
    roles = ["slack-bot-token"]
    roles.append("slack-app-token" if settings.bot_mode == "socket" else "slack-signing-secret")
    if settings.registry_username:
        roles.append("registry-password")
    return roles


def mounted_roles(settings: Settings, available: set[str]) -> list[str]:
    """The secrets the service mounts: all it has, except the app token in HTTP mode (the bot
    runs in Socket Mode whenever it finds one)."""
    skip = {"slack-app-token"} if settings.bot_mode == "http" else set()
    return [s.role for s in SECRETS if s.role in available and s.role not in skip]


def _env_name(name: str, field) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"YADOCKERI_{name.upper()}"


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def service_env(settings: Settings, *, image: str, router_image: str, with_config: bool) -> dict[str, str]:
    """The service's plain environment: no secret ever (those are files in /run/secrets).
    Every other setting that differs from its default is passed on as it is."""
    env = {}
    for name, field in Settings.model_fields.items():
        if name in SECRET_FIELDS or name in NOT_PASSED:
            continue
        value = getattr(settings, name)
        if isinstance(value, SecretStr) or value is None:
            continue
        default = field.get_default(call_default_factory=True)
        if value != default:
            env[_env_name(name, field)] = _env_value(value)
    env.update({
        "YADOCKERI_DATA_DIR": DATA_DIR,
        "YADOCKERI_SECRETS_DIR": SECRETS_DIR,
        "YADOCKERI_IMAGE": image,
        "YADOCKERI_SERVICE_NAME": settings.service_name,
        "YADOCKERI_BOT_MODE": settings.bot_mode,
        "YADOCKERI_ROUTER_IMAGE": router_image,
        # From inside a container the router's published port is not reachable on the same node
        # (the node's own address hairpins through docker_gwbridge); the router network is.
        "YADOCKERI_ROUTER_URL": f"http://{settings.router_service}:{ROUTER_PORT_INSIDE}",
    })
    if with_config:
        env["YADOCKERI_CONFIG"] = CONFIG_PATH
    return dict(sorted(env.items()))


@dataclass(frozen=True)
class Attached:
    """A secret or config the service mounts: its ID, name and the path inside."""

    id: str
    name: str
    path: str


def service_spec(settings: Settings, *, image: str, image_id: str, env: dict[str, str],
                 secrets: list[Attached], configs: list[Attached], command: list[str] | None = None) -> dict:
    """kwargs of create_service/update_service for yadockeri itself. Pure."""
    labels = {"yadockeri.role": "yadockeri", INSTALL_LABEL: settings.service_name}
    container = ContainerSpec(
        image=image,
        command=command,
        env=[f"{key}={value}" for key, value in env.items()],
        labels={**labels, IMAGE_ID_LABEL: image_id},
        mounts=[
            Mount(nodes.DOCKER_SOCKET, nodes.DOCKER_SOCKET, type="bind"),
            Mount(DATA_DIR, data_volume(settings), type="volume", labels={INSTALL_LABEL: settings.service_name}),
        ],
        secrets=[SecretReference(s.id, s.name, filename=s.path.rsplit("/", 1)[1], uid="0", gid="0", mode=0o400)
                 for s in secrets],
        configs=[ConfigReference(c.id, c.name, filename=c.path, uid="0", gid="0", mode=0o444) for c in configs],
        stop_grace_period=30 * NANO,
        init=True,
    )
    restrict_privileges(container, capabilities())  # root for the socket and /data: no capability more
    ports = []
    if settings.bot_mode == "http":
        ports = [{"Protocol": "tcp", "TargetPort": settings.bot_port, "PublishedPort": settings.bot_port,
                  "PublishMode": "host"}]
    spec = {
        "name": settings.service_name,
        "task_template": TaskTemplate(
            container_spec=container,
            restart_policy=RestartPolicy(condition="any", delay=5 * NANO),
            placement=Placement(constraints=["node.role == manager"]),
            # Not the router network (every stack's web process is there): the control network,
            # which only the router shares with yadockeri.
            networks=[NetworkAttachmentConfig(settings.control_network or control_network(settings))],
            log_driver={"Name": "json-file", "Options": {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILE}},
        ),
        "mode": {"Replicated": {"Replicas": 1}},
        "endpoint_spec": EndpointSpec(mode="dnsrr", ports=ports),
        # One bot at a time (one SQLite writer, one host port): stop-first; back to the old
        # version if the new one does not become healthy.
        "update_config": UpdateConfig(parallelism=1, order="stop-first", failure_action="rollback", monitor=10 * NANO),
        "rollback_config": RollbackConfig(parallelism=1, order="stop-first"),
        "labels": {**labels, IMAGE_ID_LABEL: image_id},
    }
    return specs.with_hash(spec)


# Docker ------------------------------------------------------------------------------------------
class Installer:
    def __init__(self, swarm: Swarm, settings: Settings, *, say: Callable[[str], None] = print,
                 timeout: float = 240.0) -> None:
        self.swarm = swarm
        if not settings.status_url:
            # The router asks yadockeri about a stack it cannot reach: on the control network, by name.
            settings = settings.model_copy(update={"status_url": f"http://{settings.service_name}:{settings.status_port}"})
        if not settings.control_network:
            settings = settings.model_copy(update={"control_network": control_network(settings)})
        self.settings = settings
        self.say = say
        self.timeout = timeout
        self.service = settings.service_name
        self.labels = {INSTALL_LABEL: self.service}

    # install --------------------------------------------------------------------------------
    def install(self) -> dict:
        """Bring everything to what the settings say; returns the service as Docker reports it."""
        settings = self.settings
        nodes.require_registry(self.swarm, settings)
        settings = self.settings = settings.model_copy(update={"router_token": SecretStr(self._router_token())})
        image, image_id = self._image()
        router_image = self.router_up()
        secrets = self._secrets()
        configs = self._configs()
        env = service_env(settings, image=image, router_image=router_image,
                          with_config=any(c.path == CONFIG_PATH for c in configs))
        spec = service_spec(settings, image=image, image_id=image_id, env=env, secrets=secrets, configs=configs)
        what = self.swarm.apply_service(spec)
        self.say(f"service {self.service}: {what}")
        service = self._wait_healthy(spec)
        self._remove_unused({s.name for s in secrets} | {c.name for c in configs})
        mode = ("HTTP mode, /slack/events on port " + str(settings.bot_port) if settings.bot_mode == "http"
                else "Socket Mode")
        self.say(f"yadockeri is running ({mode}); the router answers on port {settings.router_port} of every node")
        return service

    def _router_token(self) -> str:
        """The router's token (a Docker secret of the service, and in the router's nginx.conf):
        given, or the one the running router has (configs can be read back, secrets cannot), or new."""
        if self.settings.router_token:
            return self.settings.router_token.get_secret_value()
        with docker_errors("reading the router's config"):
            current = router.current_token(self.swarm.client, self.settings)
        return current or secrets.token_hex(32)

    def _image(self) -> tuple[str, str]:
        """The image to run (pushed to the registry if there is one) and its image ID."""
        ref = self.settings.image
        api = self.swarm.api
        with docker_errors(f"looking up the image {ref}"):
            try:
                image_id = api.inspect_image(ref)["Id"]
            except docker.errors.ImageNotFound:
                try:
                    api.pull(ref)
                except docker.errors.APIError as error:
                    raise ConfigError(
                        f"YADOCKERI_IMAGE={ref} is not on this engine and cannot be pulled ({error.explanation or error}); "
                        "build it first: docker build -t yadockeri/yadockeri:latest . (docs/install.md)"
                    ) from None
                image_id = api.inspect_image(ref)["Id"]
        return self._distribute(ref, image_id), image_id

    def _distribute(self, ref: str, image_id: str) -> str:
        """With a registry: the image as `<registry>/<name>:<image id>`, pushed; else as it is."""
        registry = self.settings.registry
        if not registry:
            return ref
        if ref.startswith(registry.rstrip("/") + "/"):
            self.swarm.push(ref, lambda line: None)  # (a no-op when the registry has it already)
            return ref
        name = ref.split("@", 1)[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        target = f"{registry.rstrip('/')}/{name}:{image_id.split(':')[-1][:16]}"
        with docker_errors(f"tagging {ref} as {target}"):
            self.swarm.api.tag(image_id, target.rsplit(":", 1)[0], target.rsplit(":", 1)[1])
        self.swarm.push(target, lambda line: None)
        self.say(f"pushed {target}")
        return target

    def router_up(self) -> str:
        """The router network and service (stacks.router.ensure_router); with a registry, its
        image goes there first so that the router runs on every node. Returns the image."""
        settings = self.settings
        client = self.swarm.client
        image = router._router_image(client, settings)
        if settings.registry:
            image_id = self.swarm.api.inspect_image(image)["Id"]
            image = self._distribute(image, image_id)
        firewall = router.ensure_router(client, settings.model_copy(update={"router_image": image}), timeout=120)
        self.say(f"router {settings.router_service}: up on port {settings.router_port} ({image})")
        self.say(firewall)
        return image

    def _existing(self, kind: str) -> list[dict]:
        api = self.swarm.api
        with docker_errors(f"listing {kind}"):
            found = (api.secrets if kind == "secrets" else api.configs)(filters={"label": f"{INSTALL_LABEL}={self.service}"})
        return found

    def _secrets(self) -> list[Attached]:
        values = secret_values(self.settings)
        existing: dict[str, dict] = {}
        for secret in sorted(self._existing("secrets"), key=lambda s: s.get("CreatedAt", "")):
            role = secret["Spec"].get("Labels", {}).get("yadockeri.secret")
            if role:
                existing[role] = secret  # the newest of each role
        missing = [r for r in required_roles(self.settings) if r not in values and r not in existing]
        if missing:
            files = {s.role: s.filename for s in SECRETS}
            raise ConfigError("install needs " + ", ".join(files[r] for r in missing) + " (as environment variables, "
                              "or files in YADOCKERI_SECRETS_DIR); see docs/install.md")
        attached = []
        for role in mounted_roles(self.settings, set(values) | set(existing)):
            filename = next(s.filename for s in SECRETS if s.role == role)
            if role in values:
                name = secret_name(self.service, role, values[role])
                secret_id = self._ensure_secret(name, role, values[role])
            else:  # not given this time: the one an earlier install made stays
                name, secret_id = existing[role]["Spec"]["Name"], existing[role]["ID"]
            attached.append(Attached(secret_id, name, f"{SECRETS_DIR}/{filename}"))
        return attached

    def _ensure_secret(self, name: str, role: str, value: str) -> str:
        api = self.swarm.api
        with docker_errors(f"creating secret {name}"):
            for secret in api.secrets(filters={"name": name}):
                if secret["Spec"]["Name"] == name:
                    return secret["ID"]
            created = api.create_secret(name, value.encode(), labels={**self.labels, "yadockeri.secret": role})
        self.say(f"secret {name}: created")
        return created["ID"]

    def _configs(self) -> list[Attached]:
        wanted: list[tuple[str, bytes, str]] = []
        path = config_file()
        if path is not None:
            wanted.append(("config", path.read_bytes(), CONFIG_PATH))
        if self.settings.registry:
            ca = ca_file(self.settings.registry)
            if ca is not None:
                wanted.append(("registry-ca", ca.read_bytes(), f"/etc/docker/certs.d/{self.settings.registry}/ca.crt"))
        attached = []
        api = self.swarm.api
        for role, content, target in wanted:
            name = config_name(self.service, role, content)
            with docker_errors(f"creating config {name}"):
                found = [c for c in api.configs(filters={"name": name}) if c["Spec"]["Name"] == name]
                config_id = found[0]["ID"] if found else api.create_config(
                    name, content, labels={**self.labels, "yadockeri.config": role})["ID"]
            attached.append(Attached(config_id, name, target))
        return attached

    def _remove_unused(self, keep: set[str]) -> None:
        api = self.swarm.api
        for kind, remove in (("secrets", api.remove_secret), ("configs", api.remove_config)):
            for item in self._existing(kind):
                if item["Spec"]["Name"] not in keep:
                    with contextlib.suppress(docker.errors.APIError):  # still used by a task going away
                        remove(item["ID"])

    def _wait_healthy(self, spec: dict) -> dict:
        """Until a task of this very spec runs (a task with a health check runs once healthy)."""
        name, want = spec["name"], spec["labels"][specs.HASH_LABEL]
        deadline = time.monotonic() + self.timeout
        while True:
            service = self.swarm.service(name) or {}
            tasks = self.swarm.tasks(name)
            current = [t for t in tasks if t["Spec"]["ContainerSpec"].get("Labels", {}).get(specs.HASH_LABEL) == want]
            if any(t["Status"]["State"] == "running" and t["DesiredState"] == "running" for t in current):
                update = (service.get("UpdateStatus") or {}).get("State")
                if update in (None, "completed"):
                    return service
            if time.monotonic() > deadline:
                errors = [t["Status"].get("Err") or t["Status"].get("Message") for t in
                          sorted(current, key=lambda t: t.get("UpdatedAt", ""))]
                logs = "\n".join(self.swarm.service_logs(name, tail=15))
                raise YadockeriError(
                    f"the service {name} did not become healthy within {self.timeout:.0f}s"
                    + (f" ({errors[-1]})" if errors else "") + (f"\nlast log lines:\n{logs}" if logs else "")
                )
            time.sleep(1)

    # uninstall ------------------------------------------------------------------------------
    def uninstall(self, *, with_stacks: bool, destroy_local: Callable[[], int] | None = None) -> None:
        service = self.swarm.service(self.service)
        if service is not None and service["Spec"].get("Labels", {}).get(INSTALL_LABEL) != self.service:
            raise ConfigError(f"the service {self.service} was not made by `yadockeri install`; not touching it")
        node = self._node_of(self.service) if service is not None else None
        if service is not None:
            self.swarm.remove_service(self.service)
            self._wait_no_tasks(self.service)
            self.say(f"service {self.service}: removed")
        if with_stacks:
            if service is not None and node is not None:
                self._destroy_all_in_job(service, node)
            elif self.swarm.api.volumes(filters={"label": f"{INSTALL_LABEL}={self.service}"}).get("Volumes"):
                raise ConfigError(f"{self.service} is not installed, but its data (and so the list of its stacks) "
                                  f"is in the volume {data_volume(self.settings)}: run `yadockeri install`, "
                                  "then `yadockeri uninstall --stacks`")
            elif destroy_local is not None:
                self.say(f"{destroy_local()} stacks destroyed")
        self._router_down()
        self._remove_unused(set())
        self.say("secrets and configs: removed")
        if with_stacks and node is not None:
            self._remove_data(node)
        elif service is not None:
            self.say(f"the data volume {data_volume(self.settings)} is kept (database, generated key, git mirrors): "
                     "`yadockeri install` carries on with it; to remove it with every stack, `yadockeri install`, "
                     "then `yadockeri uninstall --stacks`")

    def _node_of(self, name: str) -> str | None:
        tasks = sorted(self.swarm.tasks(name), key=lambda t: t.get("UpdatedAt", ""))
        with_node = [t for t in tasks if t.get("NodeID")]
        running = [t for t in with_node if t["Status"]["State"] == "running"]
        candidates = running or with_node
        return candidates[-1]["NodeID"] if candidates else None

    def _wait_no_tasks(self, name: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # (this node's containers: the data volume's node, mostly)
            if not self.swarm.containers(**{"com.docker.swarm.service.name": name}):
                return
            time.sleep(0.5)

    def _destroy_all_in_job(self, service: dict, node: str) -> None:
        """Every stack destroyed by the engine, in a job with the service's settings, secrets and data."""
        template = service["Spec"]["TaskTemplate"]
        container = dict(template["ContainerSpec"])
        container["Command"] = ["python", "-m", "stacks.install", "destroy-all"]
        container["Healthcheck"] = dict(nodes.NO_HEALTHCHECK)  # the image's checks the bot, which this is not
        job_template = {
            "ContainerSpec": container,
            "RestartPolicy": {"Condition": "none"},
            "Placement": {"Constraints": [f"node.id == {node}"]},
            "Networks": template.get("Networks") or [],
        }
        spec = {"name": f"{self.service}-uninstall", "task_template": job_template,
                "mode": ServiceMode("replicated-job"), "labels": dict(self.labels)}
        self.say("destroying every stack...")
        _, lines = nodes.run_on_node(self.swarm, spec, timeout=3600)
        for line in lines:
            self.say(f"  {line}")

    def _router_down(self) -> None:
        settings = self.settings
        network = [n for n in self.swarm.api.networks(names=[settings.router_network])
                   if n["Name"] == settings.router_network]
        users = []
        if network:
            for svc in self.swarm.api.services():
                attached = [a.get("Target") for a in svc["Spec"].get("TaskTemplate", {}).get("Networks") or []]
                if network[0]["Id"] in attached and svc["Spec"]["Name"] not in (settings.router_service, self.service):
                    users.append(svc["Spec"]["Name"])
        if users:  # stacks still run: their web services keep the network; only the router goes
            self.swarm.remove_service(settings.router_service)
            pattern = router._config_name_re(settings)
            deadline = time.monotonic() + 30
            while True:  # its nginx.conf configs, once its tasks are gone
                left = [c for c in self.swarm.api.configs(filters={"name": f"{settings.router_service}-nginx-"})
                        if pattern.match(c["Spec"]["Name"])]
                for config in left:
                    with contextlib.suppress(docker.errors.APIError):
                        self.swarm.api.remove_config(config["ID"])
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(1)
            self.say(f"router {settings.router_service}: removed; network {settings.router_network} kept "
                     f"({len(users)} services of stacks use it)")
            return
        router.remove_router(self.swarm.client, settings)
        self.say(f"router {settings.router_service} and network {settings.router_network}: removed")

    def _remove_data(self, node: str) -> None:
        volume = data_volume(self.settings)
        if node == self.swarm.local_node_id():
            failed = nodes.remove_volumes(self.swarm.api, [f"{INSTALL_LABEL}={self.service}"], say=lambda line: None)
            self.say(f"data volume {volume}: " + ("could not be removed" if failed else "removed"))
            return
        spec = nodes.node_job_spec(
            name=f"{self.service}-data-removal", image=self.settings.image, constraint=f"node.id == {node}",
            command=nodes.remove_volumes_command(f"{INSTALL_LABEL}={self.service}"),
            labels={nodes.CLEANUP_LABEL: self.service, "yadockeri.role": "cleanup"})
        nodes.run_on_node(self.swarm, spec)
        self.say(f"data volume {volume}: removed")


# Inside the uninstall job ------------------------------------------------------------------------
def destroy_all(settings: Settings, say: Callable[[str], None] = print) -> int:
    """Destroy every stack of this yadockeri through the engine; returns how many."""
    from .engine import Actor, Engine

    engine = Engine(settings)
    actor = Actor(id="cli:uninstall", source="cli", admin=True)
    try:
        engine.start()
        count = 0
        for stack in engine.list_stacks():
            final = engine.destroy(stack.name, actor).wait()
            say(f"destroy {stack.name}: {final.state}" + (f" ({final.error})" if final.error else ""))
            count += final.state == "succeeded"
        return count
    finally:
        engine.close()


def nginx_conf(settings: Settings) -> str:
    """The router's nginx.conf for these settings (deploy/yadockeri-stack.yml mounts it as a config)."""
    return router.router_conf(settings, router.configured_status_upstream(settings))


def main(argv: list[str]) -> int:
    from .config import load_settings

    if argv == ["destroy-all"]:  # what the uninstall job runs
        destroy_all(load_settings(), say=lambda line: print(line, flush=True))
        return 0
    if argv == ["nginx-conf"]:
        sys.stdout.write(nginx_conf(load_settings()))
        return 0
    print("usage: python -m stacks.install destroy-all | nginx-conf", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
