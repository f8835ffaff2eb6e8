"""Gitea list pagination, and de-duplication for inclusive ``since`` polling.

Gitea pages are 1-based; ``limit`` is silently capped at 50 (``MAX_RESPONSE_ITEMS``),
so asking for more would make the short-page test stop early: ``paginate`` never
asks for more than 50. It stops at the first of

- a short page (``len(batch) < limit``),
- a ``Link`` header without ``rel="next"`` (labels, hooks, reviews and comments
  send no ``Link`` at all: then only the other rules apply),
- ``X-Total-Count`` items received,
- ``max_items`` items yielded.

The next page's number is read from the ``rel="next"`` link but the request
goes to the same route on the client's own base URL: Gitea builds the link
from its ``ROOT_URL``, which may name another host than the one the client
talks to (and the token must never follow a link elsewhere).

    async for raw in paginate(fetch, {"state": "all"}, limit=50):
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping, MutableSet
from typing import Any, TypeVar

import httpx

from ..errors import ForgeError

__all__ = ["MAX_LIMIT", "PageFetch", "dedupe_since", "paginate"]

MAX_LIMIT = 50

T = TypeVar("T")

PageFetch = Callable[[Mapping[str, Any]], Awaitable[httpx.Response]]
"""Sends one GET of the list with these query parameters and returns the (successful) answer."""


def _next_page(response: httpx.Response, page: int) -> int | None:
    """The page the ``rel="next"`` link names; ``page + 1`` if it names none; None without one."""
    if "link" not in response.headers:
        return page + 1
    link = response.links.get("next")
    if link is None:
        return None
    try:
        value = httpx.URL(link.get("url", "")).params.get("page")
        wanted = int(value) if value is not None else page + 1
    except (httpx.InvalidURL, ValueError):
        wanted = page + 1
    return wanted if wanted > page else None  # never go back: a broken link must not loop


def _total(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["x-total-count"])
    except (KeyError, ValueError):
        return None


async def paginate(
    fetch: PageFetch,
    params: Mapping[str, Any] | None = None,
    *,
    limit: int = MAX_LIMIT,
    max_items: int | None = None,
) -> AsyncIterator[Any]:
    """Yield the decoded items of every page, in the forge's order.

    ``limit`` is the page size, clamped to 1..50; ``max_items`` stops early.
    The first request carries no ``page`` (the forge's default is page 1).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    if max_items is not None and max_items <= 0:
        return
    query: dict[str, Any] = {**(params or {}), "limit": limit}
    page, received, yielded = 1, 0, 0
    while True:
        response = await fetch(query)
        batch = response.json()
        if not isinstance(batch, list):
            raise ForgeError(
                f"forge list {response.request.url.path}: expected a JSON array, got {type(batch).__name__}",
                status=response.status_code,
                url=str(response.request.url.copy_with(query=None)),
            )
        received += len(batch)
        for item in batch:
            yield item
            yielded += 1
            if max_items is not None and yielded >= max_items:
                return
        total = _total(response)
        following = _next_page(response, page)
        if len(batch) < limit or following is None or (total is not None and received >= total):
            return
        page = following
        query = {**query, "page": page}


def _key(item: Any) -> Hashable:
    def get(name: str) -> Any:
        return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)

    number, updated = get("number"), get("updated_at")
    if number is not None:
        return ("number", number, str(updated))
    return ("id", get("id"), str(updated))


def dedupe_since(items: Iterable[T], seen: MutableSet[Hashable]) -> list[T]:
    """The items not met before, in order; their keys are added to ``seen``.

    Gitea's ``since`` is inclusive (``updated >= since``), so a poll that passes the
    last ``updated_at`` it saw gets those items again. An item is the same when its
    ``(number, updated_at)`` is (issues, pulls), else its ``(id, updated_at)``
    (comments, statuses: an edited comment comes back once more). Works on models
    and on raw dicts. ``seen`` grows: a poller may keep only the keys of its last window.
    """
    fresh: list[T] = []
    for item in items:
        key = _key(item)
        if key not in seen:
            seen.add(key)
            fresh.append(item)
    return fresh
