"""The report in a real browser (Debian's chromium, headless, offline): it loads without console
messages, every section is in the rendered DOM, and the hallucinated-only filter hides exactly
the other sentences (counted from the browser's own layout)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from results_fixtures import BASE_LABELS, CAND_LABELS, build, make_outputs

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run installs it)"
)

# Every Chromium flag that could reach the network or a profile is off; --v=0 with logging on
# stderr prints each console message (log, error, uncaught exception) as one "CONSOLE" line.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def open_page(page: Path, tmp: Path, fragment: str = "") -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console lines it printed."""
    profile = tmp / f"profile{len(list(tmp.glob('profile*')))}"
    out = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri() + fragment],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out.stdout, console


@needs_chromium
def test_the_console_check_sees_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>hi</p><script>null.x;</script></body></html>")
    dom, console = open_page(bad, tmp_path)
    assert "<p>hi</p>" in dom
    assert any("Uncaught TypeError" in line for line in console)


@needs_chromium
def test_report_loads_offline_without_console_messages_and_shows_each_section(tmp_path):
    root = make_outputs(tmp_path)
    build(root, "--baseline", str(root / "base"))
    page = root / "report.html"
    dom, console = open_page(page, tmp_path)
    assert console == []
    for section in ("training", "evaluation", "compare", "inspection"):
        assert re.search(rf'<section id="{section}">\s*<h2>', dom), section
    assert dom.count("<svg") >= 1 + 2 + 2  # curves, two bar charts, two interval charts
    total = sum(len(v) for v in CAND_LABELS.values())
    assert f"{total} of {total} sentences shown" in dom


@needs_chromium
def test_hallucinated_only_filter_hides_the_other_sentences(tmp_path):
    root = make_outputs(tmp_path)
    build(root, str(root / "base"))  # no --baseline: both SHR runs are inspected
    dom, console = open_page(root / "report.html", tmp_path, "#hallucinated")
    assert console == []
    shown = sorted(re.findall(r"(\d+) of (\d+) sentences shown", dom))
    expected = sorted(
        (
            str(sum(v.count("hallucination") for v in labels.values())),
            str(sum(len(v) for v in labels.values())),
        )
        for labels in (BASE_LABELS, CAND_LABELS)
    )
    assert shown == expected
