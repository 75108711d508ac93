"""The web app's account pages in a real browser: proving one's phone with the code, changing
the password, and resetting a forgotten one with a code from the (development) mailbox."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.services.conftest import Stack
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
