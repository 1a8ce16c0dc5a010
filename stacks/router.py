"""The router: nginx as a global swarm service in front of every stack's web process.

`<stack>.<domain>` and `<anything>.<stack>.<domain>` are proxied to
`http://<stack>.yadockeri-web:8080`, a DNS alias that only yadockeri gives a stack's web
service on the router network (`web_alias`). Nothing else on that network has such a name,
and the router is on no other network, so whatever the Host header says the router reaches
stack web processes and nothing else: the service names, `tasks.*` names and IP addresses of
other services never become an upstream, because only the validated stack label of the Host
header goes into the upstream name.

nginx looks the name up at request time through Docker's embedded DNS (valid 1 s), so stacks
come and go without a reload, and a rolling update of a web service (dnsrr: the name resolves
to the task IPs) is followed within about a second.

Pages the router answers itself carry `X-Yadockeri-Page: <kind>` (`unknown-stack`,
`no-such-host`, `health`); the same header from an app is removed, so the header always means
the router answered. The access log is one `yadockeri-access {json}` line per request on the
router's stdout.

Pure functions render the nginx.conf and the service spec; the functions that call Docker are
small and translate docker errors into `stacks.errors`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import requests

from . import firewall, router_network
from .config import ROUTER_DIR, Settings
from .docker_adapter import Swarm
from .docker_adapter.labels import ALIAS_SUFFIX, ROLE_LABEL, WEB_PORT
from .docker_adapter.system_specs import router_service_spec
from .errors import BuildFailed, ConfigError, YadockeriError
from .polling import poll_until
from .secrets import derived_token

log = logging.getLogger(__name__)

PAGE_HEADER = "X-Yadockeri-Page"
UPSTREAM_HEADER = "X-Yadockeri-Upstream"  # which address answered: only for yadockeri's checks
CHECK_HEADER = "X-Yadockeri-Check"  # a readiness check of yadockeri, with the router token
ROUTER_TOKEN_HEADER = "X-Yadockeri-Router"  # the router to the status endpoint
STATUS_UPSTREAM_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?:[0-9]{1,5}")
ACCESS_LOG_PREFIX = "yadockeri-access "  # a JSON line per request (YADOCKERI_ROUTER_REQUEST_LOG)
ACTIVITY_PREFIX = "yadockeri-activity "  # STACK COUNT LAST_MSEC, once a second per busy stack
ACTIVITY_FIFO = "/run/yadockeri/activity.fifo"  # router/start.sh makes it
HEALTH_PATH = "/_router/health"
RESOLVE_PATH = "/_router/resolve/"  # + a stack: the addresses the router's DNS cache holds for its web
RESOLVED_HEADER = "X-Yadockeri-Resolved"
RESOLVE_PORT = 1  # nothing listens there: every address is tried and listed
ROUTER_IMAGE_REPO = "yadockeri/router"

# A stack name as a DNS label: the same rule as stacks.names.check_stack_name.
STACK_LABEL_RE = r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?"
_DOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


# nginx.conf ------------------------------------------------------------------------------------


def _normal_domains(domains: list[str]) -> list[str]:
    result: list[str] = []
    for domain in domains:
        name = domain.strip().lower().rstrip(".")
        if not _DOMAIN_RE.match(name):
            raise ConfigError(f"router domain {domain!r} is not a host name")
        if name not in result:
            result.append(name)
    if not result:
        raise ConfigError("the router needs at least one domain")
    # Most specific first: with `y.example.com` and `dev.y.example.com`, `a.dev.y.example.com`
    # is stack `a` of the second, not stack `dev` of the first (nginx tries regexes in order).
    return sorted(result, key=lambda d: (-d.count("."), -len(d), d))


def host_regex(domain: str, *, capture: bool) -> str:
    """PCRE matching `<stack>.<domain>` and `<anything>.<stack>.<domain>` (lowercase, no port)."""
    escaped = domain.replace(".", r"\.")  # a checked host name: only dots are special
    label = f"(?<stack_label>{STACK_LABEL_RE})" if capture else STACK_LABEL_RE
    return rf"~^(?:.+\.)?{label}\.{escaped}$"


_UNKNOWN_STACK_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>No stack named $stack</title></head>"
    "<body><h1>No stack named $stack here</h1>"
    "<p>No stack named <b>$stack</b> here (or its web process is not answering right now). "
    "Deploy one with <code>/yadockeri deploy $stack &lt;branch&gt;</code> in Slack or "
    "<code>yadockeri deploy $stack &lt;branch&gt;</code>.</p>"
    "<p><small>yadockeri router</small></p></body></html>\n"
)
_NO_SUCH_HOST_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Not found</title></head>"
    "<body><h1>Not found</h1><p>This router serves review stacks at "
    "<code>&lt;stack&gt;.&lt;domain&gt;</code>; this host name is not one of them.</p>"
    "<p><small>yadockeri router</small></p></body></html>\n"
)


def _nginx_string(text: str) -> str:
    """A double-quoted nginx string; `$name` stays a variable reference, a newline is `\\n`.
    Backslashes are kept as they are (nginx keeps `\\.` in a regex), only `\\n`, `\\t`,
    `\\r`, `\\\\` and `\\"` mean something in its quoted strings."""
    if "\\" in text.replace("\\.", ""):
        raise ValueError(f"unexpected backslash in {text!r}")
    return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'


STATUS_PATH = "/_yadockeri/stack/"


_STATUS_ERROR_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>$stack: no answer</title></head>"
    "<body><h1>$stack is not answering</h1><p>The web process of <b>$stack</b> is not answering, and yadockeri "
    "could not say why just now. Try again in a moment.</p><p><small>yadockeri router</small></p></body></html>\n"
)


def _nostack_location(status_upstream: str | None, router_token: str | None) -> str:
    """What the router says when a stack's web process cannot be reached. With a status
    upstream (yadockeri's narrow status endpoint) it asks yadockeri about that one stack
    (sleeping: it wakes); without one, or when yadockeri does not answer, it says unknown.
    Only yadockeri's own pages (404, 503) pass: any other answer of the status endpoint (a
    500, a 403 for a wrong token) becomes the router's own page, never the stack's answer."""
    unknown = f"""\
        location @unknown {{
            default_type text/html;
            charset utf-8;
            add_header {PAGE_HEADER} unknown-stack always;
            add_header Cache-Control no-store always;
            # $stack matched the label regex: safe to echo.
            return 404 {_nginx_string(_UNKNOWN_STACK_PAGE)};
        }}"""
    if status_upstream is None:
        return unknown.replace("location @unknown", "location @nostack")
    token = f"\n            proxy_set_header {ROUTER_TOKEN_HEADER} {_nginx_string(router_token)};" if router_token else ""
    return f"""\
        location @nostack {{
            # Only the stack label goes to yadockeri: no client header, cookie, path or body.
            proxy_pass http://{status_upstream}{STATUS_PATH}$stack;
            proxy_method GET;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Host yadockeri-status;
            proxy_set_header Accept $http_accept;{token}
            proxy_http_version 1.1;
            proxy_connect_timeout 2s;
            proxy_read_timeout 10s;
            proxy_hide_header {UPSTREAM_HEADER};
            proxy_intercept_errors on;
            error_page 502 504 = @unknown;
            error_page 400 401 403 405 500 501 505 = @status_error;
        }}

        location @status_error {{
            default_type text/html;
            charset utf-8;
            add_header {PAGE_HEADER} status-error always;
            add_header Cache-Control no-store always;
            add_header Retry-After 5 always;
            return 503 {_nginx_string(_STATUS_ERROR_PAGE)};
        }}

