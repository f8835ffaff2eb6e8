"""The process's log: one format on stderr, and the HTTP clients' request lines only when debugging.

    configure_logging("INFO", debug=False)   # `uni-wizard serve`: the daemon's lines, without httpx's
    quiet_http_clients(debug=False)          # every other command: only the HTTP clients' levels

httpx logs one INFO line per request ("HTTP Request: GET ... 200 OK") and httpcore a DEBUG line per step of
each connection: a daemon talking to the forge every few seconds would fill its journal with them and hide
its own lines. They stay at WARNING unless ``--debug`` is given; then they log at the daemon's level.
"""

from __future__ import annotations

import logging

__all__ = ["HTTP_CLIENT_LOGGERS", "LOG_FORMAT", "configure_logging", "quiet_http_clients"]

HTTP_CLIENT_LOGGERS = ("httpx", "httpcore")
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def quiet_http_clients(debug: bool) -> None:
    """httpx and httpcore at WARNING, or (``debug``) at the level of the root logger."""
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


def configure_logging(level: str, *, debug: bool = False) -> None:
    """The daemon's log: ``level`` and up on stderr (systemd's journal), one line each; see ``quiet_http_clients``."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    quiet_http_clients(debug)
