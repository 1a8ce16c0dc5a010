"""The router's nginx.conf and service spec, without Docker: pure functions, the committed
default config, `nginx -t`, and the real nginx binary of this machine serving the rendered
config (Host normalisation, router pages, the access log format)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from typing import Any

import pytest
import requests
from docker.types import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from stacks.config import ROUTER_DIR, Settings
from stacks.docker_adapter.labels import web_alias
from stacks.docker_adapter.system_specs import router_service_spec
from stacks.errors import ConfigError, InvalidName
from stacks.names import check_stack_name
from stacks.router import (
    STACK_LABEL_RE,
    config_name_for,
    host_regex,
    render_nginx_conf,
    router_differences,
    router_dir_hash,
)
from tests.support.host_nginx import NGINX, DnsServer, qname, runnable_conf, serve


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        router_network="rnet", router_service="rsvc", router_port=8123, router_image=None,
        router_base_image="yadockeri/nginx-base:local", router_url=None, domain="y.localhost", data_dir="/nonexistent",
    )
    values.update(overrides)
    return Settings(**values)


def _py_regex(nginx_regex: str) -> re.Pattern[str]:
    """An nginx `~...` PCRE as a Python regex (named groups are spelled differently)."""
    assert nginx_regex.startswith("~")
    return re.compile(nginx_regex[1:].replace("(?<", "(?P<"))


def _stack_for(host: str, domains: list[str]) -> str | None:
    """What the rendered `map $host $stack` yields, read back from the rendered text."""
    block = render_nginx_conf(domains).split("map $host $stack {", 1)[1].split("\n    }", 1)[0]
    for pattern in re.findall(r'"(~[^"]+)" \$stack_label;', block):
        match = _py_regex(pattern).match(host)
        if match:
            return match.group("stack_label")
    return None


# The committed default ------------------------------------------------------------------------


def test_committed_nginx_conf_is_the_render_of_the_defaults():
    committed = (ROUTER_DIR / "nginx.conf").read_text()
    assert committed == render_nginx_conf(["y.localhost"]), (
        "router/nginx.conf is stale: regenerate it with "
        "python -c 'from stacks.router import render_nginx_conf as r; "
        "open(\"router/nginx.conf\", \"w\").write(r([\"y.localhost\"]))'"
    )
    assert render_nginx_conf(Settings(data_dir="/nonexistent", domain="y.localhost").domains) == committed


def test_dockerfile_builds_from_a_base_image_argument():
    text = (ROUTER_DIR / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=nginx:stable-alpine" in text
    assert "FROM ${BASE_IMAGE}" in text
    assert "COPY nginx.conf activity.awk /etc/nginx/" in text
    assert 'CMD ["/usr/local/bin/yadockeri-router"]' in text  # router/start.sh: nginx and its request counter


# Rendering ------------------------------------------------------------------------------------


def test_web_alias_is_dotted_and_only_for_stacks():
    assert web_alias("akira") == "akira.yadockeri-web"
    conf = render_nginx_conf(["y.localhost"])
    assert "proxy_pass http://$stack.yadockeri-web:8080;" in conf
    assert re.findall(r"proxy_pass .*;", conf) == ["proxy_pass http://$resolve_stack.yadockeri-web:1;",
                                                   "proxy_pass http://$stack.yadockeri-web:8080;"]
    assert "proxy_pass http://$stack.yadockeri-web:5000;" in render_nginx_conf(["y.localhost"], web_port=5000)


def test_the_dns_cache_check_needs_the_router_token_and_a_stack_label():
    """Only yadockeri's checks see which addresses the router's one DNS cache holds for a
    stack's web; the path takes a stack label only, and the port tried is one nothing serves."""
    conf = render_nginx_conf(["y.localhost"], router_token="0123abcdef0123abcdef")
    assert "worker_processes 1;" in conf  # one worker, one cache: the check sees what requests use
    location = conf[conf.index("/_router/resolve/"):]
    location = location[:location.index("\n        }\n")]
    assert '(?<resolve_stack>[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)$"' in location
    assert "if ($router_check = 0) {\n                return 404;" in location
    assert "add_header X-Yadockeri-Resolved $upstream_addr always;" in location
    assert re.search(r'map \$http_x_yadockeri_check \$router_check \{\n\s+default 0;\n\s+"0123abcdef0123abcdef" 1;', conf)
    assert re.search(r"map \$host \$router_check \{\n\s+default 0;", render_nginx_conf(["y.localhost"]))