{unknown}"""


def _forwarded_maps(trusted_proxies: list[str], default_scheme: str, public_port: int | None) -> str:
    """X-Forwarded-* for the apps: what yadockeri knows (the routed host, the public scheme and
    port from settings), and the client's own values only from a configured proxy in front."""
    port = str(public_port or (443 if default_scheme == "https" else 80))
    suffix = f":{public_port}" if public_port else ""
    blocks: list[str] = []
    if trusted_proxies:
        blocks += [f"set_real_ip_from {cidr};" for cidr in trusted_proxies]
        blocks += ["real_ip_header X-Forwarded-For;", "real_ip_recursive on;"]
        blocks.append("geo $realip_remote_addr $from_proxy {\n        default 0;\n"
                      + "".join(f"        {cidr} 1;\n" for cidr in trusted_proxies) + "    }")
        blocks.append(f'map "$from_proxy:$http_x_forwarded_proto" $forwarded_proto {{\n        default {default_scheme};\n'
                      '        "1:http" http;\n        "1:https" https;\n    }')
        blocks.append(f'map "$from_proxy:$http_x_forwarded_port" $forwarded_port {{\n        default {port};\n'
                      '        "~^1:(?<trusted_port>[0-9]{1,5})$" $trusted_port;\n    }')
        blocks.append("map $from_proxy $forwarded_for {\n        default $remote_addr;\n"
                      "        1 \"$http_x_forwarded_for, $realip_remote_addr\";\n    }")
    else:
        blocks.append(f"map $host $forwarded_proto {{\n        default {default_scheme};\n    }}")
        blocks.append(f"map $host $forwarded_port {{\n        default {port};\n    }}")
        blocks.append("map $host $forwarded_for {\n        default $remote_addr;\n    }")
    # The routed host: the Host header's name as matched (lowercase, no port) and the public
    # port yadockeri's URLs carry. Never the raw header (apps build links from it).
    blocks.append(f"map $host $routed_host {{\n        default $host{suffix};\n    }}")
    return "\n".join("    " + block for block in blocks)


