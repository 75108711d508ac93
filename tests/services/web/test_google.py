"""Sign in with Google from the login page: the OIDC flow ends in a cookie session and the
dashboard, while the API's callback keeps answering with tokens."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.services.conftest import Stack
from tests.services.oidc_provider import Identity, RunningProvider
from tests.services.web.conftest import NewContext


async def test_sign_in_with_google_ends_on_the_dashboard(
    oidc_stack: Stack, provider: RunningProvider, new_context: NewContext
) -> None:
    tag = uuid.uuid4().hex[:8]
    provider.state.mode = "honest"
    provider.state.identity = Identity(
        sub=f"google-{tag}", email=f"latha-{tag}@gmail.example", name="Latha Iyer"
    )
    context = await new_context()
    page = await context.new_page()
    await page.goto(oidc_stack.api_url + "/login")
    await page.get_by_role("link", name="Sign in with Google").click()
    await expect(page).to_have_url(oidc_stack.api_url + "/wallet")
    await expect(page.get_by_role("heading", name="Hello, Latha Iyer")).to_be_visible()
    await expect(page.locator("#available")).to_have_text("₹0.00")
    assert "okane_session" in {c["name"] for c in await context.cookies()}

    # A provider that cannot be trusted gets the login page back, with no session.
    provider.state.mode = "wrong_nonce"
    try:
        stranger = await new_context()
        page = await stranger.new_page()
        await page.goto(oidc_stack.api_url + "/login")
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
