"""slack/manifest.yml checked against the code that uses it (docs/slack.md):

- the bot scopes cover every Web API method the code in bot/ calls, by Slack's reference for that
  method (METHOD_SCOPES), and ask for nothing more than that, the events the bot listens to, the
  slash command, and a short allow-list with the reason for each entry;
- the bot events are the ones the bot registers a listener for (app.event(...));
- the app ships as the guide says: the /yadockeri command, interactivity, the Home tab, Socket
  Mode, and no request URL (Slack would try to verify one as soon as the app is created, before any
  bot runs with its signing secret).

Pure Python: the source is read, never run; no Slack, no Docker.
"""

from __future__ import annotations

import ast
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from slack_sdk import WebClient

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "slack" / "manifest.yml"
BOT = ROOT / "bot"
GUIDE = ROOT / "docs" / "slack.md"

# Web API method -> the bot scopes yadockeri's use of it needs, from Slack's reference
# (https://docs.slack.dev/reference/methods/<method>, "Scopes", bot token). A method the bot calls
# that is not here fails test_every_called_method_is_in_the_table: add it with what Slack says.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),  # no scope (Bolt also calls it once at start, to check the token)
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),  # no scope
    "views.open": frozenset(),  # views.*: no scope
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
    "files.getUploadURLExternal": frozenset({"files:write"}),  # files_upload_v2, step 1
    "files.completeUploadExternal": frozenset({"files:write"}),  # files_upload_v2, step 3
    # Slack lists one *:history scope per kind of conversation (channels, groups, im, mpim); the
    # bot looks up its own messages in public and private channels.
    "conversations.history": frozenset({"channels:history", "groups:history"}),
    "conversations.replies": frozenset({"channels:history", "groups:history"}),
    # Slack lists channels:manage, groups:write, im:write, mpim:write by kind of conversation; the
    # bot opens 1:1 direct messages only.
    "conversations.open": frozenset({"im:write"}),
    "users.info": frozenset({"users:read"}),
}

# Event -> the scope Slack requires to subscribe to it (https://docs.slack.dev/reference/events/<event>).
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_home_opened": frozenset(),
    "app_mention": frozenset({"app_mentions:read"}),
}

# Scopes in the manifest that no method in METHOD_SCOPES requires, each with its reason.
OPTIONAL_SCOPES: dict[str, str] = {
    "chat:write.public": "chat.postMessage in public channels the bot was not invited to (a stack's thread, the "
                         "notify channel); Slack's reference lists it as optional for chat.postMessage",
    "im:write": "a direct message to the person when their command's response_url has expired: chat.postMessage "
                "to their user id, in the app's Messages tab (the DM conversation is Slack's to open)",
}
# Scopes asked for ahead of the code that needs them. When that code lands,
# test_pending_entries_are_still_pending says to remove the entry.
PENDING_SCOPES: dict[str, str] = {}
# Events in the manifest before their listener exists.
PENDING_EVENTS: dict[str, str] = {}


def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def bot_scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


def bot_events() -> set[str]:
    return set(manifest()["settings"]["event_subscriptions"]["bot_events"])


def manifest_commands() -> set[str]:
    return {command["command"] for command in manifest()["features"].get("slash_commands", [])}


@cache
def web_client_methods() -> frozenset[str]:
    """slack_sdk's WebClient methods (chat_postMessage, files_upload_v2, ...)."""
    return frozenset(name for name, value in vars(WebClient).items() if callable(value) and not name.startswith("_"))


@cache
def api_methods(name: str) -> frozenset[str]:
    """The Web API methods a WebClient method calls, read from slack_sdk's source: its
    api_call("...") and the WebClient methods it calls in turn (files_upload_v2 calls
    files_getUploadURLExternal and files_completeUploadExternal)."""
    source = inspect.getsource(getattr(WebClient, name))
    found = set(re.findall(r"""api_call\(\s*["']([\w.]+)["']""", source))
    for called in set(re.findall(r"self\.(\w+)\(", source)) - {name}:
        if called in web_client_methods():
            found |= api_methods(called)
    return frozenset(found)


def sources() -> list[tuple[Path, ast.AST]]:
    return [(path, ast.parse(path.read_text(), str(path)))
            for path in sorted(BOT.rglob("*.py")) if "__pycache__" not in path.parts]


def called_methods() -> dict[str, set[str]]:
    """Web API method -> where in bot/ it is called: every attribute named like a WebClient
    method (`client.chat_postMessage(...)`, `(client.views_push if push else client.views_open)(...)`)
    and every `.api_call("method", ...)`."""
    found: dict[str, set[str]] = {}
    for path, tree in sources():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            methods: frozenset[str] = frozenset()
            if isinstance(node, ast.Attribute) and node.attr in web_client_methods():
                methods = api_methods(node.attr)
                assert methods, (f"{where}:{node.lineno}: cannot tell which Web API methods WebClient.{node.attr} "
                                 "calls; read slack_sdk's source and add them to this test by hand")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "api_call"
                  and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                methods = frozenset({node.args[0].value})
            for method in methods:
                found.setdefault(method, set()).add(f"{where}:{getattr(node, 'lineno', 0)}")
    return found


def registered(kind: str) -> set[str]:
    """What the bot registers Bolt listeners for: app.event("...") or app.command("...")."""
    found = set()
    for _path, tree in sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == kind
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.add(node.args[0].value)
    return found


