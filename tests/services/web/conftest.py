"""Browser tests of the web app: Playwright drives Debian's Chromium (installed by `make test`,
never downloaded) against user-api and bank-webhook running under uvicorn on loopback, with the
bank simulator's pages enabled."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from okane_core.localstack import Endpoints
from tests.conftest import ROOT
from tests.services.client import next_phone
from tests.services.conftest import Stack, start_stack, stop_stack

CHROMIUM = Path(os.environ.get("OKANE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / ".okane" / "test-reports" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"

# Live updates wait for the bank's callback (sent a second after approval) and an SSE event.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def web_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("web-logs"),
        OKANE_BANK_SIMULATOR="true",
        OKANE_PAYEE_LOOKUPS_PER_WINDOW="30",  # the default: the look-up's limit is tested
        OKANE_DEV_MAILBOX="true",  # codes are read from the development mailbox
    )
    yield running
    stop_stack(running)


NewContext = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[NewContext]:
    """``await new_context(**options)``: browser contexts (separate cookie jars, like separate
    people) closed after the test."""
    opened: list[BrowserContext] = []

    async def make(**options: Any) -> BrowserContext:
        context = await browser.new_context(**{"viewport": DESKTOP, "locale": "en-IN", **options})
        opened.append(context)
        return context

    yield make
    for context in opened:
        await context.close()


@dataclass
class Person:
    name: str
    phone: str
    email: str | None
    page: Page


async def sign_up(
    context: BrowserContext, stack: Stack, name: str, *, email: str | None = None
) -> Person:
    """Create an account through the sign-up page; ends signed in, on the dashboard."""
    page = await context.new_page()
    await page.goto(stack.api_url + "/")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.get_by_role("link", name="Create an account").click()
    phone = next_phone()
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Mobile number").fill(phone)
    if email:
        await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(stack.api_url + "/wallet")
    await expect(page.get_by_role("heading", name=f"Hello, {name}")).to_be_visible()
    return Person(name, phone, email, page)


async def log_in(context: BrowserContext, stack: Stack, login: str) -> Page:
    page = await context.new_page()
    await page.goto(stack.api_url + "/login")
    await page.get_by_label("Phone number or email").fill(login)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(stack.api_url + "/wallet")
    return page


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