def _check_map(router_token: str | None) -> str:
    if router_token is None:
        return ('    map $host $upstream_shown {\n        default "";\n    }\n'
                '    map $host $router_check {\n        default 0;\n    }')
    token = _nginx_string(router_token)
    return ('    map $http_x_yadockeri_check $upstream_shown {\n        default "";\n'
            f"        {token} $upstream_addr;\n    }}\n"
            '    map $http_x_yadockeri_check $router_check {\n        default 0;\n'
            f"        {token} 1;\n    }}")


def render_nginx_conf(domains: list[str], *, web_port: int = WEB_PORT, status_upstream: str | None = None,
                      access_log: bool = True, request_log: bool = False, router_token: str | None = None,
                      default_scheme: str = "http", public_port: int | None = None,
                      trusted_proxies: list[str] | None = None) -> str:
    """The router's whole nginx.conf for these domains. Pure; never needs a reload for stacks.

    status_upstream: host:port of yadockeri's status endpoint (see _nostack_location).
    access_log: count requests per stack (off when activity is not tracked).
    request_log: also every request as a JSON line on stdout (for debugging).
    router_token: the router proves itself with it to the status endpoint, and a request that
      carries it in X-Yadockeri-Check is told which address answered (deploy readiness checks).
    default_scheme, public_port: how users reach the router (X-Forwarded-Proto/-Port, Host).
    trusted_proxies: CIDRs of proxies in front whose X-Forwarded-* are believed."""
    names = _normal_domains(list(domains))
    if status_upstream is not None and not STATUS_UPSTREAM_RE.fullmatch(status_upstream):
        raise ConfigError(f"the status endpoint address {status_upstream!r} is not HOST:PORT")
    if router_token is not None and not re.fullmatch(r"[0-9a-f]{16,128}", router_token):
        raise ValueError("the router token must be hex")
    if default_scheme not in ("http", "https"):
        raise ValueError(f"scheme {default_scheme!r}")
    proxies = [str(ipaddress.ip_network(cidr, strict=False)) for cidr in trusted_proxies or []]
    map_lines = "\n".join(
        f"        {_nginx_string(host_regex(d, capture=True))} $stack_label;" for d in names
    )
    server_names = "\n".join(f"        {_nginx_string(host_regex(d, capture=False))}" for d in names)
    return f"""\
# The yadockeri router. Generated by stacks.router.render_nginx_conf; do not edit by hand.
# Domains: {", ".join(names)}
# <stack>.<domain> and <anything>.<stack>.<domain> go to http://<stack>.{ALIAS_SUFFIX}:{web_port},
# the alias only a stack's web service has on the router network. Nothing else is reachable.

user nginx;
# One worker: one DNS cache, which yadockeri's checks can see (RESOLVE_PATH), so a deploy is
# live only when every request reaches the new tasks. Proxying review apps is light work.
worker_processes 1;
worker_rlimit_nofile 40000;
error_log stderr warn;

events {{
    worker_connections 16384;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    client_max_body_size 100m;
    map_hash_bucket_size 256;  # the router token (up to 128 hex digits) is a map key

    # Docker's embedded DNS, asked at request time (proxy_pass with a variable): stacks come and
    # go without a reload, and after a rolling update the new task IPs are used within 1 s.
    # Unknown names must fail fast: a short resolver_timeout instead of the 30 s default.
    resolver 127.0.0.11 valid=1s ipv6=off;
    resolver_timeout 2s;

    # Activity: "STACK MSEC" per request into the router's counter (router/start.sh, a FIFO
    # written in atomic chunks of at most 4 KiB), which prints one summary line per busy stack a
    # second on stdout; yadockeri follows those. Requests that name no stack are not counted.
    log_format yadockeri_count '$stack $msec';
    map $stack $counted {{
        "" 0;
        default 1;
    }}
    {"access_log " + ACTIVITY_FIFO + " yadockeri_count buffer=4k flush=1s if=$counted;" if access_log else "access_log off;"}

    # Every request as one JSON object per line on stdout: off unless YADOCKERI_ROUTER_REQUEST_LOG.
    log_format yadockeri escape=json
        'yadockeri-access {{"time":$msec,"stack":"$stack","status":$status,'
        '"upstream_status":"$upstream_status","upstream_addr":"$upstream_addr",'
        '"request_time":$request_time,"upstream_response_time":"$upstream_response_time",'
        '"method":"$request_method","host":"$host","uri":"$uri","bytes_sent":$body_bytes_sent,'
        '"remote_addr":"$remote_addr","page":"$sent_http_x_yadockeri_page"}}';
    {"access_log /dev/stdout yadockeri buffer=64k flush=1s;" if request_log else ""}

    # $host is the Host header lowercased, without port and trailing dot. Only the stack label
    # it yields ever becomes part of an upstream name. Most specific domain first.
    map $host $stack {{
        default "";
{map_lines}
    }}

    # What the app is told about the request (X-Forwarded-*, Host): from yadockeri's settings,
    # and from a client only when it is a configured proxy (YADOCKERI_TRUSTED_PROXIES).
{_forwarded_maps(proxies, default_scheme, public_port)}

    # A readiness check of yadockeri (X-Yadockeri-Check with the router's token) is told which
    # task answered: a deploy is ready when its new task answers, not an old one or another stack.
{_check_map(router_token)}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" close;
    }}

    # Any host that is not <...>.<stack>.<domain>: IP literals, localhost, service names...
    server {{
        listen 80 default_server;
        server_name _;

        location = {HEALTH_PATH} {{
            access_log off;
            default_type text/plain;
            add_header {PAGE_HEADER} health always;
            add_header Cache-Control no-store always;
            return 200 "ok";
        }}

        # Which addresses this router's DNS cache holds for a stack's web now (yadockeri's
        # checks only: a deploy is live when no old task is left in it). Every cached address
        # is tried on a port nothing listens on, so nginx lists them all in $upstream_addr.
        # One worker process (above): one cache, the one every request of the stack uses.
        location ~ "^{RESOLVE_PATH}(?<resolve_stack>{STACK_LABEL_RE})$" {{
            access_log off;
            error_log stderr crit;  # the refused connections are the point, not news
            if ($router_check = 0) {{
                return 404;
            }}
            proxy_pass http://$resolve_stack.{ALIAS_SUFFIX}:{RESOLVE_PORT};
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 0;
            add_header {PAGE_HEADER} resolve always;
            add_header {RESOLVED_HEADER} $upstream_addr always;  # nginx sends no empty header
        }}

        location / {{
            default_type text/html;
            charset utf-8;
            add_header {PAGE_HEADER} no-such-host always;
            add_header Cache-Control no-store always;
            return 404 {_nginx_string(_NO_SUCH_HOST_PAGE)};
        }}
    }}

    # Stacks: the same regexes as the map above, so $stack is never empty here.
    server {{
        listen 80;
        server_name
{server_names};
        # @nostack may itself fall back to @unknown when yadockeri does not answer.
        recursive_error_pages on;

        location / {{
            proxy_pass http://$stack.{ALIAS_SUFFIX}:{web_port};

            proxy_http_version 1.1;
            proxy_set_header Host $routed_host;
            proxy_set_header X-Forwarded-For $forwarded_for;
            proxy_set_header X-Forwarded-Proto $forwarded_proto;
            proxy_set_header X-Forwarded-Host $routed_host;
            proxy_set_header X-Forwarded-Port $forwarded_port;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header Forwarded "";
            proxy_set_header {CHECK_HEADER} "";
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Proxy "";
            proxy_redirect off;
            # Only the router may say it answered, or which task did.
            proxy_hide_header {PAGE_HEADER};
            proxy_hide_header {UPSTREAM_HEADER};
            add_header {UPSTREAM_HEADER} $upstream_shown always;

            # dnsrr: the name resolves to the task IPs. Swarm takes a task out of DNS 2 s before
            # it stops it, so only a task that died unasked costs the connect timeout before
            # the next address is tried (tasks are on the overlay network, one hop away).
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_timeout 10s;
            proxy_send_timeout 300s;
            proxy_read_timeout 300s;

            # nginx's own 502/504 (name not found, nothing answering); an app's 502 passes.
            proxy_intercept_errors off;
            error_page 502 504 = @nostack;
        }}

{_nostack_location(status_upstream, router_token)}
    }}
}}
"""


