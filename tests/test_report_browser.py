"""The report in a real browser: headless Chromium loads it from disk, offline, at a phone's
width (390 px) and a laptop's (1280 px).

The report is built from two real `onnxgate run`s of a user's repository of four models (one
per framework; the second run after one model was retrained with three times the trees and
gated against the first), so the page carries real parity cells, latency, history and a real
gate verdict. Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe``
(NUL-separated JSON on file descriptors 3 and 4), which needs no port, no websocket library and
no network. Screenshots are kept in reports/out/ as CI artifacts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.proof.screenshot import CHROMIUM_FLAGS, find_chromium
from conversion.report.build import report_from_files
from tests.report_samples import user_repo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "reports" / "out"
CHROMIUM = find_chromium()
FLAGS = [*CHROMIUM_FLAGS, "--window-size=1280,800"]
TIMEOUT = 60.0
SCREENS = {"phone": (390, 844), "laptop": (1280, 800)}  # CSS pixels: width, first screen's height
HEIGHT_BUDGET = 2500  # px at 1280 wide for four models, details folded
WHY = "churn retrained with 3x the trees"


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire_fds, pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._from_browser, 65536):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while self._next_id not in self._replies:
                if not self._cond.wait(timeout=max(deadline - time.monotonic(), 0)):
                    raise TimeoutError(f"no reply to {method} within {TIMEOUT:.0f} s")
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):  # the browser may be gone already
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)


def _onnxgate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "conversion.app.main", *args], cwd=repo, env=env,
                          capture_output=True, text=True, check=False, timeout=900)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two `onnxgate run`s of four models, gated against a baselines folder: the second after churn
    was retrained with 3x the trees; then that change is accepted (`gate --accept`)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    repo = user_repo(tmp_path_factory.mktemp("user-repo"))
    first = _onnxgate(repo, "run", "--output", "r1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    recorded = _onnxgate(repo, "gate", "--baseline", "baselines", "--record-missing",
                         "--current", str(next((repo / "r1" / "bench").glob("*.json"))))
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    user_repo(repo, churn_trees=120)
    second = _onnxgate(repo, "run", "--output", "r2", "--baseline", "baselines")
    assert second.returncode in (0, 1), second.stdout[-3000:] + second.stderr[-3000:]
    current = next((repo / "r2" / "bench").glob("*.json"))
    accepted = _onnxgate(repo, "gate", "--baseline", "baselines", "--current", str(current), "--accept", "--why", WHY)
    assert accepted.returncode in (0, 1), accepted.stdout + accepted.stderr
    return {"repo": repo, "runs": [repo / "r1" / "run.json", repo / "r2" / "run.json"],
            "baselines": repo / "baselines", "current": current, "run_index": repo / "r2" / "index.html",
            "stdout": second.stdout}


@pytest.fixture(scope="module")
def merged_report(real_runs: dict[str, Any]) -> Path:
    """Both runs (so a history per model), gated again after the change was accepted."""
    from conversion.results.gate.summary import gate_summary

    gate = gate_summary(real_runs["baselines"], real_runs["current"])
    return report_from_files(real_runs["runs"], real_runs["repo"] / "merged", gate=gate)


PAGE_CHECKS = """
(async () => {
  const images = await Promise.all([...document.images].map(img =>
    img.decode().then(() => ({alt: img.alt, width: img.naturalWidth}), () => ({alt: img.alt, width: 0}))));
  const vw = window.innerWidth;
  const describe = e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ': '
    + (e.textContent || '').trim().slice(0, 60);
  const layout = () => {
    // what is on the page: a folded <details> keeps its contents laid out but not shown
    const all = [...document.body.querySelectorAll('*')].filter(e => e.checkVisibility());
    return {
      scrollWidth: document.documentElement.scrollWidth,
      // an element whose right edge is beyond the screen, or whose text is clipped by its box
      beyond: all.filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > vw + 0.5; })
                 .map(describe),
      clipped: all.filter(e => { const s = getComputedStyle(e);
                                 return ['hidden', 'clip', 'scroll', 'auto'].includes(s.overflowX)
                                        && e.scrollWidth > e.clientWidth + 1; }).map(describe),
    };
  };
  const folded = layout();
  const height = document.documentElement.scrollHeight;
  const heading = document.querySelector('h2[id^="verdicts"]').getBoundingClientRect();
  const first = document.querySelector('tr.verdict .answer').getBoundingClientRect();
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const unfolded = layout();
  const count = sel => document.querySelectorAll(sel).length;
  const banner = document.getElementById('banner').getBoundingClientRect();
  const shown = img => ({natural: img.naturalWidth, width: img.getBoundingClientRect().width,
                         model: img.closest('tr.verdict') ? img.closest('tr.verdict').dataset.model : null});
  const charts = [...document.querySelectorAll('tr.verdict img.speed-chart')].map(shown);
  const heatmap = shown(document.querySelector('figure.overview img'));
  const command = document.querySelector('#banner code');
  const accept = command && {text: command.textContent, options: [...command.querySelectorAll('.option')].map(
    o => ({word: o.textContent, lines: o.getClientRects().length}))};
  return {images, vw, height, folded, unfolded, headingTop: heading.top, answerBottom: first.bottom,
          bannerTop: banner.top, bannerBottom: banner.bottom, charts, heatmap, accept,
          verdicts: count('tr.verdict'), matrix: count('table.parity-matrix td'),
          latency: count('table.latency-table tr'), manifest: count('table.manifest tr'),
          history: count('table.history-table tr'), title: document.title};
})()"""


def _load(browser: DevTools, session: str, index: Path, width: int, height: int) -> list[dict[str, Any]]:
    """Opens ``index`` on a screen of ``width`` x ``height``; returns the events seen while loading."""
    browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                        "mobile": width < 600}, session=session)
    browser.send("Page.navigate", {"url": index.resolve().as_uri()}, session=session)
    events, loaded = [], False
    deadline = time.monotonic() + TIMEOUT
    while not loaded and time.monotonic() < deadline:
        try:
            event = browser.events.get(timeout=1)
        except queue.Empty:
            continue
        events.append(event)
        loaded = event.get("method") == "Page.loadEventFired"
    assert loaded, f"the report did not finish loading at {width} px"
    return events


def _screenshot(browser: DevTools, session: str, out: Path, width: int, height: int) -> Path:
    shot = browser.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1}}, session=session)
    out.write_bytes(base64.b64decode(shot["data"]))
    return out


@pytest.fixture(scope="module")
def pages(real_runs: dict[str, Any], merged_report: Path) -> dict[str, dict[str, Any]]:
    """(report, screen) -> what the page measured, for the merged report and the run's own page."""
    profile = tempfile.mkdtemp(prefix="onnxgate-chromium-")
    browser = DevTools(CHROMIUM, profile)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    try:
        target = next(t for t in browser.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        for report, index in (("merged", merged_report), ("run", real_runs["run_index"])):
            for screen, (width, height) in SCREENS.items():
                def evaluate(expression: str) -> Any:
                    return browser.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                             "returnByValue": True}, session=session)["result"]["value"]

                events = _load(browser, session, index, width, height)
                shot = _screenshot(browser, session, ARTIFACTS / f"browser-{report}-{width}.png", width,
                                   evaluate("document.documentElement.scrollHeight"))  # as it opens: folded
                checks = evaluate(PAGE_CHECKS)
                time.sleep(0.3)  # let late console messages arrive
                while not browser.events.empty():
                    events.append(browser.events.get())
                out[f"{report}@{screen}"] = {"checks": checks, "events": events, "screenshot": shot,
                                             "screen": (width, height), "index": index}
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    return out


