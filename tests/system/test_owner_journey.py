"""The owner's first day (issue 14's definition of done): from ``uni-wizard init`` to the owner's own merged PR
with the shipped defaults, steered from the forge.

A fresh temporary HOME; ``uni-wizard init DIR`` (an embedded devforge, ports the system picks, no model server)
and ``uni-wizard up DIR`` as subprocesses, exactly as a person runs them. Everything the owner does goes through
the forge's HTTP API with the owner's token from ``DIR/secrets/owner.token``: an issue carrying a playbook that
edits a file becomes a PR with proof and Timmy's pre-review, the owner's APPROVED review merges it and closes the
issue; ``/hold`` on a second PR keeps it from merging though the owner approved it, ``/unhold`` lets it merge;
``/route ezra`` re-routes an issue. A settings file with a typo makes ``serve --config FILE`` exit 2 with one
line; ``up`` stops cleanly on SIGTERM. ``up``'s console is checked for one line per action along the way.

Waits are bounded polls: a wait that times out fails with the thread of the issue or PR, ``up``'s console and
the tail of each ``DIR/logs/*.log``. Needs git and bubblewrap (every proof runs in its sandbox).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from owner_cli import NO_MODEL, cli, env


def _missing() -> str | None:
    for tool, package in (("git", "git"), ("bwrap", "bubblewrap")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package}): every proof runs in the sandbox"
    return None


_reason = _missing()
pytestmark = [pytest.mark.system, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

T = TypeVar("T")
WAIT = 90.0  # seconds, for any one wait: a bound, not a speed
START = 120.0  # seconds for `up` to say the mesh is up
PROOF = "uni-wizard/proof"
READY = "Ready for the owner's approval"


def playbook(path: str, content: str, *, title: str) -> str:
    """An issue body carrying a playbook that writes ``content`` to ``path`` of the work repository."""
    return (
        "Acceptance criteria:\n- [ ] the file is there\n\n"
        "```uni-wizard\n"
        f"title: {title}\n"
        "steps:\n"
        "  - name: write it\n"
        "    tool: file_write\n"
        "    args:\n"
        f'      path: "{{worktree}}/{path}"\n'
        f"      content: {content!r}\n"
        "    expect:\n"
        "      - status: ok\n"
        "```\n"
    )


@dataclass
class Mesh:
    """The mesh of one ``init`` + ``up``, and the owner's hands on its forge."""

    root: Path
    home: Path
    up: subprocess.Popen[bytes]
    console: Path
    forge: httpx.Client  # the owner's: http://.../api/v1 with the owner's token
    repo: str  # owner/name of the work repository

    # -- the forge, as the owner ------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        answer = self.forge.get(f"/repos/{self.repo}{path}", params=params)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.forge.post(f"/repos/{self.repo}{path}", json=body)
        assert answer.status_code in (200, 201), f"POST {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def file_issue(self, title: str, body: str) -> int:
        return int(self.post("/issues", {"title": title, "body": body})["number"])

    def comment(self, number: int, body: str) -> int:
        return int(self.post(f"/issues/{number}/comments", {"body": body})["id"])

    def approve(self, pr: int, head: str) -> None:
        self.post(f"/pulls/{pr}/reviews", {"event": "APPROVED", "body": "Looks good.", "commit_id": head})

    def issue(self, number: int) -> dict[str, Any]:
        return dict(self.get(f"/issues/{number}"))

    def labels(self, number: int) -> set[str]:
        return {label["name"] for label in self.issue(number).get("labels") or ()}

    def pull(self, number: int) -> dict[str, Any]:
        return dict(self.get(f"/pulls/{number}"))

    def comments(self, number: int, by: str | None = None) -> list[str]:
        return [
            c["body"]
            for c in self.get(f"/issues/{number}/comments")
            if by is None or (c.get("user") or {}).get("login") == by
        ]

    def pr_for(self, issue: int) -> dict[str, Any] | None:
        """The PR that closes ``issue``, once there is one."""
        for pr in self.get("/pulls", state="all"):
            if f"Closes #{issue}" in (pr.get("body") or ""):
                return dict(pr)
        return None

    def proof(self, sha: str) -> str | None:
        """The newest state of the proof status of ``sha``."""
        states = [s["status"] for s in self.get(f"/commits/{sha}/statuses") if s.get("context") == PROOF]
        return states[0] if states else None

    def pre_reviewed(self, pr: int, head: str) -> bool:
        return any(READY in body and f"head={head}" in body for body in self.comments(pr, by="timmy"))

    # -- what a person watching would read ---------------------------------------------------------
    def console_lines(self) -> list[str]:
        return self.console.read_text(encoding="utf-8", errors="replace").splitlines()

    def said(self, *parts: str) -> str | None:
        """The first line of ``up``'s console holding every one of ``parts``."""
        return next((line for line in self.console_lines() if all(p in line for p in parts)), None)

    def diagnosis(self, thread: tuple[int, ...]) -> str:
        """The state of the issues and PRs of ``thread``, ``up``'s console and the tail of each daemon's log."""
        out = []
        for number in thread:
            try:
                out.append(self._thread(number))
            except (httpx.HTTPError, AssertionError) as exc:
                out.append(f"#{number}: cannot read it: {exc}")
        out.append("--- up's console (last 40 lines):\n" + "\n".join(self.console_lines()[-40:]))
        for log in sorted((self.root / "logs").glob("*.log")):
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            out.append(f"--- {log.name} (last 25 lines):\n" + "\n".join(lines))
        return "\n".join(out)

    def _thread(self, number: int) -> str:
        issue = self.issue(number)
        labels = sorted(label["name"] for label in issue.get("labels") or ())
        assignees = [a["login"] for a in issue.get("assignees") or ()]
        lines = [f"--- #{number} {issue['title']!r}: {issue['state']}, labels {labels}, assignees {assignees}"]
        if issue.get("pull_request"):
            pr = self.pull(number)
            head = pr["head"]["sha"]
            statuses = [(s["context"], s["status"]) for s in self.get(f"/commits/{head}/statuses")]
            reviews = [
                (r["user"]["login"], r["state"], r.get("commit_id", "")[:12])
                for r in self.get(f"/pulls/{number}/reviews")
            ]
            lines.append(f"    PR merged={pr['merged']} head={head[:12]} statuses={statuses} reviews={reviews}")
        for comment in self.get(f"/issues/{number}/comments"):
            body = comment["body"].strip().replace("\n", "\n      ")
            lines.append(f"  {comment['user']['login']}: {body[:600]}")
        return "\n".join(lines)

    def wait(self, what: str, check: Callable[[], T | None], *thread: int, timeout: float = WAIT) -> T:
        """``check()`` once it is truthy; a failure naming ``what`` (with the diagnosis) after ``timeout`` s or
        when ``up`` has ended."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if self.up.poll() is not None:
                pytest.fail(
                    f"`up` ended (exit {self.up.returncode}) while waiting for {what}\n{self.diagnosis(thread)}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"gave up after {timeout:g} s waiting for {what}\n{self.diagnosis(thread)}")
            time.sleep(0.25)


def _init(root: Path, home: Path) -> str:
    done = subprocess.run(
        [*cli(), "init", str(root), "--any-ports", "--ollama-url", NO_MODEL],
        env=env(home), cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"init failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    assert f"next: uni-wizard up {root}" in done.stdout, done.stdout
    return done.stdout


def _start_up(root: Path, home: Path, console: Path) -> subprocess.Popen[bytes]:
    with open(console, "wb") as out:
        return subprocess.Popen(
            [*cli(), "up", str(root)], env=env(home), cwd=home, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home = tmp_path_factory.mktemp("home")
    root = home / "mesh"
    _init(root, home)
    forge_file = yaml.safe_load((root / "forge.yaml").read_text())
    token = (root / "secrets" / f"{forge_file['owner']}.token").read_text().strip()
    console = home / "up.console"
    up = _start_up(root, home, console)
    forge = httpx.Client(
        base_url=forge_file["url"].rstrip("/") + "/api/v1", headers={"Authorization": f"token {token}"}, timeout=15
    )
    started = Mesh(root, home, up, console, forge, forge_file["work_repo"])
    try:
        started.wait("`up` to say the mesh is up", lambda: started.said("the mesh is up"), timeout=START)
        yield started
    finally:
        forge.close()
        if up.poll() is None:
            children = _children(up.pid)
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
            for pid in children:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _worked(mesh: Mesh, number: int) -> tuple[int, str]:
    """The PR made for ``number``, with proof on its head and Timmy's pre-review: (its number, its head)."""
    pr = mesh.wait(f"a PR for #{number}", lambda: mesh.pr_for(number), number)
    head = str(pr["head"]["sha"])
    assert mesh.wait(f"the proof of PR #{pr['number']}", lambda: mesh.proof(head), number, pr["number"]) == "success"
    mesh.wait(f"Timmy's pre-review of PR #{pr['number']}", lambda: mesh.pre_reviewed(pr["number"], head), pr["number"])
    return int(pr["number"]), head


