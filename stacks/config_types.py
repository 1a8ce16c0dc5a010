"""The checked types of settings: each an `Annotated` type whose check is a plain function that
says, in the words a user reads, which `YADOCKERI_*` variable is wrong and why. What these accept
is also what the router's nginx.conf and the Docker API accept."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, SecretStr, ValidationInfo

from .limits import parse_size
from .names import parse_duration

Seconds = Annotated[int, BeforeValidator(parse_duration)]

# A host name of DNS labels; the router's nginx.conf takes domains of exactly this shape.
_LABEL_RE = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"{_LABEL_RE}(?:\.{_LABEL_RE})*")
# `_`: swarm service names
HTTP_URL = re.compile(r"http://(?P<host>[A-Za-z0-9](?:[A-Za-z0-9._-]{0,200}[A-Za-z0-9])?):(?P<port>[0-9]{1,5})/?")
REGISTRY = re.compile(r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,200}[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?")
DOCKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,49}")


def _variable(info: ValidationInfo) -> str:
    """The environment variable of the field being checked."""
    return f"YADOCKERI_{(info.field_name or '').upper()}"


def _valid_port(text: str | None) -> bool:
    return text is not None and text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def check_domains(value: str) -> str:
    # The router's own rule: what Settings accepts, the router config accepts too.
    domains = [d.strip().lower().rstrip(".") for d in value.split(",") if d.strip()]
    if not domains:
        raise ValueError("YADOCKERI_DOMAIN: at least one domain is needed")
    for domain in domains:
        if not (HOST_NAME.fullmatch(domain) and len(domain) <= 200):
            raise ValueError(f"YADOCKERI_DOMAIN: {domain[:60]!r} is not a host name (letters, digits, dashes, dots)")
    return ",".join(domains)


def check_http_host_port(value: str | None, info: ValidationInfo) -> str | None:
    # status_url is written into the router's nginx.conf: only http://HOST:PORT, nothing more.
    if value is None or value == "":
        return None
    match = HTTP_URL.fullmatch(value.strip())
    if match is None or not _valid_port(match.group("port")):
        raise ValueError(f"{_variable(info)}: {value[:80]!r} must be http://HOST:PORT "
                         "(a host name or IPv4 address and a port, nothing after it)")
    return value.strip().rstrip("/")


def check_registry_host(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    match = REGISTRY.fullmatch(value.strip())
    if match is None or (match.group("port") and not _valid_port(match.group("port"))):
        raise ValueError(f"YADOCKERI_REGISTRY: {value[:80]!r} must be HOST or HOST:PORT (no scheme, no path)")
    return value.strip().lower()


def check_docker_name(value: str, info: ValidationInfo) -> str:
    if not DOCKER_NAME.fullmatch(value):
        raise ValueError(f"{_variable(info)}: {value[:80]!r} is not a Docker name "
                         "(letters, digits, `_`, `.`, `-`, at most 50 characters)")
    return value


def check_optional_docker_name(value: str | None, info: ValidationInfo) -> str | None:
    """A Docker name, or nothing (unset or empty)."""
    if value is None or value == "":
        return None
    return check_docker_name(value, info)


def check_hex_token(value: SecretStr | None) -> SecretStr | None:
    if value is not None and not value.get_secret_value():
        return None
    if value is not None and not re.fullmatch(r"[0-9a-f]{32,128}", value.get_secret_value()):
        raise ValueError("YADOCKERI_ROUTER_TOKEN must be 32 to 128 lowercase hex digits")
    return value


def check_ip_address(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{_variable(info)}: {value[:80]!r} is not an IP address") from None


def check_networks(value: str, info: ValidationInfo) -> str:
    try:
        return ",".join(str(ipaddress.ip_network(part.strip(), strict=False))
                        for part in value.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"{_variable(info)}: {error} "
                         "(write CIDRs like 10.0.0.0/8, comma-separated)") from None


def check_port(value: int, info: ValidationInfo) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"{_variable(info)}: {value} is not a port (1-65535)")
    return value


def check_size(value: str, info: ValidationInfo) -> str:
    try:
        parse_size(value)
    except ValueError as error:
        raise ValueError(f"{_variable(info)}: {error}") from None
    return value


Domains = Annotated[str, AfterValidator(check_domains)]  # comma-separated host names
HttpHostPort = Annotated[str | None, AfterValidator(check_http_host_port)]  # http://HOST:PORT
RegistryHost = Annotated[str | None, AfterValidator(check_registry_host)]  # HOST or HOST:PORT
DockerName = Annotated[str, AfterValidator(check_docker_name)]
OptionalDockerName = Annotated[str | None, AfterValidator(check_optional_docker_name)]
HexToken = Annotated[SecretStr | None, AfterValidator(check_hex_token)]
IpAddress = Annotated[str | None, AfterValidator(check_ip_address)]
Networks = Annotated[str, AfterValidator(check_networks)]  # CIDRs, comma-separated
Port = Annotated[int, AfterValidator(check_port)]
Size = Annotated[str, AfterValidator(check_size)]  # 512m, 4g