@pytest.mark.parametrize("page", ["merged@phone", "merged@laptop", "run@phone", "run@laptop"])
def test_nothing_is_wider_than_the_screen(pages: dict[str, dict[str, Any]], page: str) -> None:
    checks = pages[page]["checks"]
    for state in ("folded", "unfolded"):  # as it opens, and with every <details> opened
        layout = checks[state]
        assert layout["scrollWidth"] <= checks["vw"], (state, layout["beyond"][:10])
        assert not layout["beyond"], (state, layout["beyond"][:10])
        assert not layout["clipped"], (state, layout["clipped"][:10])


@pytest.mark.parametrize("page", ["merged@phone", "merged@laptop", "run@phone", "run@laptop"])
def test_the_verdicts_are_on_the_first_screen(pages: dict[str, dict[str, Any]], page: str) -> None:
    checks, (_, height) = pages[page]["checks"], pages[page]["screen"]
    assert checks["headingTop"] >= 0 and checks["answerBottom"] <= height, checks
    assert checks["bannerTop"] >= 0 and checks["bannerBottom"] <= height, checks  # the gate's verdict


@pytest.mark.parametrize("page", ["merged@phone", "merged@laptop", "run@phone", "run@laptop"])
def test_each_model_shows_its_speed_chart_at_a_legible_size(pages: dict[str, dict[str, Any]], page: str) -> None:
    from conversion.report.plots import CHART_LABEL_PT, DPI

    charts = pages[page]["checks"]["charts"]
    assert sorted(c["model"] for c in charts) == ["churn", "fraud", "risk", "score"]
    for c in charts:  # its value labels (9 pt, 12.5 px in the PNG) stay 10 px or more as shown
        assert c["natural"] > 0 and CHART_LABEL_PT * DPI / 72 * c["width"] / c["natural"] >= 10, c


