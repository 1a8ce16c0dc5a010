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

import hashlib
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import AliasChoices, SecretStr

from . import nodes, router
from .config import Settings, config_file
from .docker_adapter import Swarm
from .docker_adapter.labels import (
    CONFIG_ROLE_LABEL,
    HASH_LABEL,
    INSTALL_LABEL,
    SECRET_ROLE_LABEL,
    SERVICE_NAME_LABEL,
    control_network,
    data_volume,
)
from .docker_adapter.system_specs import (
    INSTALL_DATA_DIR,
    Attached,
    api_published,
    data_removal_spec,
    install_service_spec,
    uninstall_job_spec,
)
from .errors import ConfigError, YadockeriError
from .polling import poll_until
from .registry import ca_file

DATA_DIR = INSTALL_DATA_DIR
SECRETS_DIR = "/run/secrets"
CONFIG_PATH = "/etc/yadockeri/yadockeri.yml"
ROUTER_PORT_INSIDE = 80  # what nginx listens on in its container
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
    SecretDef("github-token", "YADOCKERI_GITHUB_TOKEN", "github_token"),
    SecretDef("github-webhook-secret", "YADOCKERI_GITHUB_WEBHOOK_SECRET", "github_webhook_secret"),
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
    if api_published(settings):
        env["YADOCKERI_API_BIND"] = "0.0.0.0"  # in its container: the published port arrives there
    if with_config:
        env["YADOCKERI_CONFIG"] = CONFIG_PATH
    return dict(sorted(env.items()))



def installed_settings(settings: Settings) -> Settings:
    """The settings as installed: the router asks yadockeri about a stack it cannot reach on the
    control network, by name; and the control network is named after the service."""
    if not settings.status_url:
        settings = settings.model_copy(update={"status_url": f"http://{settings.service_name}:{settings.status_port}"})
    if not settings.control_network:
        settings = settings.model_copy(update={"control_network": control_network(settings.service_name)})
    return settings


