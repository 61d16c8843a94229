"""What the catalog's browser tests share: headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package with that executable; ``playwright install`` is never needed),
axe-core from ``node_modules`` (``make install-js``), and screenshots into ``var/screenshots/``.

A test module imports ``skip_without_browser`` as its ``pytestmark`` and the ``browser`` and
``page`` fixtures, and defines a module-scoped ``urls`` fixture: ``browser`` asks for it so that
page URLs are resolved (from the database) before Playwright's event loop runs in the thread,
where Django refuses to query the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None

_missing = [
    reason
    for reason, absent in (
        (f"Chromium is not at {CHROMIUM} (make install-system installs Debian's chromium)", not CHROMIUM.exists()),
        ("the playwright Python package is not installed (pip install -e '.[test]')", sync_playwright is None),
        (f"{AXE.relative_to(ROOT)} is missing (make install-js runs npm ci)", not AXE.exists()),
    )
    if absent
]
skip_without_browser = pytest.mark.skipif(bool(_missing), reason="; ".join(_missing) or "ready")


@pytest.fixture(scope="module")
def browser(urls):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.problems = []  # scripts that fail and resources that do not load fail the test
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    # What the Content-Security-Policy refused (portal/middleware.py), as Chromium reports it in the
    # console and as the page's securitypolicyviolation events (csp_violations below).
    page.on(
        "console",
        lambda m: m.type == "error" and "Content Security Policy" in m.text and page.problems.append(f"CSP: {m.text}"),
    )
    page.add_init_script(CSP_LISTENER)
    yield page
    context.close()


# Run before any script of the page (an init script is the browser's, not the page's: the policy
# does not apply to it); records every violation of the page's Content-Security-Policy.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " +
                              e.sourceFile + ":" + e.lineNumber);
});
"""


def csp_violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations || []")


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    # Evaluated through the DevTools protocol, not added as an inline <script> (which the pages'
    # Content-Security-Policy refuses, as it should).
    page.evaluate(AXE.read_text())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "targets": [n["target"] for n in v["nodes"]][:5]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page):
    violations = axe_violations(page)
    assert not violations, json.dumps(violations, indent=2)


def screenshot(page, name: str):
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