@pytest.mark.parametrize("page", ["run@phone", "run@laptop"])
def test_the_accept_command_copies_whole_and_wraps_only_between_words(pages: dict[str, dict[str, Any]],
                                                                      page: str) -> None:
    accept = pages[page]["checks"]["accept"]  # the run's own page was gated before the accept: FAIL
    assert accept is not None and accept["text"].startswith("onnxgate gate "), accept
    assert " --accept --why " in accept["text"], accept  # what a reader copies is the command, as typed
    assert "--accept" in [o["word"] for o in accept["options"]], accept
    assert all(o["lines"] == 1 for o in accept["options"]), accept  # no option split across two lines


@pytest.mark.parametrize("page", ["merged@phone", "run@phone"])
def test_the_heatmap_text_is_at_least_11_px_on_a_phone(pages: dict[str, dict[str, Any]], page: str) -> None:
    from conversion.report.plots import DPI, HEATMAP_PT

    heatmap = pages[page]["checks"]["heatmap"]
    assert HEATMAP_PT * DPI / 72 * heatmap["width"] / heatmap["natural"] >= 11, heatmap


@pytest.mark.parametrize("page", ["merged@laptop", "run@laptop"])
def test_four_models_fit_the_height_budget_at_1280(pages: dict[str, dict[str, Any]], page: str) -> None:
    checks = pages[page]["checks"]
    assert checks["verdicts"] == 4
    assert checks["height"] <= HEIGHT_BUDGET, f"{checks['height']} px tall; see {pages[page]['screenshot']}"


def test_every_image_decodes(pages: dict[str, dict[str, Any]]) -> None:
    images = pages["merged@laptop"]["checks"]["images"]
    assert len(images) >= 4 + 4 + 1 + 1 + 4  # speed chart and latency per model, heatmap, cold costs, history
    broken = [i["alt"] for i in images if i["width"] <= 0]
    assert not broken, f"images that did not decode: {broken}"


@pytest.mark.parametrize("page", ["merged@phone", "merged@laptop", "run@phone", "run@laptop"])
def test_no_console_errors(pages: dict[str, dict[str, Any]], page: str) -> None:
    errors = []
    for e in pages[page]["events"]:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text"))
    assert not errors


def test_nothing_is_fetched_from_the_network(pages: dict[str, dict[str, Any]]) -> None:
    urls = [e["params"]["request"]["url"] for page in pages.values() for e in page["events"]
            if e.get("method") == "Network.requestWillBeSent"]
    assert urls, "the page load itself should be seen"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls


def test_main_tables_are_present(pages: dict[str, dict[str, Any]]) -> None:
    checks = pages["merged@laptop"]["checks"]
    assert checks["title"] == "onnxgate report"
    assert checks["verdicts"] == 4
    assert checks["matrix"] > 0 and checks["latency"] > 1 and checks["manifest"] > 1 and checks["history"] > 1


def test_screenshots_are_kept_as_artifacts(pages: dict[str, dict[str, Any]]) -> None:
    for page in pages.values():
        shot: Path = page["screenshot"]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 10_000


# What the real runs' pages say (read from the HTML; the browser checks above are about layout).