# The router service ------------------------------------------------------------------------


def config_name_for(settings: Settings, conf: str) -> str:
    return f"{settings.router_service}-nginx-{hashlib.sha256(conf.encode()).hexdigest()[:12]}"


def _config_name_re(settings: Settings) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(settings.router_service)}-nginx-[0-9a-f]{{12}}$")


def find_network(swarm: Swarm, name: str) -> dict[str, Any] | None:
    found = swarm.networks_named(name)
    if len(found) > 1:
        raise ConfigError(f"several Docker networks are named {name}; remove the extra ones")
    return found[0] if found else None


def ensure_network(swarm: Swarm, name: str, subnet: IPv4Network | None = None) -> dict[str, Any] | None:
    """The network, made if missing (with `subnet`, checked against every other: router_network.py).
    Returns it as found if it existed already (None: made now, as asked)."""
    network = find_network(swarm, name)
    if network is None:
        if subnet is not None:
            router_network.check_subnet(subnet, pools=swarm.address_pools(), networks=swarm.all_networks(), name=name)
        swarm.create_network(name, labels={ROLE_LABEL: "router"}, attachable=False,
                             ipam=router_network.ipam(subnet) if subnet else None)
        return None
    if network.get("Driver") != "overlay" or network.get("Scope") != "swarm":
        raise ConfigError(
            f"network {name} exists but is not a swarm overlay network; remove it or set YADOCKERI_ROUTER_NETWORK"
        )
    if network.get("Attachable"):
        raise ConfigError(
            f"network {name} is attachable, so any container could claim a stack's name on it; "
            "remove it (yadockeri recreates it) or set YADOCKERI_ROUTER_NETWORK"
        )
    return network