def test_the_owners_issue_becomes_a_merged_pr_once_the_owner_approves(mesh: Mesh) -> None:
    body = playbook("farewell.py", "def farewell(name):\n    return f'Goodbye, {name}!'\n", title="Add farewell")
    number = mesh.file_issue("Implement a farewell function", body)

    pr, head = _worked(mesh, number)
    assert not mesh.pull(pr)["merged"]  # the shipped default: Timmy pre-reviews, the owner approves
    mesh.approve(pr, head)

    mesh.wait(f"PR #{pr} merged after the owner's approval", lambda: mesh.pull(pr)["merged"], number, pr)
    mesh.wait(f"#{number} closed by its PR", lambda: mesh.issue(number)["state"] == "closed", number, pr)
    files = mesh.get("/contents/farewell.py")
    assert files["name"] == "farewell.py"  # the change is on main
    where = f"{mesh.repo}#{number}"
    for parts in (
        ("allegro", f"routed {where} to bezalel"),
        ("bezalel", f"claimed {where}"),
        ("bezalel", f"opened PR {mesh.repo}#{pr} for #{number}, with proof (success)"),
        ("timmy", f"pre-reviewed PR {mesh.repo}#{pr}"),
        ("timmy", f"merged PR {mesh.repo}#{pr} (approved by owner)"),
    ):
        mesh.wait(f"the console line {parts}", lambda parts=parts: mesh.said(*parts), number, pr)


