"""Acceptance (issue 11): the agent's dashboard in a real headless Chromium (Debian's, driven by
Playwright): it loads with no console error and nothing from elsewhere, the timeline shows the
windows and the gap this test made, a failed drill turns the scorecard red, and only the plan's
token opens it. A screenshot is kept in ``test-artifacts/``. (Issue 24: its search box shows a
document's history, and its mount form serves a moment read-only.)"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.drill import report as drill_reports
from mongo_lifeboat.repo.repository import Repository

from ..support.agent import AgentRun
from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.servers import SeededSource
from ..support.waiting import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "dashboard-token-7f3a91"


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_the_dashboard_in_a_browser(seeded_source: SeededSource, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does"
        )
    from playwright.sync_api import sync_playwright

    source = seeded_source(100)
    src = source.client()
    repo_url = "file://" + str(tmp_path / "repo")
    repo = Repository.init(repo_url)
    assert lifeboat("backup", "--source", source.uri, "--repo", repo_url).code == 0
    with archiving(repo, source.uri, segment_bytes=2 << 10) as stats:
        for n in range(3):
            src.shop.orders.insert_many([{"_id": f"w{n}-{i}", "qty": i, "pad": "x" * 100} for i in range(60)])
            wait_for(lambda n=n: stats.segments > 3 * (n + 1), "segments")  # type: ignore[misc]
    history = load_history(repo)
    # The gap: one segment in the middle of the archive is lost.
    middle = history.segments[len(history.segments) // 2]
    repo.storage.delete([middle.key])
    assert lifeboat("backup", "--source", source.uri, "--repo", repo_url).code == 0  # restorable again
    # A drill that failed: its report, as a drill over the RTO writes it.
    drill_reports.store(
        repo.storage,
        drill_reports.DrillReport(
            id="20261127T030000.000Z",
            deployment=history.deployment,
            verdict="fail",
            started_at=history.manifests[0].finished_at,
            finished_at=history.manifests[0].finished_at,
            target_ts=history.manifests[0].end_ts,
            target_wall=history.manifests[0].finished_at,
            base_backup=history.manifests[0].backup_id,
            staging="scratch",
            phases={"load": 700.0, "indexes": 20.0, "proof": 3.0},
            recovery_s=720.0,
            rto=600.0,
            margin=-120.0,
            failures=[{"step": "rto", "problem": "the recovery took 720s: over the RTO of 600s by 120.0s"}],
        ),
    )
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nname = "orders-ui"\nsource = "{source.uri}"\n[objectives]\nrpo = "1m"\nrto = "10m"\n'
        f'[[repository]]\nname = "primary"\nurl = "{repo_url}"\nregion = "eu-west-1"\n'
        f'[agent]\ncheck_interval = "2s"\nwarmup = "0s"\nsegment_seconds = 1\ntoken = "{TOKEN}"\n'
        'mounts = true\nmount_ttl = "10m"\n'
    )
    mounts = {"LIFEBOAT_MOUNTS": str(tmp_path / "mounts")}
    run = AgentRun(plan, env=mounts)
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        wait_for(lambda: _status(run.url + "/healthz") == 200, "the first check", 60)
        assert (
            _status(run.url + "/") == 401 and _status(run.url + "/api/status") == 401
        )  # the token is needed
        assert _status(run.url + "/api/status", {"Authorization": "Bearer wrong"}) == 401
        assert _status(run.url + "/metrics", bearer) == 200
        html = run.get("/", bearer).decode()
        for external in ('src="http', 'href="http', 'href="//', "@import", "url(", "<script src"):
            assert external not in html, external
        assert TOKEN not in html

        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(
                    viewport={"width": 1400, "height": 1000},
                    http_credentials={"username": "ops", "password": TOKEN},
                )
                errors: list[str] = []
                requested: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: requested.append(r.url))
                page.goto(run.url + "/", wait_until="load")
                assert page.title().startswith("Lifeboat · orders-ui")
                assert page.locator("svg.timeline rect.window").count() >= 2  # before and after the gap
                assert page.locator("svg.timeline rect.gap").count() == 1
                assert page.locator("svg.timeline .backup").count() >= 1
                assert page.locator("svg.timeline .drill-fail").count() == 1
                assert "You can restore to any second from" in page.locator("#restorable").inner_text()
                scorecard = page.locator("#scorecard")
                assert "status-critical" in (scorecard.get_attribute("class") or "")
                assert page.locator('tr[data-check="drill-rto"] .badge').inner_text() == "critical"
                assert page.locator("tr.drill-row .badge").first.inner_text() == "fail"
                border = scorecard.evaluate("e => getComputedStyle(e).borderTopColor")
                assert border == "rgb(207, 34, 46)"  # red
                page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

                # A document's history, from the search box.
                page.fill("#history-search input[name=ns]", "shop.orders")
                page.fill("#history-search input[name=id]", '"w0-7"')
                page.click("#history-search button")
                page.wait_for_url("**/history?*")
                rows = page.locator("tr.version")
                assert rows.count() == 2  # not in the base, then inserted
                assert "insert" in rows.nth(1).inner_text() and '"qty": 7' in rows.nth(1).inner_text()

                # A moment mounted read-only, from the mount form.
                page.goto(run.url + "/", wait_until="load")
                page.fill("#mount-start input[name=to]", "latest")
                page.click("#mount-start button")
                page.wait_for_url("**/#mounts")

                def mounted() -> bool:
                    page.goto(run.url + "/", wait_until="load")
                    return page.locator("tr.mount").count() == 1

                wait_for(mounted, "the mount to be served", 120)
                uri = page.locator("tr.mount code").nth(2).inner_text()
                assert uri.startswith("mongodb://reader:") and "***" not in uri
                assert not errors, errors
                assert requested and all(u.startswith(run.url) for u in requested), requested
            finally:
                browser.close()
        view: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=10_000)
        try:
            assert view.shop.orders.count_documents({}) == src.shop.orders.count_documents({})
        finally:
            view.close()
        # Not from another site: a form elsewhere cannot make the agent start mounts.
        foreign = {
            **bearer,
            "Origin": "http://attacker.example",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        request = urllib.request.Request(
            run.url + "/mounts", data=b"to=latest", headers=foreign, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(request, timeout=30)
    finally:
        assert run.stop() == 0, run.log
        for listed in lifeboat("mount", "list", "--json", env=mounts).json():
            assert lifeboat("mount", "stop", listed["id"], env=mounts).code == 0
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
