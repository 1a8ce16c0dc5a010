"""Pieces shared by messages, modals and the App Home.

Every mrkdwn text object is `verbatim`: Slack then turns no bare URL into a link and no
`@channel` into a mention (untrusted text is in them, escaped by bot.text.esc); what we link or
mention we write explicitly (`<url|label>`, `<@U123>`, `<#C123>`, `<!date^...>`), which
verbatim text still renders. No message of ours needs a channel-wide mention, so as a last
guard a `<!channel>`-like token never leaves here (see `mrkdwn`)."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    BlockElement,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from ..text import clip, code, without_special_mentions

SECTION_MAX = 3000
CONTEXT_MAX = 3000

# action_ids of the buttons every stack shows (messages, ephemeral answers, App Home)
OPEN, REDEPLOY, ENV, LOGS, DESTROY, STATUS = "open", "redeploy", "env", "logs", "destroy", "status"
# the buttons of a destroy prompt (blocks/stacks.py destroy_prompt), and of a form offered in a message
DESTROY_CONFIRMED, DESTROY_CANCEL, DEPLOY_FORM = "destroy_confirmed", "destroy_cancel", "deploy_form"
# the Keep buttons of a warning: action_id -> how long
KEEP_FOR = {"keep_1d": 86400, "keep_7d": 7 * 86400}


def mrkdwn(text: str, limit: int = SECTION_MAX) -> MarkdownTextObject:
    """A verbatim mrkdwn text object (see the module), without any special mention."""
    return MarkdownTextObject(text=clip(without_special_mentions(text), limit), verbatim=True)


def section(text: str, *, accessory: BlockElement | None = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text, SECTION_MAX), accessory=accessory)


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(t, CONTEXT_MAX) for t in texts if t][:10])


def destroy_confirm(stack: str) -> ConfirmObject:
    return ConfirmObject(
        title=clip(f"Destroy {stack}?", 100),
        text=mrkdwn(f"Every service, volume and env var of {code(stack)} goes away. This cannot be undone."),
        confirm="Destroy",
        deny="Cancel",
        style="danger",
    )


def destroy_button(stack: str) -> ButtonElement:
    return ButtonElement(text="Destroy", action_id=DESTROY, value=stack, style="danger",
                         confirm=destroy_confirm(stack))


def keep_buttons(stack: str) -> ActionsBlock:
    return ActionsBlock(block_id=f"keep:{stack}"[:255], elements=[
        ButtonElement(text="Keep 1 day", action_id="keep_1d", value=stack, style="primary"),
        ButtonElement(text="Keep 7 days", action_id="keep_7d", value=stack),
    ])


def stack_buttons(stack: str, url: str | None, *, destroy: bool = True) -> list[ButtonElement]:
    """Open (a link), Redeploy, Env, Logs, Destroy (asks first)."""
    buttons = []
    if url:
        buttons.append(ButtonElement(text="Open", action_id=OPEN, url=url, value=stack))
    buttons += [
        ButtonElement(text="Redeploy", action_id=REDEPLOY, value=stack),
        ButtonElement(text="Env", action_id=ENV, value=stack),
        ButtonElement(text="Logs", action_id=LOGS, value=stack),
    ]
    if destroy:
        buttons.append(destroy_button(stack))
    return buttons


def form_button(text: str, action_id: str, value: str) -> ActionsBlock:
    """One button that opens a form: where there is no trigger_id to open it with (a mention), its
    click brings one."""
    return ActionsBlock(block_id=f"form:{action_id}"[:255], elements=[
        ButtonElement(text=text, action_id=action_id, value=value or "-", style="primary")])


def stack_actions(stack: str, url: str | None, *, destroy: bool = True) -> ActionsBlock:
    return ActionsBlock(block_id=f"stack:{stack}", elements=stack_buttons(stack, url, destroy=destroy))


def pager(action_prefix: str, page: int, pages: int) -> list[Block]:
    """Previous / Next buttons (value: the page to show), or nothing when one page is enough."""
    if pages <= 1:
        return []
    buttons = []
    if page > 0:
        buttons.append(ButtonElement(text="Previous", action_id=f"{action_prefix}_prev", value=str(page - 1)))
    if page < pages - 1:
        buttons.append(ButtonElement(text="Next", action_id=f"{action_prefix}_next", value=str(page + 1)))
    return [ActionsBlock(block_id=f"{action_prefix}_pager", elements=buttons),
            context(f"page {page + 1} of {pages}")]


def pages_of(count: int, size: int) -> int:
    return max(1, -(-count // size))


def as_dicts(blocks: list[Block]) -> list[dict]:
    return [block.to_dict() for block in blocks]
