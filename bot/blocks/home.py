"""The App Home tab: the stacks with their buttons, paginated within 100 blocks."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock
from slack_sdk.models.views import View

from stacks.capacity import Capacity
from stacks.store import StackRecord

from .common import context, pager, pages_of, section, stack_actions
from .stacks import capacity_text, stack_line

HOME_PAGE = 30  # 3 blocks a stack: 3 + 90 + 2 <= 100


def home_view(stacks: list[StackRecord], urls: dict[str, str], page: int = 0, now: datetime | None = None,
              next_: dict[str, str] | None = None, capacity: Capacity | None = None) -> View:
    pages = pages_of(len(stacks), HOME_PAGE)
    page = min(max(page, 0), pages - 1)
    blocks: list[Block] = [
        HeaderBlock(text="yadockeri"),
        section("A review environment for any branch. `/yadockeri deploy NAME BRANCH` makes one, "
                "`/yadockeri help` says the rest."),
    ]
    if capacity is not None:  # its stacks line counts them
        blocks.append(context(("No stacks yet. " if not stacks else "") + capacity_text(capacity)))
    elif not stacks:
        blocks.append(context("No stacks yet."))
    else:
        blocks.append(context(f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''}"))
    for stack in stacks[page * HOME_PAGE:(page + 1) * HOME_PAGE]:
        url = urls[stack.name]
        blocks.append(section(stack_line(stack, url, now, (next_ or {}).get(stack.name, ""))))
        blocks.append(stack_actions(stack.name, url if stack.state == "running" else None))
        blocks.append(DividerBlock())
    blocks += pager("home_page", page, pages)
    return View(type="home", callback_id="home", private_metadata=str(page), blocks=blocks)


def restricted_home_view(channels: list[str]) -> View:
    where = ", ".join(f"<#{c}>" for c in channels)
    return View(type="home", callback_id="home", blocks=[
        HeaderBlock(text="yadockeri"),
        section(f"yadockeri works in {where} only: use `/yadockeri` there."),
    ])