def router_dir_hash(base_image: str, router_dir: Path = ROUTER_DIR) -> str:
    """Content hash of the router build context and base image: the router image's tag."""
    digest = hashlib.sha256(f"base={base_image}\n".encode())
    for path in sorted(p for p in router_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(router_dir).as_posix()
        if any(part.startswith(".") or part == "__pycache__" for part in relative.split("/")):
            continue
        digest.update(f"{relative}\n{len(path.read_bytes())}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def router_image(swarm: Swarm, settings: Settings) -> str:
    """YADOCKERI_ROUTER_IMAGE (pulled if missing), or the image built from router/ on the base image."""
    if settings.router_image:
        ref = settings.router_image
        why = None if swarm.image_exists(ref) else swarm.pull(ref)
        if why is not None:
            raise ConfigError(f"YADOCKERI_ROUTER_IMAGE={ref} is not a local image and cannot be pulled ({why})")
        return ref
    base = settings.router_base_image
    tag = f"{ROUTER_IMAGE_REPO}:{router_dir_hash(base)}"
    if swarm.image_exists(tag):
        return tag
    why = None if swarm.image_exists(base) else swarm.pull(base)
    if why is not None:
        raise ConfigError(
            f"the router's base image {base} is not here and cannot be pulled ({why}); "
            "set YADOCKERI_ROUTER_BASE_IMAGE to a local nginx image, or run scripts/offline-images.sh "
            "and set YADOCKERI_ROUTER_BASE_IMAGE=yadockeri/nginx-base:local"
        )
    try:
        swarm.build_folder(ROUTER_DIR, tag=tag, buildargs={"BASE_IMAGE": base})
    except BuildFailed as error:
        raise ConfigError(f"the router image could not be built from {ROUTER_DIR}: {error}") from None
    return tag


def _ensure_config(swarm: Swarm, settings: Settings, conf: str) -> tuple[str, str]:
    name = config_name_for(settings, conf)
    return name, swarm.ensure_config(name, conf.encode(), labels={ROLE_LABEL: "router"})


def remove_stale_configs(swarm: Swarm, settings: Settings, keep: str | None = None) -> list[str]:
    """Remove the router's nginx.conf configs but `keep`; returns those still in use by a task."""
    pattern = _config_name_re(settings)
    left = []
    for config in swarm.configs(name=f"{settings.router_service}-nginx-"):
        name = config["Spec"]["Name"]
        if name != keep and pattern.match(name) and not swarm.remove_config(config["ID"]):
            left.append(name)  # still used by a task, or gone: later
    return left


def _task_problem(swarm: Swarm, service: str) -> str:
    """The newest task error of a service, to say why the router does not answer."""
    try:
        tasks = swarm.tasks(service)
    except YadockeriError:
        return ""
    tasks.sort(key=lambda t: t.get("Status", {}).get("Timestamp", ""), reverse=True)
    for task in tasks:
        status = task.get("Status", {})
        if status.get("Err"):
            return f"; its task says: {status['Err']} ({status.get('State')})"
    if tasks:
        status = tasks[0].get("Status", {})
        return f"; its newest task is {status.get('State')}: {status.get('Message', '')}"
    return "; it has no task yet"


def _rolled_out(swarm: Swarm, spec: dict[str, Any]) -> bool:
    """Every task meant to run has the wanted spec and runs (no old task answers in its place)."""
    wanted = spec["task_template"]["ContainerSpec"]
    tasks = swarm.tasks(spec["name"], desired_running=True)
    if not tasks:
        return False
    for task in tasks:
        have = task.get("Spec", {}).get("ContainerSpec", {})
        have_configs = [c.get("ConfigID") for c in have.get("Configs") or []]
        if have.get("Image") != wanted["Image"] or have_configs != [c["ConfigID"] for c in wanted["Configs"]]:
            return False
        if task.get("Status", {}).get("State") != "running":
            return False
    return True


def health_ok(url: str) -> bool:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200 and response.headers.get(PAGE_HEADER) == "health"


def _wait_until_healthy(swarm: Swarm, settings: Settings, spec: dict[str, Any], timeout: float = 30.0) -> None:
    url = settings.router_check_url + HEALTH_PATH

    def healthy() -> bool | None:
        return True if _rolled_out(swarm, spec) and health_ok(url) else None

    def not_answering() -> bool:
        problem = _task_problem(swarm, spec["name"])
        raise ConfigError(
            f"the router service {spec['name']} did not answer {url} within {timeout:.0f}s{problem}. "
            f"Is port {settings.router_port} free on every node (YADOCKERI_ROUTER_PORT), and does "
            "YADOCKERI_ROUTER_URL reach it?"
        )

    poll_until(healthy, timeout=timeout, interval=0.1, timed_out=not_answering)


def router_conf(settings: Settings, status_upstream: str | None) -> str:
    """The router's nginx.conf for these settings (ensure_router, and the documented stack file)."""
    return render_nginx_conf(settings.domains, status_upstream=status_upstream, access_log=settings.activity_tracking,
                             request_log=settings.router_request_log, router_token=router_token(settings),
                             default_scheme=settings.url_scheme, public_port=public_port(settings),
                             trusted_proxies=settings.trusted_proxy_networks)


def current_token(swarm: Swarm, settings: Settings) -> str | None:
    """The token in the nginx.conf the router service runs now, if any (a swarm config can be
    read back; `yadockeri install` keeps the token the installed service was given)."""
    conf = _running_conf(swarm, swarm.service(settings.router_service))
    match = re.search(r'"([0-9a-f]{32,128})" \$upstream_addr;', conf or "")
    return match.group(1) if match else None


def public_port(settings: Settings) -> int | None:
    """The port in the stacks' URLs, if they carry one (as Settings.stack_url writes them)."""
    default = 80 if settings.url_scheme == "http" else 443
    return None if settings.url_scheme == "https" or settings.router_port == default else settings.router_port


def router_token(settings: Settings) -> str:
    """The secret the router proves itself with to the status endpoint, and that lets
    yadockeri's readiness checks see which task answered: YADOCKERI_ROUTER_TOKEN (install sets
    it), else derived from the install's key (every process on this host computes the same)."""
    if settings.router_token:
        return settings.router_token.get_secret_value()
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return derived_token(key, settings.data_dir, "router")


def configured_status_upstream(settings: Settings) -> str | None:
    """host:port of YADOCKERI_STATUS_URL, if it is set."""
    return settings.status_url.split("://", 1)[-1].rstrip("/") if settings.status_url else None


def status_upstream(swarm: Swarm, settings: Settings) -> str | None:
    """host:port where the router reaches yadockeri's status endpoint: YADOCKERI_STATUS_URL,
    else this host as the router's containers see it (the docker_gwbridge gateway): right when
    yadockeri runs on the manager's host; `yadockeri install` sets the URL of its service."""
    if settings.status_url:
        return configured_status_upstream(settings)
    gateway = swarm.network_gateway("docker_gwbridge")
    return f"{gateway}:{settings.status_port}" if gateway else None


def router_differences(service: dict[str, Any] | None, *, running_tasks: int, network_id: str | None,
                       settings: Settings, conf: str | None) -> list[str]:
    """How the router service differs from what a deploy with `settings` needs of it: its port,
    network and domains, and an nginx.conf of this yadockeri with this token (yadockeri's checks
    see which task answers through it). Empty: it will do. Pure; `conf` is the running nginx.conf."""
    name = settings.router_service
    if service is None:
        return [f"the router (service `{name}`) is not running, so no stack can be reached"]
    spec = service["Spec"]
    found: list[str] = []
    ports = [p.get("PublishedPort") for p in spec.get("EndpointSpec", {}).get("Ports") or []]
    if settings.router_port not in ports:
        found.append(f"it listens on port {', '.join(map(str, ports)) or 'none'}, the settings say {settings.router_port}")
    networks = [n.get("Target") for n in spec.get("TaskTemplate", {}).get("Networks") or []]
    if not {network_id, settings.router_network} & set(networks):  # Docker keeps the network's id
        found.append(f"it is not on the network `{settings.router_network}`")
    domains = ", ".join(_normal_domains(settings.domains))
    running = re.search(r"^# Domains: (.*)$", conf or "", re.MULTILINE)
    if conf is None or RESOLVE_PATH not in conf:
        found.append("its nginx.conf is not this yadockeri's (an older version's, or none)")
    elif running is None or running.group(1) != domains:
        found.append(f"it serves {running.group(1) if running else 'other domains'}, the settings say {domains}")
    elif f"{_nginx_string(router_token(settings))} 1;" not in conf:
        found.append("it has another router token (YADOCKERI_ROUTER_TOKEN), so yadockeri cannot check what it serves")
    if not found and running_tasks == 0:
        found.append(f"it has no running task (see `docker service ps {name}`)")
    return found


def check_router(swarm: Swarm, settings: Settings) -> None:
    """Refuse at once when the router does not run as these settings say: a deploy would wait its
    whole timeout for a router that never answers for it. Never changes the router."""
    service = swarm.service(settings.router_service)
    network = find_network(swarm, settings.router_network)
    running = len(swarm.tasks(settings.router_service, desired_running=True)) if service else 0
    conf = _running_conf(swarm, service)
    found = router_differences(service, running_tasks=running, network_id=(network or {}).get("Id"),
                               settings=settings, conf=conf)
    if found:
        raise YadockeriError("; ".join(found) + ". Run `yadockeri router` to start it with these settings "
                             "(scripts/up.sh does); a deploy never changes the shared router itself")


def _running_conf(swarm: Swarm, service: dict[str, Any] | None) -> str | None:
    """The nginx.conf the router service runs (a swarm config can be read back)."""
    configs = (service or {}).get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {}).get("Configs") or []
    for reference in configs:
        if reference.get("File", {}).get("Name") == "/etc/nginx/nginx.conf":
            return swarm.config_data(reference["ConfigID"])
    return None


def ensure_router(swarm: Swarm, settings: Settings, *, timeout: float = 30.0) -> str:
    """Make the router network, image, config and service what `settings` say, and the host's
    packet filter (stacks/firewall.py) unless YADOCKERI_FIREWALL is off. Idempotent: when
    nothing changed, nothing is written (the service's version stays the same). Returns what
    the packet filter says."""
    image = router_image(swarm, settings)  # first: a wrong image setting creates nothing
    existing = ensure_network(swarm, settings.router_network, settings.router_subnet)
    notice = router_network.too_small(existing, settings) if existing else None
    if settings.control_network:
        ensure_network(swarm, settings.control_network)
    conf = router_conf(settings, status_upstream(swarm, settings))
    config_name, config_id = _ensure_config(swarm, settings, conf)
    spec = router_service_spec(settings, image=image, config_name=config_name, config_id=config_id)
    swarm.apply_service(spec)
    _wait_until_healthy(swarm, settings, spec, timeout=timeout)
    remove_stale_configs(swarm, settings, keep=config_name)
    firewall_said = ensure_firewall(settings)
    if notice:
        log.warning("%s", notice)
    return f"{notice}\n{firewall_said}" if notice else firewall_said


def ensure_firewall(settings: Settings) -> str:
    """The host's rules for what stack containers may reach (stacks/firewall.py)."""
    if not settings.firewall:
        return "packet filter: off (YADOCKERI_FIREWALL=false): stack containers can reach this host's ports"
    rules = firewall.plan(status_port=None if settings.status_url else settings.status_port,
                          blocked=settings.firewall_block_networks)
    message = "packet filter: " + firewall.apply(rules)
    log.info("%s", message)
    return message


def remove_router(swarm: Swarm, settings: Settings, *, timeout: float = 60.0) -> None:
    """Remove the router service, its configs and its networks. Idempotent."""
    swarm.remove_service(settings.router_service)
    remove_stale_configs(swarm, settings)
    deadline = time.monotonic() + timeout
    for name in filter(None, (settings.router_network, settings.control_network)):
        remove_network(swarm, name, deadline, timeout)


def remove_network(swarm: Swarm, name: str, deadline: float, timeout: float) -> None:
    """Remove the network, retried while the router's tasks leave it; then wait until this node
    dropped its copy too (after the manager removed it, once the router's containers stopped),
    so that an install right after finds no leftovers."""
    removed = False

    def gone() -> bool | None:
        nonlocal removed
        network = find_network(swarm, name)
        if network is None:
            return True
        if not removed:
            try:
                swarm.remove_network(network["Id"])
                removed = True
            except YadockeriError as error:  # "in use by task": the service's tasks are going away
                if time.monotonic() >= deadline:
                    raise ConfigError(f"network {name} is still in use after {timeout:.0f}s "
                                      f"(are stacks still attached to it?): {error}") from None
        return None

    def late() -> bool:
        if not removed:
            gone()  # one last try: it raises, with Docker's reason
        return True

    poll_until(gone, timeout=max(0.0, deadline - time.monotonic()), interval=0.2, timed_out=late)
