"""stacks.dockerfile: the frontend and the secret ids a branch's Dockerfile asks for. Pure."""

from __future__ import annotations

import pytest

from stacks.dockerfile import BuildNeeds, check_frontend, check_secrets, read_needs
from stacks.errors import SpecError


def test_a_plain_dockerfile_needs_nothing() -> None:
    assert read_needs("FROM busybox\nRUN echo hi\n") == BuildNeeds(frontend=None, secrets=frozenset())


@pytest.mark.parametrize("text", [
    "# syntax=docker/dockerfile:1.4\nFROM busybox\n",
    "#syntax = docker/dockerfile:1.4\nFROM busybox\n",
    "# SYNTAX=docker/dockerfile:1.4\n# escape=`\nFROM busybox\n",
])
def test_the_syntax_directive_is_read(text: str) -> None:
    assert read_needs(text).frontend == "docker/dockerfile:1.4"


@pytest.mark.parametrize("text", [
    "FROM busybox\n# syntax=evil/frontend\n",  # after an instruction: a comment
    "# a comment\n# syntax=evil/frontend\nFROM busybox\n",  # after a plain comment
    "\n# syntax=evil/frontend\nFROM busybox\n",  # after a blank line
])
def test_a_syntax_line_that_is_not_a_directive_is_a_comment(text: str) -> None:
    assert read_needs(text).frontend is None


def test_secret_mounts_are_found_across_continuations_and_flags() -> None:
    text = (
        "FROM busybox AS deps\n"
        "RUN --mount=type=cache,target=/root/.cache \\\n"
        "    # a comment inside\n"
        "    --mount=type=secret,id=npm_token,required=true \\\n"
        "    cat /run/secrets/npm_token\n"
        "FROM busybox\n"
        "run --mount=type=secret,target=/run/secrets/gemrc cat /run/secrets/gemrc\n"
        "RUN --mount=type=bind,source=x,target=/x true\n"
    )
    assert read_needs(text).secrets == {"npm_token", "gemrc"}


def test_the_escape_directive_changes_continuations() -> None:
    text = "# escape=`\nFROM busybox\nRUN --mount=type=secret,id=tok `\n    cat /run/secrets/tok\n"
    assert read_needs(text).secrets == {"tok"}


@pytest.mark.parametrize("mount", ["type=secret,id=$TOKEN", "type=secret,id=a/b", "type=secret"])
def test_a_secret_id_must_be_written_out(mount: str) -> None:
    with pytest.raises(SpecError, match="secret mount's id must be written out"):
        read_needs(f"FROM busybox\nRUN --mount={mount} true\n")


def test_frontends_are_allowed_by_pattern() -> None:
    check_frontend(None, [])
    check_frontend("docker/dockerfile:1.4", ["docker/dockerfile:*"])
    with pytest.raises(SpecError, match=r"`# syntax=evil/frontend:1` names a Dockerfile frontend.*docker/dockerfile:\*"):
        check_frontend("evil/frontend:1", ["docker/dockerfile:*"])
    with pytest.raises(SpecError, match="allowed: none"):
        check_frontend("docker/dockerfile:1", [])


def test_an_undefined_secret_is_refused_by_name() -> None:
    check_secrets(frozenset({"npm_token"}), {"npm_token", "gemrc"}, app="shop")
    with pytest.raises(SpecError, match="mounts the build secret `deploy_key`, which app `shop` does not define"):
        check_secrets(frozenset({"npm_token", "deploy_key"}), {"npm_token"}, app="shop")
