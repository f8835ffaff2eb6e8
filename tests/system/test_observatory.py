"""The real check of the Grafana dashboards and the alert rules: a real Prometheus scrapes real daemons at work.

``uni-wizard init`` makes an owner's mesh on an embedded devforge (one daemon per house, each a host of its
``mesh.yaml``; the settings are pointed at that file so the dispatcher lease lives on the forge and every
daemon probes its peers); ``uni-wizard up`` runs it; the scrape configuration is the one ``uni-wizard mesh
prometheus-config`` makes of that ``mesh.yaml`` (scraped every second here), with a copy of the shipped rules
whose ``for:`` is cut to 1 s (the only change: an alert must fire within the test). The owner files an issue
with a playbook, the mesh routes it, works it into a PR with proof, Timmy pre-reviews it, the owner approves
and Timmy merges. Then every PromQL expression of every dashboard is evaluated through Prometheus's
``/api/v1/query`` and must return at least one series; every rule must evaluate without error. Last, ``up``
is stopped and ``UniWizardDaemonDown`` must reach ``firing`` in Prometheus's own ``/api/v1/alerts``.

Needs Debian's prometheus (prometheus, promtool), git and bubblewrap (the proof runs in the sandbox).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from owner_cli import NO_MODEL, cli, env, free_port, stop, wait

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "configs" / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((ROOT / "configs" / "alerts").glob("*.yml"))


def _missing() -> str | None:
    for tool, package in (("prometheus", "prometheus"), ("promtool", "prometheus"), ("git", "git"),
                          ("bwrap", "bubblewrap")):  # fmt: skip
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return None


_reason = _missing()
pytestmark = [pytest.mark.system, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

WAIT = 60.0  # seconds, for any one wait: a bound, not a speed
PROOF = "uni-wizard/proof"
PLAYBOOK = """Acceptance criteria:
- [ ] the file is there

```uni-wizard
title: Add farewell
steps:
  - name: write it
    tool: file_write
    args:
      path: "{worktree}/farewell.py"
      content: "def farewell(name):\\n    return f'Goodbye, {name}!'\\n"
    expect:
      - status: ok
```
"""


@dataclass
class World:
    root: Path
    up: subprocess.Popen[bytes]
    console: Path
    forge: httpx.Client  # the owner's
    repo: str
    prometheus: subprocess.Popen[bytes]
    prometheus_url: str
    prometheus_log: Path

    def diagnosis(self) -> str:
        lines = [f"--- up's console:\n{self.console.read_text(errors='replace')[-3000:]}"]
        lines.append(f"--- prometheus:\n{self.prometheus_log.read_text(errors='replace')[-2000:]}")
        for log in sorted((self.root / "logs").glob("*.log")):
            lines.append(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(lines)

    def get(self, path: str, **params: Any) -> Any:
        answer = self.forge.get(f"/repos/{self.repo}{path}", params=params)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.forge.post(f"/repos/{self.repo}{path}", json=body)
        assert answer.status_code in (200, 201), f"POST {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", f"{expr}: {answer.text[:500]}"
        result = body["data"]["result"]
        assert isinstance(result, list)
        return result

    def api(self, path: str) -> Any:
        answer = httpx.get(f"{self.prometheus_url}/api/v1/{path}", timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]


def _prometheus_files(root: Path, work: Path, home: Path) -> Path:
    """The configuration the command makes of the mesh file, scraping every second, over a copy of the rules
    with every ``for:`` cut to 1 s."""
    rules = work / "rules"
    rules.mkdir()
    for path in RULES:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "1s"
        (rules / path.name).write_text(yaml.safe_dump(data), encoding="utf-8")
    config = work / "prometheus.yml"
    done = subprocess.run(
        [*cli(), "mesh", "prometheus-config", "--mesh", str(root / "mesh.yaml"), "--out", str(config),
         "--rules", "rules/*.yml"],
        env=env(home), cwd=home, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    checked = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return config


def _start_prometheus(config: Path, work: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={work / 'data'}", "--storage.tsdb.retention.time=1h",
             f"--web.console.templates={work / 'none'}", f"--web.console.libraries={work / 'none'}",
             "--log.level=warn"],
            cwd=work, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("prometheus")
    root = home / "mesh"
    done = subprocess.run(
        [*cli(), "init", str(root), "--any-ports", "--ollama-url", NO_MODEL],
        env=env(home), cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"init failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    for settings in (root / "settings").glob("*.yaml"):  # the lease on the forge, the peers probed
        with settings.open("a", encoding="utf-8") as out:
            out.write(f"mesh_config: {root / 'mesh.yaml'}\n")
    config = _prometheus_files(root, work, home)
    forge_file = yaml.safe_load((root / "forge.yaml").read_text())
    token = (root / "secrets" / f"{forge_file['owner']}.token").read_text().strip()
    console = home / "up.console"
    with console.open("wb") as out:
        up = subprocess.Popen([*cli(), "up", str(root)], env=env(home), cwd=home, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    forge = httpx.Client(
        base_url=forge_file["url"].rstrip("/") + "/api/v1", headers={"Authorization": f"token {token}"}, timeout=15
    )
    port = free_port()
    log = work / "prometheus.log"
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        wait("the mesh to be up", lambda: "the mesh is up" in console.read_text(errors="replace"),
              lambda: console.read_text(errors="replace"), timeout=120)  # fmt: skip
        prometheus = _start_prometheus(config, work, port, log)
        yield World(root, up, console, forge, forge_file["work_repo"], prometheus, f"http://127.0.0.1:{port}", log)
    finally:
        forge.close()
        stop(up)
        if prometheus is not None:
            stop(prometheus)


def _expressions() -> list[tuple[str, str, str]]:
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((board["title"], panel["title"], target["expr"]))
    return found


def _work_an_issue(world: World) -> None:
    """The owner's issue routed, worked into a PR with proof, pre-reviewed, approved by the owner and merged."""
    number = int(world.post("/issues", {"title": "Implement a farewell function", "body": PLAYBOOK})["number"])

    def pr() -> dict[str, Any] | None:
        return next((p for p in world.get("/pulls", state="all") if f"Closes #{number}" in (p.get("body") or "")),
                    None)  # fmt: skip

    opened = wait(f"a PR for #{number}", pr, world.diagnosis)
    head = opened["head"]["sha"]

    def proven_and_pre_reviewed() -> bool:
        statuses = [s["status"] for s in world.get(f"/commits/{head}/statuses") if s.get("context") == PROOF]
        said = [c["body"] for c in world.get(f"/issues/{opened['number']}/comments")]
        return statuses[:1] == ["success"] and any(f"head={head}" in body for body in said)

    wait(f"proof and Timmy's pre-review of PR #{opened['number']}", proven_and_pre_reviewed, world.diagnosis)
    world.post(f"/pulls/{opened['number']}/reviews", {"event": "APPROVED", "body": "ok", "commit_id": head})
    wait(f"PR #{opened['number']} merged", lambda: world.get(f"/pulls/{opened['number']}")["merged"],
          world.diagnosis)  # fmt: skip


