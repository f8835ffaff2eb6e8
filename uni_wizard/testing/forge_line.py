"""``ForgeLine``: the ``RecordingTransport`` the lane tests put between a client and the devforge, with the
knobs they turn while a test runs (every one off until set).

    line = ForgeLine(after_write=kill_after_the_pull_request)
    client = GiteaClient(url, token, transport=line)
    line.fail_writes_after = 3   # writes beyond three answered ones fail unsent (ConnectError)
    line.fail_reads = 1          # the next read fails unsent
    line.lose_next_answer = True # the next write is applied, its answer lost (ReadError)
    line.down = True             # nothing reaches the forge
    assert line.writes == ["POST /api/v1/repos/mesh/r/issues/1/comments"]
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from .transport import RecordingTransport

__all__ = ["ForgeLine"]

Hook = Callable[[httpx.Request], None]


def _is_read(request: httpx.Request) -> bool:
    return request.method in ("GET", "HEAD")


class ForgeLine(RecordingTransport):
    """A real transport (see ``RecordingTransport``) that fails what its knobs say.

    ``after_write(request)`` runs after each write the forge answered, ``after_listing(request)`` after each
    answered issue listing (``GET .../issues``): a test moves its clock or cancels a task there.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        close_inner: bool = True,
        after_write: Hook | None = None,
        after_listing: Hook | None = None,
    ) -> None:
        super().__init__(inner, close_inner=close_inner, after=self._answered)
        self.fail_writes_after: int | None = None
        self.fail_reads = 0
        self.lose_next_answer = False
        self.after_write = after_write
        self.after_listing = after_listing
        self.fail(self._read_fails, times=None)
        self.fail(self._over_limit, times=None)
        self.fail(self._answer_lost, times=None, after=True)

    @property
    def writes(self) -> list[str]:
        """``"METHOD /path"`` of the writes the forge answered."""
        return self.lines(writes=True, answered=True)

    @property
    def reads(self) -> list[str]:
        """``"METHOD /path"`` of every read."""
        return self.lines(writes=False)

    @property
    def applied(self) -> int:
        """How many writes reached the forge (lost answers included)."""
        return sum(e.is_write and e.status is not None for e in self.exchanges)

    @property
    def refused(self) -> int:
        """How many requests a knob of the line failed."""
        return sum(e.injected for e in self.exchanges)

    def _read_fails(self, request: httpx.Request) -> bool:
        failing = _is_read(request) and self.fail_reads > 0
        self.fail_reads -= failing
        return failing

    def _over_limit(self, request: httpx.Request) -> bool:
        limit = self.fail_writes_after
        return not _is_read(request) and limit is not None and len(self.writes) >= limit

    def _answer_lost(self, request: httpx.Request) -> bool:
        lost = not _is_read(request) and not self.down and self.lose_next_answer and not self._over_limit(request)
        self.lose_next_answer = self.lose_next_answer and not lost
        return lost

    def _answered(self, request: httpx.Request, _: httpx.Response) -> None:
        if not _is_read(request):
            hook = self.after_write
        else:
            hook = self.after_listing if request.url.path.endswith("/issues") else None
        if hook is not None:
            hook(request)
