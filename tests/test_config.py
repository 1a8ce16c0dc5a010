"""Settings: YADOCKERI_* variables, Docker secrets files and yadockeri.yml; defaults that work on one machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config import load_settings
from stacks.errors import ConfigError, NotFound


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("YADOCKERI_") or key.startswith("SLACK_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    settings = load_settings()
    assert settings.data_dir == tmp_path / ".local/share/yadockeri"
    assert settings.db_url == f"sqlite:///{settings.data_dir / 'yadockeri.db'}"
    assert settings.domains == ["y.localhost"] and settings.url_scheme == "http" and settings.router_port == 80
    assert (settings.router_network, settings.router_service, settings.endpoint_mode) == ("router", "router", "dnsrr")
    assert settings.registry is None and settings.secret_key is None
    assert list(settings.apps) == ["hello"] and settings.apps["hello"].default  # the example app
    assert settings.app(None)[0] == "hello"
    assert settings.stack_url("akira") == "http://akira.y.localhost"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YADOCKERI_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("YADOCKERI_DOMAIN", "y.example.com, Y.DEV.example.com.")
    monkeypatch.setenv("YADOCKERI_ROUTER_PORT", "8080")
    monkeypatch.setenv("YADOCKERI_DEPLOY_TIMEOUT", "2m")
    monkeypatch.setenv("YADOCKERI_GIT_TOKEN", "ghp_secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    settings = load_settings()
    assert settings.domains == ["y.example.com", "y.dev.example.com"]
    assert settings.stack_urls("akira") == ["http://akira.y.example.com:8080", "http://akira.y.dev.example.com:8080"]
    assert settings.deploy_timeout == 120
    assert settings.git_token is not None and settings.slack_bot_token is not None
    assert "ghp_secret" not in repr(settings) and settings.git_token.get_secret_value() == "ghp_secret"
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1"


def test_https_urls_have_no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YADOCKERI_URL_SCHEME", "https")
    monkeypatch.setenv("YADOCKERI_ROUTER_PORT", "8080")
    assert load_settings().stack_url("akira") == "https://akira.y.localhost"


def test_apps_from_yadockeri_yml(tmp_path: Path) -> None:
    (tmp_path / "yadockeri.yml").write_text(
        "apps:\n"
        "  crowdworks: {repo: ./repos/cw, branch: develop, default: true}\n"
        "  blog: {repo: 'https://example.com/blog.git'}\n"
        "domain: y.example.com\n"
    )
    settings = load_settings()
    assert settings.apps["crowdworks"].repo == str((tmp_path / "repos/cw").resolve())
    assert settings.apps["crowdworks"].branch == "develop" and settings.apps["blog"].branch == "main"
    assert settings.app(None)[0] == "crowdworks" and settings.app("blog")[0] == "blog"
    assert settings.domains == ["y.example.com"]
    with pytest.raises(NotFound, match="no app named `nope` \\(known apps: blog, crowdworks\\)"):
        settings.app("nope")


def test_config_named_by_environment_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.yml"
    config.write_text("apps:\n  a: {repo: /srv/a}\n  b: {repo: /srv/b}\ndomain: from.file\n")
    monkeypatch.setenv("YADOCKERI_CONFIG", str(config))
    monkeypatch.setenv("YADOCKERI_DOMAIN", "from.env")
    settings = load_settings()
    assert settings.domains == ["from.env"]
    with pytest.raises(NotFound, match="several apps are configured \\(a, b\\): say which with --app"):
        settings.app(None)


def test_docker_secrets_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "yadockeri_secret_key").write_text("k" * 44)
    (secrets / "slack_bot_token").write_text("xoxb-from-secret")
    monkeypatch.setenv("YADOCKERI_SECRETS_DIR", str(secrets))
    import importlib

    import stacks.config

    importlib.reload(stacks.config)  # secrets_dir is read when the class is made
    try:
        settings = stacks.config.load_settings()
        assert settings.secret_key is not None and settings.slack_bot_token is not None
        assert settings.secret_key.get_secret_value() == "k" * 44
        assert settings.slack_bot_token.get_secret_value() == "xoxb-from-secret"
    finally:
        monkeypatch.delenv("YADOCKERI_SECRETS_DIR")
        importlib.reload(stacks.config)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("YADOCKERI_DOMAIN", "not a domain", "not a host name"),
        ("YADOCKERI_ROUTER_PORT", "eighty", "router_port"),
        ("YADOCKERI_ENDPOINT_MODE", "mesh", "endpoint_mode"),
        ("YADOCKERI_DEPLOY_TIMEOUT", "soon", "not understood"),
        ("YADOCKERI_BUILDER_TLS_KEY", "-----BEGIN PRIVATE KEY-----", "set all three or none"),
    ],
)
def test_bad_settings_are_clear_config_errors(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YADOCKERI_CONFIG", "/nonexistent/yadockeri.yml")
    with pytest.raises(ConfigError, match="YADOCKERI_CONFIG names /nonexistent/yadockeri.yml, which is not a file"):
        load_settings()


def test_two_default_apps_are_refused(tmp_path: Path) -> None:
    (tmp_path / "yadockeri.yml").write_text("apps:\n  a: {repo: /a, default: true}\n  b: {repo: /b, default: true}\n")
    with pytest.raises(ConfigError, match="only one app may be marked default"):
        load_settings()


def test_an_apps_build_secrets_are_read(tmp_path: Path) -> None:
    (tmp_path / "yadockeri.yml").write_text(
        "apps:\n  shop:\n    repo: /a\n    build_secrets:\n      npm_token: {env: NPM_TOKEN}\n"
        "      gemrc: {file: /run/secrets/gemrc}\n")
    secrets = load_settings().apps["shop"].build_secrets
    assert {name: (s.env, str(s.file) if s.file else None) for name, s in secrets.items()} == {
        "npm_token": ("NPM_TOKEN", None), "gemrc": (None, "/run/secrets/gemrc")}


@pytest.mark.parametrize(("app", "message"), [
    ("{repo: /a, build_secret: {x: {env: X}}}", "apps.shop.build_secret: is not a known key"),  # misspelt
    ("{repo: /a, build_secrets: {x: {}}}", "either {env: VARIABLE} or {file: /path}"),
    ("{repo: /a, build_secrets: {x: {env: X, file: /x}}}", "either {env: VARIABLE} or {file: /path}"),
    ("{repo: /a, build_secrets: {x: {file: relative}}}", "must be an absolute path"),
    ("{repo: /a, build_secrets: {'a b': {env: X}}}", "build_secrets.a b"),
])
def test_bad_app_configuration_is_refused_by_key(tmp_path: Path, app: str, message: str) -> None:
    (tmp_path / "yadockeri.yml").write_text(f"apps:\n  shop: {app}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings()
