"""The state one devforge instance shares between its handlers: database, git root, URLs, clock, faults."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from .db import Clock, Database, Row
from .git import GitRepo

if TYPE_CHECKING:
    from .delivery import Deliverer

__all__ = ["VERSION", "Faults", "Forge", "forge_of"]

# What GET /version answers. It parses as >= 1.23 (the client gates features on it) and says what it is.
VERSION = "1.26.4+devforge"


@dataclass
class Faults:
    """Switches that make the devforge misbehave the way real Gitea can, so clients get exercised.

    ``contents_lost_race``: how many upcoming contents writes fail as if another writer moved the branch
    between the sha check and the push (Gitea answers 500 with an empty message; nothing is committed).
    ``mergeable_delay``: seconds a PR reports ``mergeable: false`` after its head or base moved
    (Gitea's background conflict check); a merge in that window gets 405 "Please try again later".
    ``pushes_held``: while true, a push (``git-receive-pack``) waits before git sees it, as on a stalled forge;
    ``push_arrived`` is set when one does (a test kills the pusher mid-push, then lets the forge go on).
    """

    contents_lost_race: int = 0
    mergeable_delay: float = 0.0
    pushes_held: bool = False
    push_arrived: threading.Event = field(default_factory=threading.Event, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_lost_race(self) -> bool:
        with self.lock:
            if self.contents_lost_race > 0:
                self.contents_lost_race -= 1
                return True
            return False


@dataclass
class Forge:
    data_dir: Path
    db: Database
    root_url: str  # always ends with "/"
    clock: Clock = time.time
    faults: Faults = field(default_factory=Faults)
    deliverer: Deliverer | None = None
    git_timeout: float = 120.0

    @property
    def repos_root(self) -> Path:
        return self.data_dir / "repositories"

    def now(self) -> int:
        return int(self.clock())

    def api_url(self, path: str) -> str:
        return f"{self.root_url}api/v1/{path.lstrip('/')}"

    def html_url(self, path: str) -> str:
        return f"{self.root_url}{path.lstrip('/')}"

    def repo_dir(self, owner_login: str, repo_name: str) -> Path:
        return self.repos_root / owner_login.lower() / f"{repo_name.lower()}.git"

    def git_for(self, repo: Row) -> GitRepo:
        owner = self.db.one("SELECT login FROM users WHERE id = ?", (repo["owner_id"],))
        login = owner["login"] if owner else "_"
        return GitRepo(self.repo_dir(login, repo["name"]), timeout=self.git_timeout)


def forge_of(request: Request) -> Forge:
    forge: Forge = request.app.state.forge
    return forge