# Docker ------------------------------------------------------------------------------------------
class Installer:
    """`yadockeri install`: the router, the secrets and configs, and the service, made what the settings say."""

    def __init__(self, swarm: Swarm, settings: Settings, *, say: Callable[[str], None] = print,
                 timeout: float = 240.0) -> None:
        self.swarm = swarm
        self.settings = installed_settings(settings)
        self.say = say
        self.timeout = timeout
        self.service = settings.service_name
        self.labels = {INSTALL_LABEL: self.service}

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
        spec = install_service_spec(settings, image=image, image_id=image_id, env=env, secrets=secrets, configs=configs)
        what = self.swarm.apply_service(spec)
        self.say(f"service {self.service}: {what}")
        service = self._wait_healthy(spec)
        remove_unused(self.swarm, self.labels, keep={s.name for s in secrets} | {c.name for c in configs})
        mode = ("HTTP mode, /slack/events on port " + str(settings.bot_port) if settings.bot_mode == "http"
                else "Socket Mode")
        self.say(f"yadockeri is running ({mode}); the router answers on port {settings.router_port} of every node")
        return service

    def _router_token(self) -> str:
        """The router's token (a Docker secret of the service, and in the router's nginx.conf):
        given, or the one the running router has (configs can be read back, secrets cannot), or new."""
        if self.settings.router_token:
            return self.settings.router_token.get_secret_value()
        return router.current_token(self.swarm, self.settings) or secrets.token_hex(32)

    def _image(self) -> tuple[str, str]:
        """The image to run (pushed to the registry if there is one) and its image ID."""
        ref = self.settings.image
        image_id = self.swarm.image_id(ref)
        if image_id is None:
            why = self.swarm.pull(ref)
            image_id = self.swarm.image_id(ref) if why is None else None
            if image_id is None:
                raise ConfigError(
                    f"YADOCKERI_IMAGE={ref} is not on this engine and cannot be pulled ({why}); "
                    "build it first: docker build -t yadockeri/yadockeri:latest . (docs/install.md)"
                )
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
        self.swarm.tag(image_id, target)
        self.swarm.push(target, lambda line: None)
        self.say(f"pushed {target}")
        return target

    def router_up(self) -> str:
        """The router network and service (stacks.router.ensure_router); with a registry, its
        image goes there first so that the router runs on every node. Returns the image."""
        settings = self.settings
        image = router.router_image(self.swarm, settings)
        if settings.registry:
            image = self._distribute(image, self.swarm.image_id(image) or image)
        firewall = router.ensure_router(self.swarm, settings.model_copy(update={"router_image": image}), timeout=120)
        self.say(f"router {settings.router_service}: up on port {settings.router_port} ({image})")
        self.say(firewall)
        return image

    def _secrets(self) -> list[Attached]:
        values = secret_values(self.settings)
        existing: dict[str, dict] = {}
        for secret in sorted(self.swarm.secrets(**self.labels), key=lambda s: s.get("CreatedAt", "")):
            role = secret["Spec"].get("Labels", {}).get(SECRET_ROLE_LABEL)
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
                secret_id, made = self.swarm.ensure_secret(name, values[role].encode(),
                                                           labels={**self.labels, SECRET_ROLE_LABEL: role})
                if made:
                    self.say(f"secret {name}: created")
            else:  # not given this time: the one an earlier install made stays
                name, secret_id = existing[role]["Spec"]["Name"], existing[role]["ID"]
            attached.append(Attached(secret_id, name, f"{SECRETS_DIR}/{filename}"))
        return attached

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
        for role, content, target in wanted:
            name = config_name(self.service, role, content)
            config_id = self.swarm.ensure_config(name, content, labels={**self.labels, CONFIG_ROLE_LABEL: role})
            attached.append(Attached(config_id, name, target))
        return attached

    def _wait_healthy(self, spec: dict) -> dict:
        """Until a task of this very spec runs (a task with a health check runs once healthy)."""
        name, want = spec["name"], spec["labels"][HASH_LABEL]

        def healthy() -> dict | None:
            service = self.swarm.service(name) or {}
            current = [t for t in self.swarm.tasks(name)
                       if t["Spec"]["ContainerSpec"].get("Labels", {}).get(HASH_LABEL) == want]
            if any(t["Status"]["State"] == "running" and t["DesiredState"] == "running" for t in current):
                if (service.get("UpdateStatus") or {}).get("State") in (None, "completed"):
                    return service
            return None

        def unhealthy() -> dict:
            current = [t for t in self.swarm.tasks(name)
                       if t["Spec"]["ContainerSpec"].get("Labels", {}).get(HASH_LABEL) == want]
            errors = [t["Status"].get("Err") or t["Status"].get("Message")
                      for t in sorted(current, key=lambda t: t.get("UpdatedAt", ""))]
            logs = "\n".join(self.swarm.service_logs(name, tail=15))
            raise YadockeriError(
                f"the service {name} did not become healthy within {self.timeout:.0f}s"
                + (f" ({errors[-1]})" if errors else "") + (f"\nlast log lines:\n{logs}" if logs else ""))

        return poll_until(healthy, timeout=self.timeout, interval=1.0, timed_out=unhealthy) or {}


def remove_unused(swarm: Swarm, labels: dict[str, str], keep: set[str]) -> None:
    """Remove install's secrets and configs but those named in `keep` (one still used by a
    task going away stays until the next run)."""
    for item in swarm.secrets(**labels):
        if item["Spec"]["Name"] not in keep:
            swarm.remove_secret(item["ID"])
    for item in swarm.configs(**labels):
        if item["Spec"]["Name"] not in keep:
            swarm.remove_config(item["ID"])


