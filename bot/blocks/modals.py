"""Modals: the deploy form, the env form, and a plain one for answers."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from stacks.text import inert_line

from ..text import clip, code, esc
from .common import context, section

DEPLOY_CALLBACK = "deploy"
ENV_CALLBACK = "env"
RESULT_CALLBACK = "result"
ENV_INPUTS_MAX = 80  # one input per key; the rest are changed through the "add" field
SET_PREFIX = "set:"
VALUE = "value"  # the action_id of every input element


def metadata(**values: str) -> str:
    return clip(json.dumps(values, separators=(",", ":")), 3000)


def read_metadata(text: str | None) -> dict[str, str]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def deploy_modal(apps: dict[str, str], default_app: str | None, channel: str) -> View:
    """apps: name -> default branch."""
    blocks: list[Block] = []
    if len(apps) > 1:
        options = [Option(value=name, text=clip(name, 75)) for name in sorted(apps)][:100]
        initial = next((o for o in options if o.value == default_app), None)
        blocks.append(InputBlock(block_id="app", label="App",
                                 element=StaticSelectElement(action_id=VALUE, options=options, initial_option=initial)))
    elif apps:
        blocks.append(context(f"app {code(next(iter(apps)))}"))
    blocks.append(InputBlock(
        block_id="stack", label="Stack name",
        element=PlainTextInputElement(action_id=VALUE, placeholder="akira", max_length=40),
        hint="Lowercase letters, digits and dashes. It becomes the stack's host name.",
    ))
    branch = apps.get(default_app or "", None) or (next(iter(apps.values())) if apps else None)
    blocks.append(InputBlock(
        block_id="branch", label="Branch",
        element=PlainTextInputElement(action_id=VALUE, placeholder="feature-x", initial_value=branch),
    ))
    return View(type="modal", callback_id=DEPLOY_CALLBACK, title="Deploy a branch", submit="Deploy",
                close="Cancel", private_metadata=metadata(channel=channel), blocks=blocks)


def env_modal(stack: str, masked: dict[str, str], *, channel: str) -> View:
    """Keys with masked values; a field per key to change it, one to add, one to remove."""
    intro = (f"Env vars of {code(stack)}. Values are secrets: they are shown masked and never posted. "
             "Changes apply without a rebuild, and the stack's thread gets a note naming the changed keys. "
             "Only the stack's owner and admins may change them.")
    blocks: list[Block] = [section(intro)]
    keys = sorted(masked)
    for key in keys[:ENV_INPUTS_MAX]:
        blocks.append(InputBlock(
            block_id=f"{SET_PREFIX}{key}", label=clip(key, 2000), optional=True,
            element=PlainTextInputElement(action_id=VALUE, placeholder="type a new value to change it"),
            hint=clip(f"now {inert_line(masked[key])}", 2000),
        ))
    if len(keys) > ENV_INPUTS_MAX:
        rest = ", ".join(f"{code(k)} {esc(masked[k])}" for k in keys[ENV_INPUTS_MAX:])
        blocks.append(section("Also set (change them below with KEY=VALUE): " + rest))
    blocks.append(InputBlock(
        block_id="add", label="Add or change", optional=True,
        element=PlainTextInputElement(action_id=VALUE, multiline=True, placeholder="KEY=VALUE, one per line"),
        hint="Keys are letters, digits and _, not starting with a digit.",
    ))
    if keys:
        options = [Option(value=k, text=clip(k, 75)) for k in keys][:100]
        blocks.append(InputBlock(
            block_id="remove", label="Remove", optional=True,
            element=StaticMultiSelectElement(action_id=VALUE, placeholder="keys to remove", options=options),
        ))
    return View(type="modal", callback_id=ENV_CALLBACK, title="Env vars", submit="Save", close="Cancel",
                private_metadata=metadata(stack=stack, channel=channel), blocks=blocks)


def message_modal(title: str, text: str) -> View:
    """A modal that only says something (the answer to a form or to an App Home button)."""
    return View(type="modal", callback_id=RESULT_CALLBACK, title=clip(title, 24), close="Close",
                blocks=[section(text)])


# Reading submissions ---------------------------------------------------------------------------
def input_value(values: dict, block_id: str) -> str:
    state = (values.get(block_id) or {}).get(VALUE) or {}
    if state.get("type") in ("static_select", "external_select"):
        return ((state.get("selected_option") or {}).get("value")) or ""
    return state.get("value") or ""


def selected_values(values: dict, block_id: str) -> list[str]:
    state = (values.get(block_id) or {}).get(VALUE) or {}
    return [o.get("value", "") for o in state.get("selected_options") or []]