def needed_scopes() -> dict[str, str]:
    """Scope -> why the bot needs it: the methods it calls, the events it listens to, its command."""
    needed: dict[str, str] = {}
    for method in sorted(called_methods()):
        for scope in METHOD_SCOPES.get(method, frozenset()):
            needed.setdefault(scope, method)
    for event in sorted(registered("event")):
        for scope in EVENT_SCOPES.get(event, frozenset()):
            needed.setdefault(scope, f"the {event} event")
    if manifest_commands():
        needed["commands"] = "the slash command"
    return needed


def test_python_names_map_to_api_methods() -> None:
    assert api_methods("chat_postMessage") == {"chat.postMessage"}
    assert api_methods("views_publish") == {"views.publish"}
    assert api_methods("files_upload_v2") == {"files.getUploadURLExternal", "files.completeUploadExternal"}


def test_the_scan_finds_the_calls_it_must() -> None:
    """The scan sees the calls written both ways in bot/ (a plain call, and a method chosen by an
    `if` expression), so an empty result is a broken scan, not a bot without calls."""
    called = called_methods()
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.push",
                   "views.publish", "files.getUploadURLExternal", "files.completeUploadExternal"):
        assert method in called, method
    assert "app_home_opened" in registered("event")


def test_every_called_method_is_in_the_table() -> None:
    unknown = {method: sorted(where) for method, where in called_methods().items() if method not in METHOD_SCOPES}
    assert not unknown, ("bot/ calls Web API methods METHOD_SCOPES does not know; add each with the bot scopes "
                         f"Slack's reference lists for it (docs.slack.dev/reference/methods/...): {unknown}")


def test_manifest_scopes_cover_every_called_method() -> None:
    scopes = bot_scopes()
    missing = {method: sorted(METHOD_SCOPES[method] - scopes) for method in called_methods()
               if METHOD_SCOPES.get(method, frozenset()) - scopes}
    assert not missing, f"slack/manifest.yml lacks bot scopes these calls need (Slack answers missing_scope): {missing}"


def test_every_manifest_scope_is_needed_or_allowed() -> None:
    needed = needed_scopes()
    unused = bot_scopes() - set(needed) - set(OPTIONAL_SCOPES) - set(PENDING_SCOPES)
    assert not unused, (f"slack/manifest.yml asks for bot scopes nothing in bot/ needs: {sorted(unused)}; remove "
                        "them, or add the call that needs them to METHOD_SCOPES, or a reason to the allow-list")


def test_allow_listed_scopes_are_in_the_manifest() -> None:
    scopes = bot_scopes()
    stale = sorted(set(OPTIONAL_SCOPES) - scopes) + sorted(set(PENDING_SCOPES) - scopes)
    assert not stale, f"allow-listed scopes the manifest does not ask for (remove the entries): {stale}"


def test_pending_entries_are_still_pending() -> None:
    """Once the code for a pending scope or event lands, its entry goes: the scope is then
    justified by the call or listener itself."""
    needed = needed_scopes()
    landed = {scope: needed[scope] for scope in PENDING_SCOPES if scope in needed}
    listened = sorted(set(PENDING_EVENTS) & registered("event"))
    assert not landed and not listened, ("the code for these has landed: remove them from PENDING_SCOPES "
                                         f"{landed} and PENDING_EVENTS {listened}")


def test_bot_events_match_the_listeners() -> None:
    events, listeners = bot_events(), registered("event")
    assert not listeners - events, (f"the bot listens to events slack/manifest.yml does not subscribe to (Slack "
                                    f"never sends them): {sorted(listeners - events)}")
    unheard = events - listeners - set(PENDING_EVENTS)
    assert not unheard, f"slack/manifest.yml subscribes to events no listener in bot/ handles: {sorted(unheard)}"
    unknown = sorted(events - set(EVENT_SCOPES))
    assert not unknown, f"add these events to EVENT_SCOPES with the scope Slack requires for them: {unknown}"
    scopes = bot_scopes()
    missing = {event: sorted(EVENT_SCOPES[event] - scopes) for event in events if EVENT_SCOPES[event] - scopes}
    assert not missing, f"Slack refuses these event subscriptions without their scopes: {missing}"


def test_the_shipped_app() -> None:
    app = manifest()
    assert manifest_commands() == {"/yadockeri"} == registered("command")
    assert app["features"]["bot_user"]["display_name"] == "yadockeri"
    assert app["features"]["app_home"]["home_tab_enabled"] is True  # views.publish of the Home tab
    settings = app["settings"]
    assert settings["interactivity"]["is_enabled"] is True  # buttons, forms
    assert settings["socket_mode_enabled"] is True
    # No request URL: Slack verifies one when it is saved, and only a running bot that has the
    # signing secret can answer (HTTP mode sets them after starting the bot, docs/slack.md).
    assert "url" not in app["features"]["slash_commands"][0]
    assert "request_url" not in settings["event_subscriptions"]
    assert "request_url" not in settings["interactivity"]


def test_the_guide_names_every_scope() -> None:
    guide = GUIDE.read_text()
    missing = sorted(scope for scope in bot_scopes() if f"`{scope}`" not in guide)
    assert not missing, f"docs/slack.md does not name these scopes of slack/manifest.yml: {missing}"
