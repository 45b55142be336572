"""Headless Chromium for tests that look at a page as a person would.

The browser is Debian's chromium (``/usr/bin/chromium``; ``./run test`` installs it
when it is missing), driven by Playwright for Python over the DevTools protocol.
Nothing is downloaded at run time: Playwright's own browser builds are never
installed, Playwright only starts the system's executable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Page, Route, ViewportSize, async_playwright, expect

# Another executable (say, a Chromium somewhere else) for a developer's machine.
CHROMIUM_ENV = "YTSYNC_TEST_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# What this machine's Chromium needs headless: no GPU, no sandbox as root, and none of
# its background connections to Google (the network is closed; they would fail noisily
# and slow every start).  Playwright adds --headless and a fresh, temporary
# --user-data-dir of its own at each launch.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
# For every action and assertion.  Long enough for a single-page app on a loaded
# 2-core machine (the Temporal UI once took 6 s to list a workflow while other test
# runs shared the machine); each wait ends as soon as what it waits for appears.
TIMEOUT_MS = 20_000


def chromium_executable() -> Path | None:
    """The Chromium to drive: $YTSYNC_TEST_CHROMIUM, else Debian's, else one on PATH."""
    wanted = os.environ.get(CHROMIUM_ENV)
    for name in (wanted,) if wanted else CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def unavailable() -> str | None:
    """Why no browser test can run here, or None when one can."""
    if chromium_executable() is not None:
        return None
    wanted = os.environ.get(CHROMIUM_ENV)
    if wanted:
        return f"${CHROMIUM_ENV} is {wanted!r}, which is no executable"
    return (
        f"no Chromium found ({', '.join(CANDIDATES)}); `./run test` installs Debian's "
        "chromium (apt-get install chromium) when it runs as root"
    )


@asynccontextmanager
async def headless_page(origin: str, failure_shot: Path) -> AsyncIterator[Page]:
    """A page in a headless Chromium for the ``async with`` block.

    Only ``origin`` (scheme, host and port) is reached: any other request, such as a
    web app's news feed or fonts from the Internet, is refused inside the browser, so
    a test never sends traffic off this machine.  If the block fails, what the page
    showed is saved to ``failure_shot``.  The browser is closed (and gone) after it.
    """
    executable = chromium_executable()
    if executable is None:
        raise RuntimeError(unavailable())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(FLAGS)
        )
        try:
            context = await browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            # Assertions wait for the page too, by default only 5 s.
            expect.set_options(timeout=TIMEOUT_MS)
            await context.route(lambda url: not _same_origin(url, origin), _refuse)
            page = await context.new_page()
            try:
                yield page
            except BaseException:
                failure_shot.parent.mkdir(parents=True, exist_ok=True)
                # The page may be gone by now; the original error matters more.
                with contextlib.suppress(Exception):
                    await page.screenshot(path=str(failure_shot), full_page=True)
                raise
        finally:
            await browser.close()


def _same_origin(url: str, origin: str) -> bool:
    return url == origin or url.startswith(origin.rstrip("/") + "/")


async def _refuse(route: Route) -> None:
    await route.abort("blockedbyclient")
