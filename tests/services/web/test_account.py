"""The web app's account pages in a real browser: proving one's phone with the code, changing
the password, and resetting a forgotten one with a code from the (development) mailbox."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from okane_core.localstack import Endpoints
from tests.services.client import next_phone
from tests.services.conftest import Stack, start_stack, stop_stack
from tests.services.web.conftest import PASSWORD, NewContext, log_in, sign_up

NEW = "a fresh passphrase"


async def test_verify_the_phone_then_change_and_reset_the_password(
    web_stack: Stack, new_context: NewContext
) -> None:
    asha = await sign_up(await new_context(), web_stack, "Asha Verma")
    page = asha.page
    banner = page.locator(".notice").filter(has_text="Verify your phone")
    await expect(banner).to_be_visible()
    await banner.get_by_role("link").click()
    async with web_stack.api() as api:
        wrong = f"{(int(await api.code_for(asha.phone)) + 1) % 10**6:06d}"
        await page.get_by_label("The 6-digit code we sent by SMS").fill(wrong)
        await page.get_by_role("button", name="Verify phone").click()
        await expect(page.get_by_role("alert")).to_contain_text("wrong")
        await page.get_by_label("The 6-digit code we sent by SMS").fill(
            await api.code_for(asha.phone)
        )
        await page.get_by_role("button", name="Verify phone").click()
        await expect(page).to_have_url(web_stack.api_url + "/wallet")
        await expect(banner).to_have_count(0)

        # Change the password: the current one is asked for again.
        await page.get_by_role("link", name="Password").click()
        await page.get_by_label("Current password").fill("not the password")
        await page.get_by_label("New password").fill(NEW)
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_role("alert")).to_contain_text("not right")
        await page.get_by_label("Current password").fill(PASSWORD)
        await page.get_by_label("New password").fill(NEW)
        await page.get_by_role("button", name="Change password").click()
        await expect(page.locator(".notice")).to_contain_text("Every other device")

        # Forgot it: a code to the proven phone sets another one.
        stranger = await (await new_context()).new_page()
        await stranger.goto(web_stack.api_url + "/login")
        await stranger.get_by_role("link", name="Forgot your password?").click()
        await stranger.get_by_label("Phone number or email").fill(asha.phone)
        await stranger.get_by_role("button", name="Send me a code").click()
        await expect(stranger.locator(".notice")).to_contain_text("a code is on its way")
        code = await api.code_for(asha.phone, "password_reset_code")
        await stranger.get_by_label("The code we sent").fill(code)
        await stranger.get_by_label("New password").fill(PASSWORD)
        await stranger.get_by_role("button", name="Set the new password").click()
        await expect(stranger.locator(".notice")).to_contain_text("Your password is set")
    # The reset signed out every device, the one that changed the password too.
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/login"))
    await log_in(await new_context(), web_stack, asha.phone)  # with PASSWORD again


@pytest.fixture(scope="module")
def proving_web_stack(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """As ``make up`` runs it: contacts to verify, codes in the development mailbox."""
    running = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("proving-web-logs"),
        OKANE_VERIFY_CONTACTS="required",
        OKANE_DEV_MAILBOX="true",
    )
    yield running
    stop_stack(running)


async def test_sign_up_opens_the_wallet_with_the_phones_code(
    proving_web_stack: Stack, new_context: NewContext
) -> None:
    stack = proving_web_stack
    page = await (await new_context()).new_page()
    await page.goto(stack.api_url + "/signup")
    phone = next_phone()
    await page.get_by_label("Your name").fill("Meena Iyer")
    await page.get_by_label("Mobile number").fill(phone)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Confirm your phone")).to_be_visible()
    await expect(page.locator(".notice")).to_contain_text(phone[-4:])
    async with stack.api() as api:
        code = await api.code_for(phone, "signup_code")
    await page.get_by_label("The 6-digit code we sent by SMS").fill(code)
    await page.get_by_role("button", name="Open my wallet").click()
    await expect(page).to_have_url(stack.api_url + "/wallet")
    await expect(page.get_by_role("heading", name="Hello, Meena Iyer")).to_be_visible()
    await expect(page.locator(".notice").filter(has_text="Verify your phone")).to_have_count(0)
