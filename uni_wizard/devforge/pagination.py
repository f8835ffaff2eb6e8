"""Gitea's list paging: ``page`` 1-based, ``limit`` 30 by default and silently capped at 50.

``X-Total-Count`` on every list; ``Link`` (next, last, first, prev; joined by "," without a space;
absolute URLs made from ROOT_URL plus the request URI with ``page`` replaced) only on the lists
that send it in Gitea (issues, pulls, branches, statuses; not labels, hooks, reviews, comments).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "link_header", "list_response", "page_of"]

DEFAULT_LIMIT = 30
MAX_LIMIT = 50
T = TypeVar("T")


def _form_int(request: Request, name: str) -> int:
    try:
        return int(request.query_params.get(name, "0"))
    except ValueError:
        return 0


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def slice(self, items: Sequence[T]) -> list[T]:
        return list(items[self.offset : self.offset + self.limit])


def page_of(request: Request) -> Page:
    page = max(_form_int(request, "page"), 1)
    limit = _form_int(request, "limit")
    if limit <= 0:
        limit = DEFAULT_LIMIT
    return Page(page, min(limit, MAX_LIMIT))


def link_header(request: Request, root_url: str, total: int, limit: int) -> str:
    total_pages = 1 if total == 0 else math.ceil(total / limit)
    current = min(max(_form_int(request, "page"), 1), total_pages)
    has_next = total > current * limit
    is_last = total == 0 or (total > (current - 1) * limit and not has_next)
    links = []

    def url(page: int) -> str:
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        items.append(("page", str(page)))
        items.sort(key=lambda kv: kv[0])
        return f"{root_url}{request.url.path.lstrip('/')}?{urlencode(items)}"

    if has_next:
        links.append(f'<{url(current + 1)}>; rel="next"')
    if not is_last:
        links.append(f'<{url(total_pages)}>; rel="last"')
    if current != 1:
        links.append(f'<{url(1)}>; rel="first"')
    if current > 1:
        links.append(f'<{url(current - 1)}>; rel="prev"')
    return ",".join(links)


def list_response(
    request: Request, items: list[Any], total: int, *, link: bool, limit: int | None = None
) -> JSONResponse:
    headers = {"X-Total-Count": str(total)}
    if link:
        root_url: str = request.app.state.forge.root_url
        value = link_header(request, root_url, total, limit or page_of(request).limit)
        if value:
            headers["Link"] = value
    return JSONResponse(items, headers=headers)