class Uninstaller:
    """`yadockeri uninstall [--stacks]`: the service, the router, the secrets and configs, and
    with --stacks every stack (by a job with the service's own settings) and the data."""

    def __init__(self, swarm: Swarm, settings: Settings, *, say: Callable[[str], None] = print) -> None:
        self.swarm = swarm
        self.settings = installed_settings(settings)
        self.say = say
        self.service = settings.service_name
        self.labels = {INSTALL_LABEL: self.service}
        self.volume = data_volume(self.service)

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
            self._destroy_stacks(service, node, destroy_local)
        self._router_down()
        remove_unused(self.swarm, self.labels, keep=set())
        self.say("secrets and configs: removed")
        if with_stacks and node is not None:
            self._remove_data(node)
        elif service is not None:
            self.say(f"the data volume {self.volume} is kept (database, generated key, git mirrors): "
                     "`yadockeri install` carries on with it; to remove it with every stack, `yadockeri install`, "
                     "then `yadockeri uninstall --stacks`")

    def _destroy_stacks(self, service: dict | None, node: str | None, destroy_local: Callable[[], int] | None) -> None:
        if service is not None and node is not None:
            self.say("destroying every stack...")
            spec = uninstall_job_spec(service, name=f"{self.service}-uninstall", node=node, labels=self.labels)
            _, lines = nodes.run_on_node(self.swarm, spec, timeout=3600)
            for line in lines:
                self.say(f"  {line}")
        elif self.swarm.volumes(**self.labels):
            raise ConfigError(f"{self.service} is not installed, but its data (and so the list of its stacks) "
                              f"is in the volume {self.volume}: run `yadockeri install`, "
                              "then `yadockeri uninstall --stacks`")
        elif destroy_local is not None:
            self.say(f"{destroy_local()} stacks destroyed")

    def _node_of(self, name: str) -> str | None:
        tasks = sorted(self.swarm.tasks(name), key=lambda t: t.get("UpdatedAt", ""))
        with_node = [t for t in tasks if t.get("NodeID")]
        running = [t for t in with_node if t["Status"]["State"] == "running"]
        candidates = running or with_node
        return candidates[-1]["NodeID"] if candidates else None

    def _wait_no_tasks(self, name: str, timeout: float = 90.0) -> None:
        # (this node's containers: the data volume's node, mostly)
        poll_until(lambda: True if not self.swarm.containers(**{SERVICE_NAME_LABEL: name}) else None,
                   timeout=timeout, interval=0.5, timed_out=lambda: None)

    def _router_down(self) -> None:
        settings = self.settings
        network = self.swarm.networks_named(settings.router_network)
        users = [svc["Spec"]["Name"] for svc in self.swarm.services()
                 if network and network[0]["Id"] in _network_ids(svc)
                 and svc["Spec"]["Name"] not in (settings.router_service, self.service)]
        if not users:
            router.remove_router(self.swarm, settings)
            self.say(f"router {settings.router_service} and network {settings.router_network}: removed")
            return
        # Stacks still run: their web services keep the network; only the router goes, and its
        # nginx.conf configs once its tasks are gone.
        self.swarm.remove_service(settings.router_service)
        poll_until(lambda: True if not router.remove_stale_configs(self.swarm, settings) else None,
                   timeout=30, interval=1.0, timed_out=lambda: None)
        self.say(f"router {settings.router_service}: removed; network {settings.router_network} kept "
                 f"({len(users)} services of stacks use it)")

    def _remove_data(self, node: str) -> None:
        if node == self.swarm.local_node_id():
            failed = self.swarm.free_and_remove_volumes([f"{INSTALL_LABEL}={self.service}"], say=lambda line: None)
            self.say(f"data volume {self.volume}: " + ("could not be removed" if failed else "removed"))
            return
        nodes.run_on_node(self.swarm, data_removal_spec(service=self.service, image=self.settings.image, node=node))
        self.say(f"data volume {self.volume}: removed")


def _network_ids(service: dict) -> list[str]:
    return [a.get("Target") for a in service["Spec"].get("TaskTemplate", {}).get("Networks") or []]


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