def test_resolver_at_request_time_and_fast_failure():
    conf = render_nginx_conf(["y.localhost"])
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in conf
    timeout = re.search(r"resolver_timeout (\d+)s;", conf)
    assert timeout and int(timeout.group(1)) <= 5
    assert "proxy_connect_timeout 1s;" in conf  # a stopped task costs at most this before the next one
    assert "proxy_next_upstream error timeout;" in conf
    assert "proxy_intercept_errors off;" in conf
    assert "error_page 502 504 = @nostack;" in conf
    assert not re.search(r"^\s*upstream\s", conf, flags=re.M)  # no upstream{} could shadow a stack name


def test_one_map_entry_and_server_name_per_domain_with_dots_escaped():
    conf = render_nginx_conf(["y.example.com", "Y2.Example.COM.", "y-3.localhost", "y.example.com"])
    map_block = conf.split("map $host $stack {", 1)[1].split("\n    }", 1)[0]
    entries = re.findall(r'"(~[^"]+)" \$stack_label;', map_block)
    assert entries == [host_regex(d, capture=True) for d in ["y2.example.com", "y.example.com", "y-3.localhost"]]
    assert r"\.y\.example\.com$" in entries[1] and r"\.y2\.example\.com$" in entries[0]
    assert r"\.y-3\.localhost$" in entries[2]
    assert "y.example.com$" not in conf  # every dot escaped
    server_block = conf.split("server_name\n", 1)[1].split(";", 1)[0]
    assert re.findall(r'"(~[^"]+)"', server_block) == [e.replace("(?<stack_label>", "").replace(
        "[a-z0-9])?)", "[a-z0-9])?", 1) for e in entries]
    assert "# Domains: y2.example.com, y.example.com, y-3.localhost" in conf


def test_map_and_server_name_accept_exactly_the_same_hosts():
    for domain in ["y.localhost", "dev.y.example.com"]:
        with_capture = _py_regex(host_regex(domain, capture=True))
        without = _py_regex(host_regex(domain, capture=False))
        for host in [f"a.{domain}", f"x.a.{domain}", f"a_b.{domain}", domain, f"-a.{domain}", f"a.{domain}x"]:
            assert bool(with_capture.match(host)) == bool(without.match(host)), host


@pytest.mark.parametrize(
    ("host", "stack"),
    [
        ("akira.y.localhost", "akira"),
        ("api.akira.y.localhost", "akira"),
        ("a.b.c.akira.y.localhost", "akira"),
        ("weird_name.akira.y.localhost", "akira"),
        ("0.y.localhost", "0"),
        ("a-1.y.localhost", "a-1"),
        ("akira.y2.localhost", "akira"),
        ("router.y.localhost", "router"),  # never a stack, so its upstream name never exists
        ("y.localhost", None),
        (".y.localhost", None),
        ("akira_web.y.localhost", None),
        ("tasks.akira_web.y.localhost", None),
        ("-akira.y.localhost", None),
        ("akira-.y.localhost", None),
        ("akira.y.localhost.evil.com", None),
        ("akiray.localhost", None),
        ("akira.yy.localhost", None),
        ("akira.y-localhost", None),
        ("10.0.1.5", None),
        ("localhost", None),
        ("akira", None),
        ("a" * 41 + ".y.localhost", None),
        ("a" * 40 + ".y.localhost", "a" * 40),
    ],
)
def test_stack_label_from_host(host, stack):
    assert _stack_for(host, ["y.localhost", "y2.localhost"]) == stack
    if stack is not None and stack not in {"router", "0"}:
        assert check_stack_name(stack) == stack


def test_most_specific_domain_wins():
    domains = ["y.example.com", "dev.y.example.com"]
    assert _stack_for("akira.dev.y.example.com", domains) == "akira"
    assert _stack_for("akira.y.example.com", domains) == "akira"
    assert _stack_for("dev.y.example.com", domains) == "dev"


@pytest.mark.parametrize(
    "name", ["a", "0", "akira", "a-b", "a--b", "a" * 40, "a" * 41, "-a", "a-", "A", "a_b", "a.b", "", "é", "router"]
)
def test_the_label_rule_is_the_stack_name_rule(name):
    try:
        allowed = check_stack_name(name) == name
    except InvalidName as error:
        allowed = "reserved" in str(error)  # a label, but never a stack
    assert bool(re.fullmatch(STACK_LABEL_RE, name)) == allowed


@pytest.mark.parametrize("bad", ["", "a b", "y.localhost$|.*", "x/y", 'a"b', "a;b", "-a.b", "a..b", "ä.com", "a\\.b"])
def test_bad_domains_are_refused(bad):
    with pytest.raises(ConfigError):
        render_nginx_conf([bad])


