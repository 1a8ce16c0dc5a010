"""The Slack stand-ins answer like Slack, and real Slack clients (slack_sdk, slack_bolt) work against them."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as websocket_connect

from tests.support.slack_requests import (
    block_actions_body,
    sign,
    signed_headers,
    slash_command_body,
    slash_command_payload,
    view_closed_body,
    view_submission_body,
)
from tests.support.slack_standin import SlackStandin
from tests.support.slack_web.scopes import MANIFEST, METHOD_SCOPES, manifest_bot_scopes
from tests.support.socket_mode_standin import SocketModeStandin

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


# The bot never reads channels (conversations.info); these tests do, to look at what calls left.
READING = ["channels:read", "groups:read"]


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin(scopes=[*manifest_bot_scopes(), *READING]) as standin:
        yield standin


@pytest.fixture
def client(slack: SlackStandin) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.base_url)


def api_error(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def bolt_headers(headers: dict[str, str]) -> dict[str, str | Sequence[str]]:
    """The same headers, typed as BoltRequest takes them (a value may be a list)."""
    return dict(headers)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Open", action_id: str = "open", **fields: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, **fields}


def actions(*elements: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements), **fields}


def modal(blocks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": "yadockeri"}, "blocks": blocks, **fields}


def raw_post(url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, **(headers or {})})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# -- authentication and methods -------------------------------------------------------------------


def test_auth_test_answers_with_the_bot_identity(slack: SlackStandin, client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == slack.bot_user_id
    assert answer["bot_id"] == slack.bot_id
    assert answer["team_id"] == slack.team_id
    assert answer["url"] == "https://standin.slack.com/"


def test_wrong_or_missing_token_is_rejected(slack: SlackStandin) -> None:
    wrong = WebClient(token="xoxb-not-the-token", base_url=slack.base_url)
    assert api_error(wrong.auth_test).response["error"] == "invalid_auth"
    anonymous = WebClient(base_url=slack.base_url)
    assert api_error(anonymous.chat_postMessage, channel="C123", text="hi").response["error"] == "not_authed"
    app_token = WebClient(token=slack.app_token, base_url=slack.base_url)
    error = api_error(app_token.chat_postMessage, channel="C123", text="hi")
    assert error.response["error"] == "not_allowed_token_type"
    assert slack.messages("C123") == []


def test_token_may_be_a_form_field_but_not_a_json_field(slack: SlackStandin) -> None:
    form = f"token={slack.bot_token}&channel=C123&text=hi".encode()
    assert raw_post(slack.base_url + "chat.postMessage", form, "application/x-www-form-urlencoded")["ok"]
    as_json = json.dumps({"token": slack.bot_token, "channel": "C123", "text": "hi"}).encode()
    answer = raw_post(slack.base_url + "chat.postMessage", as_json, "application/json")
    assert answer == {"ok": False, "error": "not_authed"}


def test_unknown_method_is_a_404(client: WebClient) -> None:
    error = api_error(client.api_call, "chat.postMesage", json={"channel": "C123", "text": "hi"})
    assert error.response.status_code == 404
    assert error.response["error"] == "unknown_method"


def test_calls_are_recorded_with_parsed_params(slack: SlackStandin, client: WebClient) -> None:
    before = time.monotonic()
    client.chat_postMessage(channel="C123", text="hi", blocks=[section("*hi*")])
    client.conversations_info(channel="C123")  # form-encoded
    post, info = slack.calls()
    assert post.method == "chat.postMessage" and post.status == 200 and post.ok
    assert post.params["blocks"] == [section("*hi*")]
    assert post.token == slack.bot_token and "token" not in post.params
    assert info.params == {"channel": "C123"}
    assert before <= post.at <= info.at <= time.monotonic()
    slack.clear()
    assert slack.calls() == [] and slack.messages("C123") == []


# -- messages -------------------------------------------------------------------------------------


def test_post_message_returns_increasing_unique_ts(slack: SlackStandin, client: WebClient) -> None:
    answers = [client.chat_postMessage(channel="C123", text=f"m{i}") for i in range(3)]
    stamps = [a["ts"] for a in answers]
    assert abs(float(stamps[0]) - time.time()) < 60  # the time of posting, as on Slack
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    assert answers[0]["channel"] == "C123"
    assert answers[0]["message"]["bot_id"] == slack.bot_id
    assert [m["text"] for m in slack.messages("C123")] == ["m0", "m1", "m2"]


def test_messages_reflect_updates_thread_replies_and_deletes(slack: SlackStandin, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C123", text="deploying akira")["ts"]
    reply = client.chat_postMessage(channel="C123", text="step 1/5: fetch", thread_ts=parent)["ts"]
    updated = client.chat_update(channel="C123", ts=parent, text="akira is up", blocks=[section("akira is up")])
    assert updated["ts"] == parent and updated["message"]["text"] == "akira is up"
    first = slack.messages("C123")[0]
    assert first["text"] == "akira is up" and first["blocks"] == [section("akira is up")] and "edited" in first
    assert [m["ts"] for m in slack.replies("C123", parent)] == [reply]
    link = client.chat_getPermalink(channel="C123", message_ts=reply)["permalink"]
    assert link == f"https://standin.slack.com/archives/C123/p{reply.replace('.', '')}?thread_ts={parent}&cid=C123"
    client.chat_delete(channel="C123", ts=reply)
    assert [m["ts"] for m in slack.messages("C123")] == [parent]


def test_update_of_unknown_message_is_rejected(slack: SlackStandin, client: WebClient) -> None:
    slack.add_channel("C456", "other")
    ts = client.chat_postMessage(channel="C123", text="hi")["ts"]
    assert api_error(client.chat_update, channel="C123", ts="1600000000.000100", text="x").response["error"] \
        == "message_not_found"
    assert api_error(client.chat_update, channel="C456", ts=ts, text="x").response["error"] == "message_not_found"
    assert api_error(client.chat_delete, channel="C123", ts="1.2").response["error"] == "message_not_found"
    assert slack.messages("C123")[0]["text"] == "hi"


def test_channel_membership_is_enforced(slack: SlackStandin, client: WebClient) -> None:
    slack.add_channel("C0OUT", "outside", is_member=False)
    slack.add_channel("G0SECRET", "secret", is_member=False, is_private=True)
    assert api_error(client.chat_postMessage, channel="C0NONE", text="x").response["error"] == "channel_not_found"
    assert api_error(client.chat_postMessage, channel="G0SECRET", text="x").response["error"] == "channel_not_found"
    assert api_error(client.conversations_info, channel="G0SECRET").response["error"] == "channel_not_found"
    assert client.conversations_info(channel="C0OUT")["channel"]["is_member"] is False
    assert api_error(client.chat_postEphemeral, channel="C0OUT", user="U123", text="x").response["error"] \
        == "not_in_channel"
    assert slack.messages("G0SECRET") == [] and slack.ephemeral_messages() == []


def test_chat_write_public_posts_in_a_public_channel_without_joining_but_shares_no_file(
        slack: SlackStandin, client: WebClient) -> None:
    slack.add_channel("C0OUT", "outside", is_member=False)
    posted = client.chat_postMessage(channel="C0OUT", text="deploying akira")
    assert posted["channel"] == "C0OUT"
    reply = client.chat_postMessage(channel="C0OUT", text="details", thread_ts=posted["ts"])["ts"]
    assert client.chat_update(channel="C0OUT", ts=posted["ts"], text="akira is up")["ok"]
    error = api_error(client.files_upload_v2, channel="C0OUT", thread_ts=posted["ts"], content=b"web.1 | boom\n",
                      filename="akira.log", title="log tail")
    assert error.response["error"] == "not_in_channel"
    assert [f.completed for f in slack.files()] == [False]  # uploaded, never shared
    assert [m["ts"] for m in slack.replies("C0OUT", posted["ts"])] == [reply]
    assert client.conversations_info(channel="C0OUT")["channel"]["is_member"] is False  # posting joins nothing


def test_without_chat_write_public_a_public_channel_must_be_joined() -> None:
    scopes = [s for s in manifest_bot_scopes() if s != "chat:write.public"] + ["channels:join", *READING]
    with SlackStandin(scopes=scopes) as slack:
        slack.add_channel("C0OUT", "outside", is_member=False)
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        assert api_error(client.chat_postMessage, channel="C0OUT", text="x").response["error"] == "not_in_channel"
        assert slack.messages("C0OUT") == []
        assert client.conversations_join(channel="C0OUT")["channel"]["is_member"] is True
        assert client.chat_postMessage(channel="#outside", text="x")["channel"] == "C0OUT"
        assert client.files_upload_v2(channel="C0OUT", content=b"x", filename="x.txt")["ok"]  # a member shares
        slack.add_channel("C0OLD", "old", is_member=False, is_archived=True)
        assert api_error(client.conversations_join, channel="C0OLD").response["error"] == "is_archived"


def test_message_without_content_or_too_long_is_rejected(client: WebClient) -> None:
    assert api_error(client.chat_postMessage, channel="C123").response["error"] == "no_text"
    assert api_error(client.chat_postMessage, channel="C123", text="x" * 40_001).response["error"] == "msg_too_long"
    assert client.chat_postMessage(channel="C123", text="x" * 40_000)["ok"]


def test_ephemeral_message_and_user_info(slack: SlackStandin, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C123", user="U123", text="only you")
    assert slack.ephemeral_messages("C123")[0]["message_ts"] == answer["message_ts"]
    assert client.users_info(user="U123")["user"]["name"] == "akira"
    assert api_error(client.users_info, user="U0NOBODY").response["error"] == "user_not_found"
    assert api_error(client.chat_postEphemeral, channel="C123", user="U0NOBODY", text="x").response["error"] \
        == "user_not_found"


# -- Block Kit ------------------------------------------------------------------------------------

INVALID_MESSAGE_BLOCKS = {
    "51 blocks": ([{"type": "divider"}] * 51, "/blocks]"),
    "76-char button text": ([actions(button("x" * 76))], "/blocks/0/elements/0/text/text]"),
    "duplicate action_id": ([actions(button("A", "go"), button("B", "go"))], "/blocks/0/elements/1/action_id]"),
    "duplicate block_id": ([dict(section("a"), block_id="b"), dict(section("b"), block_id="b")],
                           "/blocks/1/block_id]"),
    "unknown block type": ([{"type": "table2"}], "/blocks/0/type]"),
    "section text over 3000": ([section("x" * 3001)], "/blocks/0/text/text]"),
    "empty section text": ([section("")], "/blocks/0/text/text]"),
    "11 section fields": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
                          "/blocks/0/fields]"),
    "header over 150": ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
                        "/blocks/0/text/text]"),
    "mrkdwn header": ([{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}], "/blocks/0/text/type]"),
    "26 actions": ([actions(*[button(action_id=f"a{i}") for i in range(26)])], "/blocks/0/elements]"),
    "11 context elements": ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
                            "/blocks/0/elements]"),
    "button style": ([actions(button(style="secondary"))], "/blocks/0/elements/0/style]"),
    "button value over 2000": ([actions(button(value="v" * 2001))], "/blocks/0/elements/0/value]"),
    "button url over 3000": ([actions(button(url="https://x/" + "u" * 2991))], "/blocks/0/elements/0/url]"),
    "action_id over 255": ([actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id]"),
    "block_id over 255": ([dict(section("a"), block_id="b" * 256)], "/blocks/0/block_id]"),
    "input in a message": ([{"type": "input", "label": {"type": "plain_text", "text": "Key"},
                             "element": {"type": "plain_text_input", "action_id": "k"}}], "/blocks/0/type]"),
    "confirm title over 100": ([actions(button(confirm={
        "title": {"type": "plain_text", "text": "t" * 101}, "text": {"type": "mrkdwn", "text": "sure?"},
        "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"}}))],
        "/blocks/0/elements/0/confirm/title/text]"),
}


@pytest.mark.parametrize("blocks,pointer", INVALID_MESSAGE_BLOCKS.values(), ids=INVALID_MESSAGE_BLOCKS.keys())
def test_invalid_blocks_are_rejected(slack: SlackStandin, client: WebClient, blocks: list[Any], pointer: str) -> None:
    error = api_error(client.chat_postMessage, channel="C123", text="fallback", blocks=blocks)
    assert error.response["error"] == "invalid_blocks"
    assert any(e.endswith(pointer) for e in error.response["errors"]), error.response["errors"]
    assert error.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert slack.messages("C123") == []


def test_invalid_blocks_are_rejected_on_update_too(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C123", text="hi")["ts"]
    error = api_error(client.chat_update, channel="C123", ts=ts, blocks=[actions(button("x" * 76))])
    assert error.response["error"] == "invalid_blocks"


def test_limits_themselves_are_accepted(client: WebClient) -> None:
    blocks = [actions(*[button("x" * 75, f"a{i}") for i in range(25)])] + [{"type": "divider"}] * 49
    assert client.chat_postMessage(channel="C123", text="fallback", blocks=blocks)["ok"]
    same_action_id_in_two_blocks = [actions(button(action_id="go")), actions(button(action_id="go"))]
    assert client.chat_postMessage(channel="C123", text="fallback", blocks=same_action_id_in_two_blocks)["ok"]


def test_block_kit_models_from_slack_sdk_are_accepted(slack: SlackStandin, client: WebClient) -> None:
    confirm = ConfirmObject(title="Destroy akira?", text="Everything of akira goes away.", confirm="Destroy",
                            deny="Cancel", style="danger")
    blocks = [
        HeaderBlock(text="akira is up"),
        SectionBlock(text=MarkdownTextObject(text="*akira* runs `feature-x` at <https://akira.y.localhost|akira>"),
                     fields=[MarkdownTextObject(text="*State*\nrunning"), MarkdownTextObject(text="*Owner*\n<@U123>")]),
        DividerBlock(),
        ContextBlock(elements=[MarkdownTextObject(text="took 42 s")]),
        ActionsBlock(block_id="stack:akira", elements=[
            ButtonElement(text="Open", action_id="open", url="https://akira.y.localhost"),
            ButtonElement(text="Redeploy", action_id="redeploy", value="akira", style="primary"),
            ButtonElement(text="Destroy", action_id="destroy", value="akira", style="danger", confirm=confirm),
        ]),
    ]
    answer = client.chat_postMessage(channel="C123", text="akira is up", blocks=blocks)
    assert answer["message"]["blocks"] == [b.to_dict() for b in blocks]

    view = View(type="modal", callback_id="env", title="Env of akira", submit="Save", close="Cancel",
                private_metadata="akira", blocks=[InputBlock(
                    block_id="env", label="KEY=VALUE lines",
                    element=PlainTextInputElement(action_id="value", multiline=True))])
    opened = client.views_open(trigger_id=slack.new_trigger_id(), view=view)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "env"
    assert opened["root_view_id"] == opened["id"] and opened["state"] == {"values": {}}
    assert slack.view(opened["id"])["private_metadata"] == "akira"


# -- views ----------------------------------------------------------------------------------------


def test_views_need_a_fresh_trigger_issued_by_slack() -> None:
    with SlackStandin(trigger_ttl=0.2) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        view = modal([section("hi")])
        missing = api_error(client.views_open, trigger_id="", view=view)
        assert missing.response["error"] == "invalid_arguments"
        assert api_error(client.views_open, trigger_id="123.456.abcdef", view=view).response["error"] \
            == "invalid_trigger_id"
        trigger = slack.new_trigger_id()
        assert client.views_open(trigger_id=trigger, view=view)["ok"]
        assert api_error(client.views_open, trigger_id=trigger, view=view).response["error"] \
            == "exchanged_trigger_id"
        stale = slack.new_trigger_id()
        time.sleep(0.3)
        assert api_error(client.views_push, trigger_id=stale, view=view).response["error"] == "expired_trigger_id"


INVALID_MODALS = {
    "title over 24": (modal([section("hi")], title={"type": "plain_text", "text": "x" * 25}), "/view/title/text]"),
    "mrkdwn title": (modal([section("hi")], title={"type": "mrkdwn", "text": "x"}), "/view/title/type]"),
    "submit over 24": (modal([section("hi")], submit={"type": "plain_text", "text": "x" * 25}),
                       "/view/submit/text]"),
    "input without submit": (modal([{"type": "input", "label": {"type": "plain_text", "text": "Key"},
                                     "element": {"type": "plain_text_input", "action_id": "k"}}]), "/view/submit]"),
    "callback_id over 255": (modal([section("hi")], callback_id="c" * 256), "/view/callback_id]"),
    "private_metadata over 3000": (modal([section("hi")], private_metadata="m" * 3001), "/view/private_metadata]"),
    "101 blocks": (modal([{"type": "divider"}] * 101), "/view/blocks]"),
    "76-char button": (modal([actions(button("x" * 76))]), "/view/blocks/0/elements/0/text/text]"),
    "home type": ({"type": "home", "blocks": []}, "/view/type]"),
}


@pytest.mark.parametrize("view,pointer", INVALID_MODALS.values(), ids=INVALID_MODALS.keys())
def test_invalid_modals_are_rejected(slack: SlackStandin, client: WebClient, view: dict[str, Any],
                                     pointer: str) -> None:
    trigger = slack.new_trigger_id()
    error = api_error(client.views_open, trigger_id=trigger, view=view)
    assert error.response["error"] == "invalid_arguments"
    messages = error.response["response_metadata"]["messages"]
    assert any(m.startswith("[ERROR] ") and m.endswith(pointer) for m in messages), messages
    assert client.views_open(trigger_id=trigger, view=modal([section("ok")]))["ok"]  # not used up by the failure


def test_views_update_and_publish(slack: SlackStandin, client: WebClient) -> None:
    opened = client.views_open(trigger_id=slack.new_trigger_id(), view=modal([section("loading")]))["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section("done")]))["view"]
    assert updated["id"] == opened["id"] and updated["blocks"] == [section("done")]
    assert api_error(client.views_update, view_id=opened["id"], hash=opened["hash"],
                     view=modal([section("late")])).response["error"] == "hash_conflict"
    assert api_error(client.views_update, view_id="V0NOPE", view=modal([])).response["error"] == "not_found"

    home = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    published = client.views_publish(user_id="U123", view=home)["view"]
    home_view = slack.home_view("U123")
    assert home_view is not None and home_view["id"] == published["id"]
    too_big = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert api_error(client.views_publish, user_id="U123", view=too_big).response["error"] == "invalid_arguments"
    assert api_error(client.views_publish, user_id="U0NOBODY", view=home).response["error"] == "user_not_found"


# -- rate limits ----------------------------------------------------------------------------------


def test_rate_limited_call_gets_429_with_retry_after(slack: SlackStandin, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    error = api_error(client.chat_postMessage, channel="C123", text="hi")
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "1"
    again = api_error(client.chat_postMessage, channel="C123", text="too soon")
    assert again.response.status_code == 429  # still inside Retry-After
    assert client.auth_test()["ok"]  # other methods are not limited
    time.sleep(1.05)
    assert client.chat_postMessage(channel="C123", text="later")["ok"]
    assert [m["text"] for m in slack.messages("C123")] == ["later"]


def test_rate_limit_retry_handler_waits_for_retry_after(slack: SlackStandin) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    slack.rate_limit("chat.update", times=1, retry_after=1)
    ts = client.chat_postMessage(channel="C123", text="v1")["ts"]
    assert client.chat_update(channel="C123", ts=ts, text="v2")["ok"]
    limited, retried = slack.calls("chat.update")
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at - limited.at >= 1.0
    assert slack.messages("C123")[0]["text"] == "v2"


# -- files ----------------------------------------------------------------------------------------


def test_files_upload_v2_end_to_end(slack: SlackStandin, client: WebClient) -> None:
    content = b"web.1 | listening on :8080\n" * 100
    parent = client.chat_postMessage(channel="C123", text="logs of akira")["ts"]
    answer = client.files_upload_v2(channel="C123", thread_ts=parent, content=content, filename="akira-web.log",
                                    title="akira web logs", initial_comment="last 100 lines")
    (uploaded,) = slack.files()
    assert answer["file"]["id"] == uploaded.id
    assert uploaded.content == content and uploaded.length == len(content)
    assert (uploaded.title, uploaded.channel_id, uploaded.thread_ts) == ("akira web logs", "C123", parent)
    (share,) = slack.replies("C123", parent)
    assert share["files"][0]["id"] == uploaded.id and share["text"] == "last 100 lines"


def test_completing_an_upload_that_never_happened_is_rejected(slack: SlackStandin, client: WebClient) -> None:
    file_id = client.files_getUploadURLExternal(filename="x.txt", length=3)["file_id"]
    error = api_error(client.files_completeUploadExternal, files=[{"id": file_id, "title": "x"}], channel_id="C123")
    assert error.response["error"] == "file_not_found"
    error = api_error(client.files_completeUploadExternal, files=[{"id": "F0NOPE", "title": "x"}])
    assert error.response["error"] == "file_not_found"
    assert slack.messages("C123") == []


# -- scopes ---------------------------------------------------------------------------------------


def test_the_default_scopes_are_the_bot_scopes_of_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text("oauth_config:\n  scopes:\n    bot:\n      - commands  # the command\n      - chat:write\n"
                        "    user:\n      - search:read\n")
    assert manifest_bot_scopes(manifest) == ["commands", "chat:write"]
    with SlackStandin() as slack:
        assert slack.scopes == manifest_bot_scopes(MANIFEST) and "chat:write" in slack.scopes


def test_a_method_without_its_scope_answers_missing_scope() -> None:
    with SlackStandin(scopes=["commands", "chat:write"]) as slack:
        slack.add_channel("G0PRIV", "private", is_private=True)
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        assert client.chat_postMessage(channel="C123", text="hi")["ok"]
        error = api_error(client.users_info, user="U123")
        assert error.response.status_code == 200
        assert error.response.data == {"ok": False, "error": "missing_scope", "needed": "users:read",
                                       "provided": "commands,chat:write"}
        assert api_error(client.conversations_info, channel="C123").response["needed"] == "channels:read"
        assert api_error(client.conversations_info, channel="G0PRIV").response["needed"] == "groups:read"
        assert api_error(client.files_upload_v2, channel="C123", content=b"x", filename="x.txt").response["needed"] \
            == "files:write"
        assert slack.files() == []
        assert client.views_open(trigger_id=slack.new_trigger_id(), view=modal([section("hi")]))["ok"]  # no scope
        assert api_error(client.conversations_join, channel="C123").response["needed"] == "channels:join"


def test_every_method_the_stand_in_answers_says_which_scope_it_needs(slack: SlackStandin) -> None:
    assert set(slack.method_names()) == set(METHOD_SCOPES)


# -- direct messages ------------------------------------------------------------------------------


def test_a_message_to_a_user_id_is_a_direct_message_in_the_apps_messages_tab(slack: SlackStandin,
                                                                              client: WebClient) -> None:
    answer = client.chat_postMessage(channel="U123", text="akira is up")
    dm = slack.direct_channel("U123")
    assert dm.startswith("D") and answer["channel"] == dm
    assert [m["text"] for m in slack.messages(dm)] == ["akira is up"]
    assert client.chat_update(channel=dm, ts=answer["ts"], text="akira is up (edited)")["ok"]
    assert api_error(client.chat_postMessage, channel="U0NOBODY", text="x").response["error"] == "channel_not_found"
    assert api_error(client.chat_postMessage, channel=slack.bot_user_id, text="x").response["error"] \
        == "cannot_dm_bot"


def test_conversations_open_with_im_write_and_a_dm_with_chat_write_alone() -> None:
    with SlackStandin(scopes=["chat:write", "im:write", "im:read"]) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        dm = client.conversations_open(users="U123")["channel"]["id"]
        assert dm == slack.direct_channel("U123")
        assert client.conversations_info(channel=dm)["channel"]["user"] == "U123"
    with SlackStandin(scopes=["chat:write"]) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.base_url)
        assert client.chat_postMessage(channel="U123", text="hi")["channel"] == slack.direct_channel("U123")
        assert api_error(client.conversations_open, users="U123").response["needed"] == "im:write"


# -- kinds of channels ----------------------------------------------------------------------------


def test_read_only_thread_only_and_archived_channels(slack: SlackStandin, client: WebClient) -> None:
    slack.add_channel("C0NEWS", "news", read_only=True)
    slack.add_channel("C0THREADS", "threads", thread_only=True)
    slack.add_channel("C0OLD", "old", is_archived=True, is_member=False)
    parent = "1600000000.000100"  # someone's message in the channel
    for thread_ts in (None, parent):
        assert api_error(client.chat_postMessage, channel="C0NEWS", text="x", thread_ts=thread_ts).response["error"] \
            == "restricted_action_read_only_channel"
    assert api_error(client.files_upload_v2, channel="C0NEWS", content=b"x", filename="x.txt").response["error"] \
        == "restricted_action_read_only_channel"
    assert api_error(client.chat_postMessage, channel="C0THREADS", text="x").response["error"] \
        == "restricted_action_thread_only_channel"
    assert api_error(client.files_upload_v2, channel="C0THREADS", content=b"x", filename="x.txt").response["error"] \
        == "restricted_action_thread_only_channel"
    reply = client.chat_postMessage(channel="C0THREADS", text="in the thread", thread_ts=parent)
    assert client.files_upload_v2(channel="C0THREADS", thread_ts=parent, content=b"x", filename="x.txt")["ok"]
    (message, share) = slack.replies("C0THREADS", parent)
    assert message["ts"] == reply["ts"] and share["files"][0]["name"] == "x.txt"
    assert api_error(client.chat_postMessage, channel="C0OLD", text="x").response["error"] == "is_archived"
    assert client.conversations_info(channel="C0OLD")["channel"]["is_archived"] is True
    assert slack.messages("C0NEWS") == [] and slack.messages("C0OLD") == []


# -- response URLs --------------------------------------------------------------------------------


def test_a_response_url_takes_five_posts(slack: SlackStandin) -> None:
    url = slack.new_response_url()
    webhook = WebhookClient(url)
    assert [webhook.send(text=f"answer {n}").status_code for n in range(5)] == [200] * 5
    sixth = webhook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "expired_url")
    assert [r.payload["text"] for r in slack.responses(url)] == [f"answer {n}" for n in range(5)]
    assert [r.status for r in slack.responses(url, refused=True)] == [200] * 5 + [404]


def test_a_response_url_expires_after_its_time_to_live() -> None:
    with SlackStandin(response_url_ttl=0.3) as slack:
        url = slack.new_response_url()
        assert WebhookClient(url).send(text="in time").status_code == 200
        time.sleep(0.4)
        late = WebhookClient(url).send(text="too late")
        assert (late.status_code, late.body) == (404, "expired_url")
        assert [r.payload["text"] for r in slack.responses(url)] == ["in time"]
        unknown = WebhookClient(slack.origin + "/commands/T0STANDIN/1/nope").send(text="x")
        assert unknown.status_code == 404 and unknown.body == "no_service"


# -- closed modals --------------------------------------------------------------------------------


def test_a_modal_the_user_closed_cannot_be_updated(slack: SlackStandin, client: WebClient) -> None:
    opened = client.views_open(trigger_id=slack.new_trigger_id(),
                               view=modal([section("working")], external_id="deploy-1"))["view"]
    other = client.views_open(trigger_id=slack.new_trigger_id(), view=modal([section("other")]))["view"]
    slack.close_view(opened["id"])
    for target in ({"view_id": opened["id"]}, {"external_id": "deploy-1"}):
        error = api_error(client.views_update, view=modal([section("done")]), **target)
        assert error.response["error"] == "not_found"
    assert slack.view(opened["id"])["blocks"] == [section("working")]
    assert client.views_update(view_id=other["id"], view=modal([section("done")]))["ok"]  # only that one is gone


# -- Socket Mode ----------------------------------------------------------------------------------


def test_apps_connections_open_needs_the_app_token() -> None:
    with SlackStandin(socket_mode=True) as slack:
        client = WebClient(base_url=slack.base_url)
        url = client.apps_connections_open(app_token=slack.app_token)["url"]
        assert url.startswith("ws://127.0.0.1:") and "/link/?ticket=" in url
        assert api_error(client.apps_connections_open, app_token="xapp-1-wrong").response["error"] == "invalid_auth"
        assert api_error(client.apps_connections_open, app_token=slack.bot_token).response["error"] \
            == "not_allowed_token_type"


def test_socket_mode_protocol_with_a_plain_websocket_client() -> None:
    with SocketModeStandin() as socket_mode:
        url = socket_mode.new_connection_url()
        with websocket_connect(url) as connection:
            hello = json.loads(connection.recv(timeout=5))
            assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0STANDIN"
            envelope_id = socket_mode.send_envelope("events_api", {"type": "event_callback", "event": {}})
            envelope = json.loads(connection.recv(timeout=5))
            assert envelope == {"envelope_id": envelope_id, "payload": {"type": "event_callback", "event": {}},
                                "type": "events_api", "accepts_response_payload": False,
                                "retry_attempt": 0, "retry_reason": ""}
            connection.send(json.dumps({"envelope_id": envelope_id}))
            assert socket_mode.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
        with pytest.raises(InvalidStatus) as refused:  # a ticket is good for one connection
            websocket_connect(url, open_timeout=5).close()
        assert refused.value.response.status_code == 401


def test_bolt_app_in_socket_mode_receives_and_acks_a_slash_command() -> None:
    with SlackStandin(socket_mode=True) as slack:
        app = App(signing_secret=SECRET, client=WebClient(token=slack.bot_token, base_url=slack.base_url))

        @app.command("/yadockeri")
        def answer(ack: Any, command: dict[str, Any]) -> None:
            ack(f"deploying {command['text'].split()[1]}")

        handler = SocketModeHandler(app, app_token=slack.app_token)
        handler.connect()
        try:
            assert slack.socket_mode is not None
            slack.socket_mode.wait_connected()
            payload = slash_command_payload("deploy akira feature-x", trigger_id=slack.new_trigger_id())
            envelope_id = slack.socket_mode.send_envelope("slash_commands", payload)
            ack = slack.socket_mode.wait_for_ack(envelope_id, timeout=3)
        finally:
            handler.close()
        assert ack["payload"]["text"] == "deploying akira"
        assert slack.calls("auth.test")[0].ok  # token verification at App() ran against the stand-in
        assert slack.calls("apps.connections.open")[0].token == slack.app_token


# -- HTTP mode: signing and payload shapes --------------------------------------------------------


def test_signature_is_accepted_by_slack_sdk_and_tampering_is_not() -> None:
    verifier = SignatureVerifier(SECRET)
    body = slash_command_body("deploy akira feature-x")
    headers = sign(SECRET, body)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid_request(body.decode(), headers)
    assert not verifier.is_valid_request(body.replace(b"akira", b"toru!"), headers)
    assert not verifier.is_valid_request(body, sign("another-secret", body))
    assert not verifier.is_valid_request(body, sign(SECRET, body, timestamp=int(time.time()) - 600))
    assert sign(SECRET, b"x", timestamp=1531420618) == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": verifier.generate_signature(timestamp="1531420618", body="x"),
    }


def test_payloads_are_understood_by_a_bolt_app_in_http_mode(slack: SlackStandin) -> None:
    app = App(signing_secret=SECRET, client=WebClient(token=slack.bot_token, base_url=slack.base_url))
    seen: dict[str, Any] = {}

    @app.command("/yadockeri")
    def command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        seen["command"] = command
        respond("working on it")

    @app.action("redeploy")
    def redeploy(ack: Any, action: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        seen["action"], seen["container"] = action, body["container"]

    @app.view("env")
    def env_submitted(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen["values"], seen["metadata"] = view["state"]["values"], view["private_metadata"]

    @app.view_closed("env")
    def env_closed(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen["closed"] = body["is_cleared"]

    response_url = slack.new_response_url()
    bodies = [
        slash_command_body("status akira", response_url=response_url),
        block_actions_body("redeploy", "akira", block_id="stack:akira", message_ts="1700000000.000100"),
        view_submission_body("env", {"env": {"value": "RAILS_ENV=staging"}}, private_metadata="akira"),
        view_closed_body("env"),
    ]
    for body in bodies:
        request = BoltRequest(body=body.decode(), headers=bolt_headers(signed_headers(SECRET, body)))
        assert app.dispatch(request).status == 200

    assert seen["command"]["text"] == "status akira" and seen["command"]["user_id"] == "U123"
    assert seen["action"]["value"] == "akira" and seen["action"]["block_id"] == "stack:akira"
    assert seen["container"] == {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C123",
                                 "is_ephemeral": False}
    assert seen["values"] == {"env": {"value": {"type": "plain_text_input", "value": "RAILS_ENV=staging"}}}
    assert seen["metadata"] == "akira" and seen["closed"] is False
    posted = slack.wait_for(lambda: slack.responses(response_url), what="a post to the response_url")
    assert posted[0].payload["text"] == "working on it"


def test_unsigned_or_stale_requests_are_refused_by_bolt(slack: SlackStandin) -> None:
    app = App(signing_secret=SECRET, client=WebClient(token=slack.bot_token, base_url=slack.base_url))
    app.command("/yadockeri")(lambda ack: ack())
    body = slash_command_body("list")
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 600)
    assert app.dispatch(BoltRequest(body=body.decode(), headers=bolt_headers(stale))).status == 401
    tampered = signed_headers(SECRET, body)
    assert app.dispatch(BoltRequest(body=body.decode().replace("list", "help"), headers=bolt_headers(tampered))).status == 401