def test_every_dashboard_panel_shows_data_and_an_alert_fires_for_real(world: World) -> None:
    wait("Prometheus to be ready", lambda: _ready(world.prometheus_url), world.diagnosis, timeout=30)
    _work_an_issue(world)
    hosts = {h["name"] for h in yaml.safe_load((world.root / "mesh.yaml").read_text())["hosts"]}
    wait("every host scraped", lambda: {r["metric"]["host"] for r in world.query('up == 1')} == hosts,
          world.diagnosis)  # fmt: skip

    expressions = _expressions()
    assert len(expressions) >= 30
    empty: list[tuple[str, str, str]] = []

    def all_have_data() -> bool:
        empty[:] = [e for e in expressions if not world.query(e[2])]
        return not empty

    deadline = time.monotonic() + WAIT  # rates need two scrapes of a series made by the work just done
    while not all_have_data():
        if time.monotonic() > deadline:
            pytest.fail("panels without data:\n" + "\n".join(f"{b} / {p}: {e}" for b, p, e in empty))
        time.sleep(1)

    rules = [rule for group in world.api("rules")["groups"] for rule in group["rules"]]
    assert len(rules) == sum(len(g["rules"]) for p in RULES for g in yaml.safe_load(p.read_text())["groups"])
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    assert not _firing(world, "UniWizardDaemonDown")  # every daemon answers: nothing to say yet

    stop(world.up)  # every daemon of the mesh stops with it

    def every_host_down() -> list[dict[str, Any]] | None:
        fired = _firing(world, "UniWizardDaemonDown")
        return fired if {a["labels"]["host"] for a in fired} == hosts else None

    fired = wait("UniWizardDaemonDown firing for every host", every_host_down, world.diagnosis)
    assert all(a["labels"]["severity"] == "page" and a["annotations"]["summary"] for a in fired)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _firing(world: World, name: str) -> list[dict[str, Any]]:
    return [a for a in world.api("alerts")["alerts"] if a["labels"]["alertname"] == name and a["state"] == "firing"]