def test_router_pages_carry_their_kind_and_never_the_raw_host():
    conf = render_nginx_conf(["y.localhost"])
    assert conf.count("add_header X-Yadockeri-Page") == 4
    assert "add_header X-Yadockeri-Page resolve always;" in conf  # yadockeri's DNS cache check
    assert "add_header X-Yadockeri-Page unknown-stack always;" in conf
    assert "add_header X-Yadockeri-Page no-such-host always;" in conf
    assert "add_header X-Yadockeri-Page health always;" in conf
    assert "proxy_hide_header X-Yadockeri-Page;" in conf
    for variable in ("$host", "$http_host", "$server_name", "$request_uri", "$uri"):
        for page in re.findall(r"return 404 (\".*?\");", conf):
            assert variable not in page
    assert "No stack named $stack here" in conf
    assert "/yadockeri deploy $stack &lt;branch&gt;" in conf


def test_requests_are_counted_through_the_fifo_and_logged_as_json_only_when_asked():
    conf = render_nginx_conf(["y.localhost"])
    assert "log_format yadockeri_count '$stack $msec';" in conf
    # at most 4 KiB a write: atomic on a pipe, so nginx's workers and the ticker never interleave
    assert "access_log /run/yadockeri/activity.fifo yadockeri_count buffer=4k flush=1s if=$counted;" in conf
    assert "access_log /dev/stdout" not in conf
    assert "error_log stderr warn;" in conf
    quiet = render_nginx_conf(["y.localhost"], access_log=False)
    assert "access_log off;" in quiet and "activity.fifo" not in quiet
    verbose = render_nginx_conf(["y.localhost"], request_log=True)
    assert "access_log /dev/stdout yadockeri buffer=64k flush=1s;" in verbose
    fmt = "".join(re.findall(r"'([^']*)'", verbose.split("log_format yadockeri escape=json", 1)[1].split(";\n", 1)[0]))
    assert fmt.startswith("yadockeri-access {")
    record = json.loads(re.sub(r"\$[a-z_]+", "1", fmt[len("yadockeri-access "):]))
    for key in ("time", "stack", "status", "upstream_status", "request_time", "method", "host"):
        assert key in record


# The service spec -----------------------------------------------------------------------------


def test_router_service_spec_by_equality():
    settings = _settings()
    spec = router_service_spec(settings, image="yadockeri/router:abc", config_name="rsvc-nginx-0123456789ab", config_id="cid1")
    rest: dict = {
        "name": "rsvc",
        "task_template": TaskTemplate(
            container_spec=ContainerSpec(
                image="yadockeri/router:abc",
                configs=[ConfigReference("cid1", "rsvc-nginx-0123456789ab", filename="/etc/nginx/nginx.conf")],
                stop_grace_period=5_000_000_000,
                labels={"yadockeri.role": "router"},
            ),
            restart_policy=RestartPolicy(condition="any", delay=1_000_000_000),
            networks=[NetworkAttachmentConfig("rnet")],
            log_driver={"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}},
        ),
        "mode": ServiceMode("global"),
        "endpoint_spec": EndpointSpec(
            mode="dnsrr", ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8123, "PublishMode": "host"}]
        ),
        "update_config": UpdateConfig(parallelism=1, order="stop-first", failure_action="rollback", monitor=5_000_000_000),
        "rollback_config": RollbackConfig(parallelism=1, order="stop-first", failure_action="pause"),
        "labels": {"yadockeri.role": "router"},
    }
    # The router faces the internet: minimal capabilities, no new privileges.
    rest["task_template"]["ContainerSpec"].update({
        "CapabilityDrop": ["ALL"], "Privileges": {"NoNewPrivileges": True},
        "CapabilityAdd": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                          "CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"],
    })
    expected_hash = hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert spec == {**rest, "labels": {"yadockeri.role": "router", "yadockeri.spec-hash": expected_hash}}
    # The plain JSON the Docker API gets, spelled out.
    assert spec["task_template"]["ContainerSpec"]["Configs"] == [
        {"ConfigID": "cid1", "ConfigName": "rsvc-nginx-0123456789ab",
         "File": {"Name": "/etc/nginx/nginx.conf", "UID": "0", "GID": "0", "Mode": 0o444}}
    ]
    assert spec["endpoint_spec"] == {
        "Mode": "dnsrr",
        "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8123, "PublishMode": "host"}],
    }
    assert spec["mode"] == {"global": {}}
    assert spec["update_config"]["Order"] == "stop-first"
    # Installed: the router also joins the network it shares with yadockeri (and only it does).
    installed = router_service_spec(_settings(control_network="yd-control"), image="i", config_name="c", config_id="i")
    assert [n["Target"] for n in installed["task_template"]["Networks"]] == ["rnet", "yd-control"]
    assert spec["task_template"]["Networks"] == [{"Target": "rnet", "Aliases": None, "DriverOpts": None}]


