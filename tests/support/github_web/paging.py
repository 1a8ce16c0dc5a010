"""GitHub's pagination: `per_page` (default 30, at most 100) and `page` (from 1) in the query, and a
`Link` header naming the `prev`, `next`, `last` and `first` pages (each only where it exists)."""

from __future__ import annotations

import math
from typing import Any, TypeVar
from urllib.parse import urlencode

from .base import Answer

T = TypeVar("T")
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def paginate(items: list[Any], query: dict[str, str], url: str) -> Answer:
    """A 200 answer with one page of `items` (already in GitHub's order); `url` is the page's URL
    without its query, to which the links point."""
    per_page = min(_positive(query.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
    page = _positive(query.get("page"), 1)
    last = max(1, math.ceil(len(items) / per_page))
    chosen = items[(page - 1) * per_page: page * per_page]
    links = []
    if page > 1:
        links.append((min(page - 1, last), "prev"))
    if page < last:
        links += [(page + 1, "next"), (last, "last")]
    if page > 1:
        links.append((1, "first"))
    headers = {}
    if links:
        headers["Link"] = ", ".join(f'<{url}?{_query(query, number)}>; rel="{rel}"' for number, rel in links)
    return Answer(200, chosen, headers)


def _positive(value: str | None, default: int) -> int:
    """GitHub ignores a per_page or page that is not a positive number."""
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else default


def _query(query: dict[str, str], page: int) -> str:
    return urlencode({**{k: v for k, v in query.items() if k != "page"}, "page": str(page)})