def _row(html: str, model: str) -> str:
    """The verdict row of ``model`` (its cells hold a nested table, so up to the next row)."""
    start = html.index('<tr class="verdict', html.index(f'" data-model="{model}"') - 40)
    ends = [i for i in (html.find('<tr class="verdict', start + 1), html.find("</tbody>", start)) if i > 0]
    return html[start:min(ends)]


def test_the_top_table_carries_each_models_gate_verdict_with_its_explanation(real_runs: dict[str, Any]) -> None:
    html = real_runs["run_index"].read_text()  # the second run's own page, gated before the accept
    churn = _row(html, "churn")
    assert "g-fail" in churn and "regressed" in churn  # 3x the trees: slower against the reference
    assert re.search(r"40 → 120 trees", churn), churn  # the gate's explanation for this model
    assert re.search(r"batch \d+: \w+/\w+ \+\d+%", churn)  # which benchmark, which ratio, how much
    # every other model shows the gate's own verdict on it (a shared machine's noise may flag one)
    gate = json.loads(real_runs["runs"][1].read_text())["gate"]["data"]
    regressed = {r["key"].split("|")[0] for r in gate["regressions"]}
    for model in ("fraud", "risk", "score"):
        assert ("g-fail" if model in regressed else "g-pass") in _row(html, model), model
    assert html.index('class="verdicts') < html.index('id="gate"') < html.index('id="latency"')


def test_after_accepting_the_report_passes_and_shows_when_and_why_the_baseline_moved(merged_report: Path) -> None:
    html = merged_report.read_text()
    assert all("g-pass" in _row(html, m) for m in ("fraud", "churn", "risk", "score"))
    history = html[html.index('class="baseline-history'):]
    history = history[:history.index("</table>")]
    assert WHY in history and "trees 40" in history  # the replaced baseline's facts: churn had 40 trees
    # churn's history plot marks the retrain between the runs and the accept after them
    caption = re.search(r"<figcaption>churn: p50 per path[^<]*", html).group(0)
    assert "marked: changed: 40 → 120 trees" in caption and f"marked: accepted: {WHY}" in caption


def test_gate_counts_are_benchmarks_in_the_console_and_the_report(
        real_runs: dict[str, Any], merged_report: Path) -> None:
    summary = next(line for line in real_runs["stdout"].splitlines() if line.startswith("gate: "))
    console = sum(int(n) for n in re.findall(r"(\d+) (?:regression|unchanged|improvement)", summary))
    compared = int(re.search(r"(\d+) benchmarks compared", merged_report.read_text()).group(1))
    # four models x (native + ONNX) x three batch sizes, plus the fastest native call of the XGBoost and
    # LightGBM models (CatBoost's calls are all as fast as its wrapper; the pipeline has none)
    assert console == compared == 4 * 6 + 2 * 3


def test_nan_rows_of_a_model_that_refuses_nan_read_the_same_in_check_run_and_report(
        real_runs: dict[str, Any], merged_report: Path) -> None:
    from conversion.parity.matrix import NAN_NOT_CHECKED

    check = _onnxgate(real_runs["repo"], "check", "models/score.skops", "--data", "data/rows.npy")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"nan rows: {NAN_NOT_CHECKED}" in check.stdout
    run = json.loads(real_runs["runs"][1].read_text())
    cell = next(c for c in run["parity"] if (c["model"], c["path"], c["data_kind"]) == ("score", "onnxgate", "nan"))
    assert (cell["status"], cell["reason"]) == ("unchecked", NAN_NOT_CHECKED)
    html = merged_report.read_text()
    assert f"NaN rows {NAN_NOT_CHECKED}" in _row(html, "score")  # the verdict: exact, NaN rows not checked
    assert '<tr class="verdict yes" data-model="score"' in html


def test_upstream_is_judged_on_rows_of_its_own_graphs_dtype(real_runs: dict[str, Any]) -> None:
    # skl2onnx writes a float32 graph for the float64 pipeline: judged on float32 rows it is
    # exact, where float64 rows would only have shown the engine refusing to round them.
    run = json.loads(real_runs["runs"][1].read_text())
    cell = next(c for c in run["parity"] if (c["model"], c["path"], c["data_kind"]) == ("score", "upstream", "clean"))
    assert cell["status"] == "exact", cell
