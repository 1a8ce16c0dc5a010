"""Block Kit rules, as Slack enforces them when a message or a view is sent.

Only a subset of Slack's schema is checked, but every rule here is one of Slack's (limits from
docs.slack.dev, Block Kit reference). Each error is a string in Slack's style:
``"must be at most 75 characters [json-pointer:/blocks/2/elements/0/text/text]"``.

Surfaces: ``"message"`` (max 50 blocks), ``"modal"`` and ``"home"`` (max 100 blocks).
"""

from __future__ import annotations

from typing import Any

MESSAGE = "message"
MODAL = "modal"
HOME = "home"

MAX_BLOCKS: dict[str, int] = {MESSAGE: 50, MODAL: 100, HOME: 100}
MAX_MESSAGE_TEXT = 40_000

BLOCK_TYPES = frozenset(
    {"section", "divider", "header", "context", "actions", "input", "image", "rich_text",
     "file", "video", "markdown"}
)
ELEMENT_TYPES = frozenset(
    {"button", "checkboxes", "datepicker", "datetimepicker", "email_text_input", "file_input", "image",
     "multi_static_select", "multi_external_select", "multi_users_select", "multi_conversations_select",
     "multi_channels_select", "number_input", "overflow", "plain_text_input", "radio_buttons",
     "rich_text_input", "static_select", "external_select", "users_select", "conversations_select",
     "channels_select", "timepicker", "url_text_input", "workflow_button"}
)
BUTTON_STYLES = frozenset({"primary", "danger"})
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
SELECTS_WITH_OPTIONS = frozenset({"static_select", "multi_static_select"})


def block_errors(blocks: Any, surface: str, pointer: str = "/blocks") -> list[str]:
    """All rule violations of a `blocks` array on `surface`; empty when Slack would accept it."""
    checker = _Checker()
    checker.blocks(blocks, surface, pointer)
    return checker.errors


def view_errors(view: Any, expected_type: str, pointer: str = "/view") -> list[str]:
    """All rule violations of a view object (`expected_type` is "modal" or "home")."""
    checker = _Checker()
    checker.view(view, expected_type, pointer)
    return checker.errors