def test_spec_hash_follows_every_input_and_nothing_else():
    def spec_hash(settings, image="img", config_name="c", config_id="id"):
        spec = router_service_spec(settings, image=image, config_name=config_name, config_id=config_id)
        return spec["labels"]["yadockeri.spec-hash"]

    base = spec_hash(_settings())
    assert spec_hash(_settings()) == base
    assert spec_hash(_settings(domain="other.localhost")) == base  # the domain is in the config, not here
    assert spec_hash(_settings(router_port=8124)) != base
    assert spec_hash(_settings(router_network="n2")) != base
    assert spec_hash(_settings(router_service="s2")) != base
    assert spec_hash(_settings(), image="img2") != base
    assert spec_hash(_settings(), config_id="id2") != base


def test_config_name_is_content_addressed():
    settings = _settings()
    one = config_name_for(settings, render_nginx_conf(["y.localhost"]))
    assert re.fullmatch(r"rsvc-nginx-[0-9a-f]{12}", one)
    assert config_name_for(settings, render_nginx_conf(["y.localhost"])) == one
    assert config_name_for(settings, render_nginx_conf(["y2.localhost"])) != one


def test_router_image_tag_follows_router_files_and_base(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "nginx.conf").write_text("a\n")
    first = router_dir_hash("base:1", tmp_path)
    assert router_dir_hash("base:1", tmp_path) == first
    assert router_dir_hash("base:2", tmp_path) != first
    (tmp_path / "nginx.conf").write_text("b\n")
    assert router_dir_hash("base:1", tmp_path) != first
    assert re.fullmatch(r"[0-9a-f]{16}", first)


# Real nginx on this machine -------------------------------------------------------------------


@pytest.mark.parametrize("domains", [["y.localhost"], ["y.localhost", "y2.localhost", "dev.y.example.com"]])
def test_nginx_accepts_the_rendered_config(tmp_path, domains):
    conf = runnable_conf(render_nginx_conf(domains)).replace("/run/yadockeri/activity.fifo", f"{tmp_path}/activity.log")
    (tmp_path / "nginx.conf").write_text(conf)
    result = subprocess.run(
        [NGINX, "-t", "-q", "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/", "-e", "stderr",
         "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def host_nginx(tmp_path_factory):
    """The rendered config served by this machine's nginx on a free port, its resolver
    pointed at a DNS server that knows no name (every stack is unknown): no Docker needed."""
    folder = tmp_path_factory.mktemp("host-nginx")
    dns = DnsServer()
    try:
        with serve(render_nginx_conf(["y.localhost", "y2.localhost"], request_log=True), folder, dns) as port:
            yield port, folder, dns
    finally:
        dns.close()


def _get(port: int, host: str, path: str = "/") -> requests.Response:
    return requests.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host}, timeout=10, allow_redirects=False)


@pytest.mark.parametrize(
    "host",
    ["akira.y.localhost", "AKIRA.Y.LOCALHOST", "akira.y.localhost.", "Api.Akira.Y.Localhost.:8080",
     "akira.y2.localhost:1", "x.y.akira.y.localhost"],
)
def test_host_nginx_normalises_host_to_the_stack(host_nginx, host):
    port, _, dns = host_nginx
    asked = len(dns.queries)
    response = _get(port, host)
    assert response.status_code == 404
    assert response.headers["X-Yadockeri-Page"] == "unknown-stack"
    # Only the label reached the upstream name (nginx may have it cached: then no new query).
    assert {qname(q) for q in dns.queries[asked:]} <= {"akira.yadockeri-web"}
    assert "No stack named akira here" in response.text
    assert "/yadockeri deploy akira &lt;branch&gt;" in response.text
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "y.localhost", "akira_web.y.localhost", "<script>x</script>.y.localhost",
     "akira.y.localhost.evil", "tasks.akira", "[::1]:80", "10.0.0.5.y.localhost.example"],
)
def test_host_nginx_no_such_host(host_nginx, host):
    port, _, _ = host_nginx
    response = _get(port, host)
    assert response.status_code in (400, 404)
    if response.status_code == 404:
        assert response.headers["X-Yadockeri-Page"] == "no-such-host"
        assert "script" not in response.text and "akira" not in response.text


