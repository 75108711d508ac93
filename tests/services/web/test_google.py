"""Sign in with Google from the login page: the OIDC flow ends in a cookie session and the
dashboard, while the API's callback keeps answering with tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from okane_core.localstack import Endpoints
from tests.services.conftest import Stack, start_stack, stop_stack
from tests.services.oidc_provider import CLIENT_ID, CLIENT_SECRET, Identity, RunningProvider
from tests.services.web.conftest import NewContext


@pytest.fixture(scope="module")
def provider() -> Iterator[RunningProvider]:
    with RunningProvider() as running:
        yield running


@pytest.fixture(scope="module")
def google_stack(
    module_database_url: str,
    endpoints: Endpoints,
    provider: RunningProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("web-oidc-logs"),
        OKANE_OIDC_ISSUER=provider.state.issuer,
        OKANE_OIDC_CLIENT_ID=CLIENT_ID,
        OKANE_OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    yield running
    stop_stack(running)


async def test_sign_in_with_google_ends_on_the_dashboard(
    google_stack: Stack, provider: RunningProvider, new_context: NewContext
) -> None:
    tag = uuid.uuid4().hex[:8]
    provider.state.mode = "honest"
    provider.state.identity = Identity(
        sub=f"google-{tag}", email=f"latha-{tag}@gmail.example", name="Latha Iyer"
    )
    context = await new_context()
    page = await context.new_page()
    await page.goto(google_stack.api_url + "/login")
    await page.get_by_role("link", name="Sign in with Google").click()
    await expect(page).to_have_url(google_stack.api_url + "/wallet")
    await expect(page.get_by_role("heading", name="Hello, Latha Iyer")).to_be_visible()
    await expect(page.locator("#available")).to_have_text("₹0.00")
    assert "okane_session" in {c["name"] for c in await context.cookies()}

    # A provider that cannot be trusted gets the login page back, with no session.
    provider.state.mode = "wrong_nonce"
    try:
        stranger = await new_context()
        page = await stranger.new_page()
        await page.goto(google_stack.api_url + "/login")
        await page.get_by_role("link", name="Sign in with Google").click()
        await expect(page.get_by_role("alert")).to_contain_text("Google sign-in did not work")
        assert "okane_session" not in {c["name"] for c in await stranger.cookies()}
    finally:
        provider.state.mode = "honest"


async def test_without_google_configured_there_is_no_google_button(
    web_stack: Stack, new_context: NewContext
) -> None:
    page = await (await new_context()).new_page()
    await page.goto(web_stack.api_url + "/login")
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(page.get_by_role("link", name="Sign in with Google")).to_have_count(0)
