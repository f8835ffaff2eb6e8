"""The dashboard in a real headless Chromium (Debian ``chromium`` and ``chromium-driver``, driven by selenium) against
a real mesh: ``uni-wizard init`` on an embedded devforge, ``uni-wizard up`` (one daemon per house, the lease on
the forge through ``mesh.yaml``).

The browser is refused every page before it logs in (it lands on the login form); it logs in by pasting the API
token. On the dispatcher's Activity page, open before the owner files an issue, the routing decision arrives live
(a line the WebSocket feed added, no reload); on the chosen house's Now page, open before the work starts, the
house's row, idle when the page was loaded, fills by HTMX polling (the issue in hand or its queue counts, no
reload). A sovereign approval
(allegro's ``http_post`` needs one) is approved from the Approvals page and its state changes (the page says so,
and the same call then runs instead of waiting); a form whose CSRF token was removed is refused (403), the
approval untouched. Last, the issue's PR is labelled ``upgrade`` (the work repository stands in for the mesh's
own, ``upgrades.repo``): Timmy's reviewer proposes it, the owner approves it from Timmy's Approvals page (the
sovereign's approval on the forge, as ``uni-wizard upgrades approve`` gives it), its state changes and Timmy
merges it. Screenshots of every step are kept in the test's ``tmp_path``.

Skipped only when chromium or chromedriver is missing; needs git and bubblewrap like every mesh test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from owner_cli import NO_MODEL, cli, env, stop, wait

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def _missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium or chromedriver is not installed (Debian packages chromium, chromium-driver)"
    for tool, package in (("git", "git"), ("bwrap", "bubblewrap")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return None


_reason = _missing()
pytestmark = [pytest.mark.system, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[2]
WAIT = 90.0  # seconds, for any one wait: a bound, not a speed
PLAYBOOK = """Acceptance criteria:
- [ ] the file is there