def test_host_nginx_health_and_access_log(host_nginx):
    port, folder, dns = host_nginx
    health = _get(port, "127.0.0.1")
    assert health.status_code == 404  # / on the default server
    health = _get(port, f"127.0.0.1:{port}", "/_router/health")
    assert (health.status_code, health.text, health.headers["X-Yadockeri-Page"]) == (200, "ok", "health")
    assert _get(port, "akira.y.localhost", "/_router/health").headers["X-Yadockeri-Page"] == "unknown-stack"
    _get(port, 'Toru.Y.Localhost.', '/a"b\\c')
    _get(port, "nowhere")
    deadline = time.monotonic() + 5
    while True:
        lines = (folder / "access.log").read_text().splitlines()
        if '"stack":"toru"' in "".join(lines) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    records = [json.loads(line.removeprefix("yadockeri-access ")) for line in lines]
    assert all(line.startswith("yadockeri-access {") for line in lines)
    by_stack = {r["stack"]: r for r in records}
    toru = by_stack["toru"]
    assert (toru["status"], toru["host"], toru["method"], toru["page"]) == (404, "toru.y.localhost", "GET", "unknown-stack")
    assert toru["uri"] == '/a"b\\c'
    assert isinstance(toru["time"], float) and isinstance(toru["request_time"], float)
    assert by_stack[""]["page"] == "no-such-host"
    assert not any(r["page"] == "health" for r in records)  # health checks are not activity
    counted = (folder / "count.log").read_text().splitlines()
    assert {line.split()[0] for line in counted} == {"akira", "toru"}  # no health, no host without a stack
    assert all(re.fullmatch(r"[a-z0-9-]+ \d+\.\d{3}", line) for line in counted)
    assert "toru.yadockeri-web" in {qname(q) for q in dns.queries}


# What a deploy checks before it starts ----------------------------------------------------------


def _running_router(settings: Settings, *, port: int, network: str = "netid1") -> dict:
    """A router service as Docker shows it (the network by id)."""
    return {"Spec": {"EndpointSpec": {"Ports": [{"PublishedPort": port, "TargetPort": 80}]},
                     "TaskTemplate": {"Networks": [{"Target": network}]}}}


TOKEN_HEX = "0123abcdef" * 4


def test_a_router_as_the_settings_say_has_no_difference():
    settings = _settings(router_token=TOKEN_HEX)
    service = _running_router(settings, port=settings.router_port)
    # The status endpoint, proxies and the like may differ: they do not stop a deploy.
    conf = render_nginx_conf(settings.domains, router_token=TOKEN_HEX, status_upstream="yadockeri:8081")
    assert router_differences(service, running_tasks=1, network_id="netid1", settings=settings, conf=conf) == []


def test_each_router_difference_is_named():
    settings = _settings(router_token=TOKEN_HEX)
    service = _running_router(settings, port=8080, network="other")
    found = router_differences(service, running_tasks=1, network_id="netid1", settings=settings,
                               conf=render_nginx_conf(["other.localhost"], router_token=TOKEN_HEX))
    assert found == [f"it listens on port 8080, the settings say {settings.router_port}",
                     f"it is not on the network `{settings.router_network}`",
                     f"it serves other.localhost, the settings say {', '.join(settings.domains)}"]
    service = _running_router(settings, port=settings.router_port)
    assert router_differences(service, running_tasks=1, network_id="netid1", settings=settings,
                              conf=render_nginx_conf(settings.domains, router_token="ab" * 32)) == [
        "it has another router token (YADOCKERI_ROUTER_TOKEN), so yadockeri cannot check what it serves"]
    older = render_nginx_conf(settings.domains, router_token=TOKEN_HEX).replace("/_router/resolve/", "/x/")
    assert router_differences(service, running_tasks=1, network_id="netid1", settings=settings, conf=older) == [
        "its nginx.conf is not this yadockeri's (an older version's, or none)"]


def test_a_missing_or_taskless_router_is_said():
    settings = _settings(router_token=TOKEN_HEX)
    assert "is not running" in router_differences(None, running_tasks=0, network_id=None, settings=settings,
                                                  conf=None)[0]
    service = _running_router(settings, port=settings.router_port)
    assert router_differences(service, running_tasks=0, network_id="netid1", settings=settings,
                              conf=render_nginx_conf(settings.domains, router_token=TOKEN_HEX)) == [
        f"it has no running task (see `docker service ps {settings.router_service}`)"]
