"""A child process of ``uni-wizard up``:

    python -m uni_wizard.ownermesh.child daemon SETTINGS        the daemon of one settings file
    python -m uni_wizard.ownermesh.child devforge DATA PORT ADMIN_FILE

Logs go to stderr (``up`` writes them to ``DIR/logs/NAME.log``) as ``time LEVEL logger: message``, without the
HTTP clients' request lines. A configuration mistake is one ``error: ...`` line and exit 2 (``up`` shows it),
another failure exit 4; SIGTERM stops either cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from ..config import load_settings
from ..configfile import one_line
from ..daemon import serve
from ..devforge.app import create_app
from ..errors import ConfigError, UniWizardError

__all__ = ["main"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _daemon(settings_file: str) -> None:

    settings = load_settings(Path(settings_file))
    _logging(settings.log_level)
    asyncio.run(serve(settings))


def _devforge(data: str, port: str, admin_file: str) -> None:

    _logging("INFO")
    text = Path(admin_file).read_text(encoding="utf-8").strip()
    user, _, password = text.partition(":")
    if not user or not password:
        raise ConfigError("must hold USER:PASSWORD", source=admin_file)
    app = create_app(Path(data), (user, password), f"http://127.0.0.1:{int(port)}/")
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="info", access_log=False)


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["daemon"] and len(argv) == 2:
            _daemon(argv[1])
        elif argv[:1] == ["devforge"] and len(argv) == 4:
            _devforge(*argv[1:])
        else:
            raise ConfigError(f"usage: python -m uni_wizard.ownermesh.child daemon SETTINGS | devforge ...: {argv}")
    except ConfigError as exc:
        sys.stderr.write(f"error: {one_line(str(exc))}\n")
        return 2
    except UniWizardError as exc:
        sys.stderr.write(f"error: {one_line(str(exc))}\n")
        return 4
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