```uni-wizard
title: Add greeting
steps:
  - name: write it
    tool: file_write
    args:
      path: "{worktree}/greeting.py"
      content: "def greet(name):\\n    return f'Hello, {name}!'\\n"
    expect:
      - status: ok
```
"""


@dataclass
class Mesh:
    root: Path
    console: Path
    forge: httpx.Client  # the owner's
    repo: str
    token: str  # the daemons' API token
    daemons: dict[str, str]  # host -> its daemon's URL

    def diagnosis(self) -> str:
        lines = [f"--- up's console:\n{self.console.read_text(errors='replace')[-3000:]}"]
        for log in sorted((self.root / "logs").glob("*.log")):
            lines.append(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(lines)

    def execute(self, host: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.daemons[host]}/api/v1/execute", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home = tmp_path_factory.mktemp("home")
    root = home / "mesh"
    done = subprocess.run(
        [*cli(), "init", str(root), "--any-ports", "--ollama-url", NO_MODEL],
        env=env(home), cwd=home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"init failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    forge_file = yaml.safe_load((root / "forge.yaml").read_text())
    # the work repository stands in for the mesh's own: a PR labelled `upgrade` there is an upgrade
    upgrades = yaml.safe_load((ROOT / "configs" / "upgrades.yaml").read_text(encoding="utf-8"))
    upgrades["repo"] = forge_file["work_repo"]
    (root / "configs" / "upgrades.yaml").write_text(yaml.safe_dump(upgrades), encoding="utf-8")
    for settings in (root / "settings").glob("*.yaml"):  # the lease on the forge, the peers probed
        with settings.open("a", encoding="utf-8") as out:
            out.write(f"mesh_config: {root / 'mesh.yaml'}\nupgrades_config: {root / 'configs' / 'upgrades.yaml'}\n")
    owner_token = (root / "secrets" / f"{forge_file['owner']}.token").read_text().strip()
    api_token = (root / "secrets" / "api.token").read_text().strip()
    daemons = {h["name"]: h["url"] for h in yaml.safe_load((root / "mesh.yaml").read_text())["hosts"]}
    console = home / "up.console"
    with console.open("wb") as out:
        up = subprocess.Popen([*cli(), "up", str(root)], env=env(home), cwd=home, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    forge = httpx.Client(
        base_url=forge_file["url"].rstrip("/") + "/api/v1", headers={"Authorization": f"token {owner_token}"},
        timeout=15,
    )  # fmt: skip
    try:
        wait("the mesh to be up", lambda: "the mesh is up" in console.read_text(errors="replace"),
              lambda: console.read_text(errors="replace"), timeout=120)  # fmt: skip
        yield Mesh(root, console, forge, forge_file["work_repo"], api_token, daemons)
    finally:
        forge.close()
        stop(up)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or ""), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Shots:
    """Screenshots numbered in the order taken, under ``tmp_path/screenshots`` (the test's artefacts)."""

    def __init__(self, driver: Any, where: Path) -> None:
        self.driver, self.where, self.count = driver, where, 0
        where.mkdir()

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.where / f"{self.count:02d}-{name}.png"
        assert self.driver.save_screenshot(str(path)), path
        return path


def _log_in(driver: Any, url: str, token: str) -> None:
    driver.get(f"{url}/now")
    assert "/login" in driver.current_url, driver.current_url  # refused without a login
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-button").click()
    wait("the Now page after the login", lambda: driver.current_url.endswith("/now"), lambda: driver.page_source)


def _live_line(driver: Any, kind: str) -> Any:
    rows = driver.find_elements(By.CSS_SELECTOR, f'#events tr.live[data-kind="{kind}"]')
    return rows[0] if rows else None


def _house_row_filled(driver: Any, house: str) -> bool:
    rows = driver.find_elements(By.CSS_SELECTOR, f'#houses tr[data-house="{house}"]')
    if not rows:
        return False
    text = " ".join(r.text for r in rows)
    return "owner/work#" in text or any(n != "0" for n in _queue_numbers(text))


def _queue_numbers(text: str) -> list[str]:
    """The routed / in progress / blocked / review counts of a house's row (``1 / 0 / 0 / 0``)."""
    parts = text.split(" / ")
    if len(parts) < 4:
        return []
    return [parts[0].split()[-1], parts[1], parts[2], parts[3].split()[0]]


def test_the_owner_watches_the_mesh_work_and_decides_from_the_browser(mesh: Mesh, browser: Any, tmp_path: Path) -> None:
    shot = Shots(browser, tmp_path / "screenshots")
    allegro = mesh.daemons["allegro"]

    # no login, no page
    browser.get(f"{allegro}/activity")
    assert "/login?next=" in browser.current_url and browser.find_element(By.ID, "token")
    shot("refused-without-login")
    assert httpx.get(f"{allegro}/api/v1/now", timeout=10).status_code == 401

    _log_in(browser, allegro, mesh.token)
    shot("logged-in")

    # the Now page of every worker host, each in its own tab, open before the issue exists: idle, empty queue
    workers = [host for host in mesh.daemons if host != "allegro"]
    tabs: dict[str, str] = {}
    for host in workers:
        browser.switch_to.new_window("tab")
        browser.get(f"{mesh.daemons[host]}/now")
        assert not _house_row_filled(browser, host), browser.page_source[-2000:]
        browser.execute_script("window.notReloaded = true;")
        tabs[host] = browser.current_window_handle

    # the dispatcher's Activity page, open before the issue exists: the routing arrives live
    browser.switch_to.new_window("tab")
    browser.get(f"{allegro}/activity")
    wait("the live feed to connect", lambda: "following the event log" in browser.find_element(By.ID, "feed-state").text,
          mesh.diagnosis, timeout=30)  # fmt: skip
    number = int(mesh.forge.post(f"/repos/{mesh.repo}/issues", json={"title": "Add a greeting",
                                                                     "body": PLAYBOOK}).json()["number"])  # fmt: skip
    routed = wait("the routing decision on the Activity page, live", lambda: _live_line(browser, "issue.routed"),
                   lambda: browser.page_source[-3000:] + mesh.diagnosis())  # fmt: skip
    assert f"{mesh.repo}#{number}" in routed.text
    shown = routed.find_elements(By.TAG_NAME, "td")[-1].text  # the event's data, cut at 240 characters on the page
    chosen = re.search(r'"house":"([^"]+)"', shown)
    assert chosen is not None, shown
    house = chosen.group(1)
    forge_link = routed.find_element(By.PARTIAL_LINK_TEXT, f"#{number}").get_attribute("href")
    assert forge_link.endswith(f"/{mesh.repo}/issues/{number}")
    shot("activity-live")

    # the chosen house's Now page, loaded before the issue existed, fills by HTMX polling, without a reload
    browser.switch_to.window(tabs[house])
    wait(f"{house}'s row of the Now page to fill", lambda: _house_row_filled(browser, house),
          lambda: browser.page_source[-3000:] + mesh.diagnosis())  # fmt: skip
    assert browser.execute_script("return window.notReloaded === true;")
    shot("now-filled")

    # a sovereign approval: allegro's http_post waits for one
    call = {"house": "allegro", "tool": "http_post", "args": {"url": "http://127.0.0.1:9/ping", "body": "hi"}}
    waiting = mesh.execute("allegro", call)
    assert waiting["status"] == "pending_approval", waiting
    browser.get(f"{allegro}/approvals")
    row = browser.find_element(By.CSS_SELECTOR, "#approvals tr[data-approval]")
    approval = row.get_attribute("data-approval")
    assert "http://127.0.0.1:9/ping" in row.text and "http_post" in row.text
    shot("approval-pending")

    # the same form without its CSRF token is refused, and nothing changes
    browser.execute_script("document.querySelector('#approvals form input[name=csrf]').remove();")
    browser.find_element(By.CSS_SELECTOR, "#approvals form button.approve").click()
    wait("the refusal", lambda: "CSRF" in browser.page_source, lambda: browser.page_source)
    shot("csrf-refused")
    browser.get(f"{allegro}/approvals")
    assert browser.find_element(By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval}"]')

    browser.find_element(By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval}"] input[name=note]').send_keys(
        "from the browser"
    )
    browser.find_element(By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval}"] button.approve').click()
    message = wait("the decision", lambda: browser.find_elements(By.ID, "message"), lambda: browser.page_source)
    assert f"approval {approval} approved by owner" in message[0].text
    assert not browser.find_elements(By.CSS_SELECTOR, f'#approvals tr[data-approval="{approval}"]')
    shot("approval-approved")
    ran = mesh.execute("allegro", call)  # the approval is consumed: the call runs (and nothing listens there)
    assert ran["status"] != "pending_approval", ran

    # the PR, labelled `upgrade` by the owner, becomes an upgrade in Timmy's queue; approved from the page
    pull = wait(f"the PR of #{number}", lambda: _pull_of(mesh, number), mesh.diagnosis)
    answer = mesh.forge.post(f"/repos/{mesh.repo}/issues/{pull}/labels", json={"labels": ["upgrade"]})
    assert answer.status_code == 200, answer.text
    timmy = mesh.daemons["timmy"]
    row = f'#upgrades tr[data-upgrade="{pull}"]'

    def proposed() -> bool:
        browser.get(f"{timmy}/approvals")
        rows = browser.find_elements(By.CSS_SELECTOR, row)
        return bool(rows) and rows[0].find_element(By.CSS_SELECTOR, "td.state").text == "proposed"

    wait(f"upgrade #{pull} proposed on Timmy's Approvals page", proposed, mesh.diagnosis)
    shot("upgrade-proposed")
    browser.find_element(By.CSS_SELECTOR, f"{row} button.approve").click()
    message = wait("the decision", lambda: browser.find_elements(By.ID, "message") or browser.find_elements(
        By.ID, "error"), lambda: browser.page_source)  # fmt: skip
    assert message[0].get_attribute("id") == "message", message[0].text
    assert f"upgrade #{pull} approved" in message[0].text
    state = browser.find_element(By.CSS_SELECTOR, f"{row} td.state").text
    assert state in ("approved", "applying", "applied"), state
    shot("upgrade-approved")
    wait(f"PR #{pull} merged once approved", lambda: mesh.forge.get(f"/repos/{mesh.repo}/pulls/{pull}").json()["merged"],
          mesh.diagnosis)  # fmt: skip


def _pull_of(mesh: Mesh, number: int) -> int | None:
    pulls = mesh.forge.get(f"/repos/{mesh.repo}/pulls", params={"state": "all"}).json()
    found = [p["number"] for p in pulls if f"Closes #{number}" in (p.get("body") or "")]
    return int(found[0]) if found else None