def has_input_blocks(blocks: Any) -> bool:
    return isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    # -- primitives ---------------------------------------------------------------------------

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, max_len: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail(pointer, "missing required field")
            return
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
        elif len(value) > max_len:
            self.fail(pointer, f"must be at most {max_len} characters")

    def array(self, value: Any, pointer: str, max_items: int, *, required: bool = True) -> list[Any]:
        if value is None:
            if required:
                self.fail(pointer, "missing required field")
            return []
        if not isinstance(value, list):
            self.fail(pointer, "must be an array")
            return []
        if required and not value:
            self.fail(pointer, "must provide at least 1 item")
        if len(value) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        return value

    def text_object(
        self, obj: Any, pointer: str, max_len: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.fail(pointer, "missing required field")
            return
        if not isinstance(obj, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = obj.get("type")
        if kind not in TEXT_TYPES:
            self.fail(f"{pointer}/type", "must be plain_text or mrkdwn")
        elif plain_only and kind != "plain_text":
            self.fail(f"{pointer}/type", "must be plain_text")
        if "verbatim" in obj and (kind != "mrkdwn" or not isinstance(obj["verbatim"], bool)):
            self.fail(f"{pointer}/verbatim", "must be a boolean, and only on mrkdwn")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail(f"{pointer}/text", "missing required field" if text is None else "must be a string")
        elif not text:
            self.fail(f"{pointer}/text", "must be more than 0 characters")
        elif len(text) > max_len:
            self.fail(f"{pointer}/text", f"must be at most {max_len} characters")

    # -- views --------------------------------------------------------------------------------

    def view(self, view: Any, expected_type: str, pointer: str) -> None:
        if not isinstance(view, dict):
            self.fail(pointer, "must provide an object")
            return
        if view.get("type") != expected_type:
            self.fail(f"{pointer}/type", f"must be {expected_type}")
            return
        if expected_type == MODAL:
            self.text_object(view.get("title"), f"{pointer}/title", 24, plain_only=True)
            self.text_object(view.get("close"), f"{pointer}/close", 24, plain_only=True, required=False)
            self.text_object(view.get("submit"), f"{pointer}/submit", 24, plain_only=True, required=False)
            if has_input_blocks(view.get("blocks")) and view.get("submit") is None:
                self.fail(f"{pointer}/submit", "submit is required when an input block is within the blocks array")
        self.string(view.get("callback_id"), f"{pointer}/callback_id", 255)
        self.string(view.get("private_metadata"), f"{pointer}/private_metadata", 3000)
        self.string(view.get("external_id"), f"{pointer}/external_id", 255)
        self.blocks(view.get("blocks"), expected_type, f"{pointer}/blocks")

    # -- blocks -------------------------------------------------------------------------------

    def blocks(self, blocks: Any, surface: str, pointer: str) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must provide an array")
            return
        if len(blocks) > MAX_BLOCKS[surface]:
            self.fail(pointer, f"no more than {MAX_BLOCKS[surface]} items allowed")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            self.block(block, surface, f"{pointer}/{index}", block_ids)

    def block(self, block: Any, surface: str, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported block type: {kind}")
            return
        self.block_id(block.get("block_id"), f"{pointer}/block_id", block_ids)
        checker = getattr(self, f"block_{kind}", None)
        if checker is not None:
            checker(block, surface, pointer)

    def block_id(self, block_id: Any, pointer: str, seen: set[str]) -> None:
        if block_id is None:
            return
        self.string(block_id, pointer, 255)
        if isinstance(block_id, str):
            if block_id in seen:
                self.fail(pointer, f"duplicate block_id: {block_id}")
            seen.add(block_id)

    def block_section(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        if block.get("text") is None and block.get("fields") is None:
            self.fail(f"{pointer}/text", "missing required field: a section needs text or fields")
        self.text_object(block.get("text"), f"{pointer}/text", 3000, required=False)
        fields = self.array(block.get("fields"), f"{pointer}/fields", 10, required=False)
        for index, field in enumerate(fields):
            self.text_object(field, f"{pointer}/fields/{index}", 2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory", set())

    def block_header(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        self.text_object(block.get("text"), f"{pointer}/text", 150, plain_only=True)

    def block_context(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", 10)
        for index, element in enumerate(elements):
            element_pointer = f"{pointer}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                self.image_element(element, element_pointer)
            else:
                self.text_object(element, element_pointer, 3000)

    def block_actions(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        action_ids: set[str] = set()
        elements = self.array(block.get("elements"), f"{pointer}/elements", 25)
        for index, element in enumerate(elements):
            self.element(element, f"{pointer}/elements/{index}", action_ids)

    def block_input(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        if surface == MESSAGE:
            self.fail(f"{pointer}/type", "input blocks are only supported in modals and Home tabs")
        self.text_object(block.get("label"), f"{pointer}/label", 2000, plain_only=True)
        self.text_object(block.get("hint"), f"{pointer}/hint", 2000, plain_only=True, required=False)
        if block.get("element") is None:
            self.fail(f"{pointer}/element", "missing required field")
        else:
            self.element(block["element"], f"{pointer}/element", set())

    def block_image(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        self.image_element(block, pointer)
        self.text_object(block.get("title"), f"{pointer}/title", 2000, plain_only=True, required=False)

    def block_rich_text(self, block: dict[str, Any], surface: str, pointer: str) -> None:
        self.array(block.get("elements"), f"{pointer}/elements", 10_000)

    # -- elements -----------------------------------------------------------------------------

    def element(self, element: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = element.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"{pointer}/type", f"unsupported element type: {kind}")
            return
        if kind == "image":
            self.image_element(element, pointer)
            return
        self.action_id(element.get("action_id"), f"{pointer}/action_id", action_ids)
        self.text_object(element.get("placeholder"), f"{pointer}/placeholder", 150, plain_only=True, required=False)
        if element.get("confirm") is not None:
            self.confirm(element["confirm"], f"{pointer}/confirm")
        if kind == "button":
            self.button(element, pointer)
        elif kind == "overflow":
            self.options(element.get("options"), f"{pointer}/options", 5, required=True)
        elif kind in SELECTS_WITH_OPTIONS and element.get("option_groups") is None:
            self.options(element.get("options"), f"{pointer}/options", 100, required=True)

    def action_id(self, action_id: Any, pointer: str, seen: set[str]) -> None:
        if action_id is None:
            return
        self.string(action_id, pointer, 255)
        if isinstance(action_id, str):
            if action_id in seen:
                self.fail(pointer, f"duplicate action_id: {action_id}")
            seen.add(action_id)

    def button(self, button: dict[str, Any], pointer: str) -> None:
        self.text_object(button.get("text"), f"{pointer}/text", 75, plain_only=True)
        self.string(button.get("value"), f"{pointer}/value", 2000)
        self.string(button.get("url"), f"{pointer}/url", 3000)
        self.string(button.get("accessibility_label"), f"{pointer}/accessibility_label", 75)
        style = button.get("style")
        if style is not None and style not in BUTTON_STYLES:
            self.fail(f"{pointer}/style", "must be one of: primary, danger")

    def confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.fail(pointer, "must provide an object")
            return
        self.text_object(confirm.get("title"), f"{pointer}/title", 100, plain_only=True)
        self.text_object(confirm.get("text"), f"{pointer}/text", 300)
        self.text_object(confirm.get("confirm"), f"{pointer}/confirm", 30, plain_only=True)
        self.text_object(confirm.get("deny"), f"{pointer}/deny", 30, plain_only=True)
        style = confirm.get("style")
        if style is not None and style not in BUTTON_STYLES:
            self.fail(f"{pointer}/style", "must be one of: primary, danger")

    def options(self, options: Any, pointer: str, max_items: int, *, required: bool) -> None:
        for index, option in enumerate(self.array(options, pointer, max_items, required=required)):
            option_pointer = f"{pointer}/{index}"
            if not isinstance(option, dict):
                self.fail(option_pointer, "must provide an object")
                continue
            self.text_object(option.get("text"), f"{option_pointer}/text", 75)
            self.string(option.get("value"), f"{option_pointer}/value", 150)

    def image_element(self, image: dict[str, Any], pointer: str) -> None:
        if image.get("image_url") is None and image.get("slack_file") is None:
            self.fail(f"{pointer}/image_url", "missing required field: image_url or slack_file")
        self.string(image.get("image_url"), f"{pointer}/image_url", 3000)
        self.string(image.get("alt_text"), f"{pointer}/alt_text", 2000, required=True)