def test_hold_keeps_an_approved_pr_from_merging_until_unhold(mesh: Mesh) -> None:
    body = playbook("wave.py", "def wave():\n    return 'o/'\n", title="Add wave")
    number = mesh.file_issue("Implement a wave function", body)
    pr, head = _worked(mesh, number)

    mesh.comment(pr, "Not yet: I want to read it first.\n/hold")
    mesh.wait(f"the hold label on PR #{pr}", lambda: "hold" in mesh.labels(pr), pr)
    mesh.approve(pr, head)
    hold_only = (
        f"blocked the merge of PR {mesh.repo}#{pr}: the `hold` label is set: remove it to let the merge go ahead"
    )
    mesh.wait(
        f"the reviewer to block PR #{pr} for its hold alone, though the owner approved it",
        lambda: any(line.endswith(hold_only) and "timmy" in line for line in mesh.console_lines()),
        number,
        pr,
    )
    assert not mesh.pull(pr)["merged"] and mesh.issue(number)["state"] == "open"

    mesh.comment(pr, "/unhold")
    mesh.wait(f"PR #{pr} merged after /unhold", lambda: mesh.pull(pr)["merged"], number, pr)
    mesh.wait(f"#{number} closed by its PR", lambda: mesh.issue(number)["state"] == "closed", number, pr)
    for parts in (
        ("timmy", f"/hold by owner on {mesh.repo}#{pr}: done"),
        ("timmy", f"/unhold by owner on {mesh.repo}#{pr}: done"),
        ("timmy", f"merged PR {mesh.repo}#{pr} (approved by owner)"),
    ):
        mesh.wait(f"the console line {parts}", lambda parts=parts: mesh.said(*parts), number, pr)


def test_route_sends_an_issue_to_the_house_the_owner_names(mesh: Mesh) -> None:
    # a playbook no house can finish (it reads a file that is not there): bezalel blocks, then ezra does
    body = (
        "Acceptance criteria:\n- [ ] fixed\n\n```uni-wizard\nsteps:\n  - tool: file_read\n"
        '    args: {path: "{worktree}/no-such-file.txt"}\n    expect:\n      - status: ok\n```\n'
    )
    number = mesh.file_issue("Fix the crash in the greeting on empty names", body)
    mesh.wait(
        f"#{number} routed to bezalel and blocked",
        lambda: {"house/bezalel", "status/blocked"} <= mesh.labels(number),
        number,
    )

    mesh.comment(number, "/route ezra")

    def rerouted() -> bool:
        issue = mesh.issue(number)
        labels = {label["name"] for label in issue.get("labels") or ()}
        return "house/ezra" in labels and [a["login"] for a in issue.get("assignees") or ()] == ["ezra"]

    mesh.wait(f"#{number} re-routed to ezra", rerouted, number)
    assert "house/bezalel" not in mesh.labels(number)
    audit = mesh.wait(
        f"allegro's audit comment on #{number} for /route ezra",
        lambda: next((b for b in mesh.comments(number, by="allegro") if "`/route ezra`" in b), None),
        number,
    )
    assert "**routed to `ezra`**" in audit and "had chosen `bezalel`" in audit
    mesh.wait(
        "the console line for /route",
        lambda: mesh.said("allegro", f"routed {mesh.repo}#{number} to ezra (/route by owner)"),
        number,
    )


@pytest.mark.parametrize("where", ["after", "before"])
def test_a_settings_file_with_a_typo_exits_2_in_one_line(mesh: Mesh, tmp_path: Path, where: str) -> None:
    broken = tmp_path / "allegro.yaml"
    text = (mesh.root / "settings" / "allegro.yaml").read_text()
    broken.write_text(text.replace("\nroles:", "\nrolez:"))
    args = ["serve", "--config", str(broken)] if where == "after" else ["--config", str(broken), "serve"]

    done = subprocess.run(
        [*cli(), *args], env=env(mesh.home), cwd=mesh.home, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert str(broken) in lines[0] and "rolez" in lines[0] and "Traceback" not in done.stderr


def test_up_stops_cleanly_on_sigterm(mesh: Mesh) -> None:
    children = _children(mesh.up.pid)
    assert len(children) == 1 + len(list((mesh.root / "settings").glob("*.yaml")))  # the devforge, a daemon each

    mesh.up.send_signal(signal.SIGTERM)

    assert mesh.up.wait(60) == 0, "\n".join(mesh.console_lines()[-20:])
    assert mesh.console_lines()[-1] == "stopped"
    assert [pid for pid in children if _alive(pid)] == []
    logs = {log.name: log.read_text(encoding="utf-8", errors="replace") for log in (mesh.root / "logs").glob("*.log")}
    assert not [name for name, text in logs.items() if "Traceback" in text or "never retrieved" in text]
