"""Peers' house outcomes into this host's routing history: the spool reader's ``on_event``.

    importer = OutcomeImporter(RoutingLedger(store, host="vps-b"))
    reader = SpoolReader(folder, "vps-b", peers, state, on_event=importer)

Every host's worker logs a ``house.outcome`` event when it records a finished attempt; the spool
writer exports it to that host's telemetry file, and every other host's reader hands it here. Only
``house.outcome`` events are taken (any other kind is ignored). An event whose data is bad, or whose
``host`` is not the directory it was read from, is refused with a warning and nothing is written; one
read twice (a re-read file, a duplicate line) is imported once (``RoutingLedger.import_outcome`` is
keyed by host and ``seq``). A store failure propagates: the reader stops at that line and delivers it
again on its next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..dispatch.history import RoutingLedger
from ..errors import EventRejected
from ..observe.events import EventKind

__all__ = ["OutcomeImporter"]

log = logging.getLogger(__name__)


class OutcomeImporter:
    """Imports peers' ``house.outcome`` events into ``ledger``; counts what it imported and refused."""

    def __init__(self, ledger: RoutingLedger) -> None:
        self.ledger = ledger
        self.imported = 0
        self.refused = 0

    def __call__(self, peer: str, event: Mapping[str, Any]) -> None:
        if event.get("kind") != EventKind.HOUSE_OUTCOME:
            return
        seq = event.get("seq")
        try:
            origin = event.get("host")
            if origin != peer:
                raise EventRejected(f"it names host {origin!r:.80} but was read from {peer}'s telemetry")
            if not isinstance(seq, int):
                raise EventRejected(f"its seq is not an integer: {seq!r:.80}")
            at = event.get("at")
            imported = self.ledger.import_outcome(
                peer, seq, event.get("data", {}), at=at if isinstance(at, str) else None
            )
        except EventRejected as exc:
            self.refused += 1
            log.warning("refused the house.outcome event seq %s from %s: %s", seq, peer, exc)
            return
        if imported:
            self.imported += 1
