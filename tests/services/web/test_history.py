"""History pages: newest first, twenty at a time, filters kept across pages."""

from __future__ import annotations

from playwright.async_api import expect

from tests.services.conftest import Stack
from tests.services.web.conftest import NewContext, log_in


async def test_history_pages_through_everything_once(
    web_stack: Stack, new_context: NewContext
) -> None:
    async with web_stack.api() as api:
        user = await api.signup("Madhu")
        for rupees in range(1, 24):  # 23 top-ups of ₹1 .. ₹23, the last declined
            await api.topup(user, rupees * 100, approve=rupees != 23)
    page = await log_in(await new_context(), web_stack, user.phone)
    await page.get_by_role("link", name="History").click()
    amounts = page.locator(".txns .txn-amount")
    await expect(amounts).to_have_count(20)
    await expect(amounts.first).to_have_text("+₹23.00")
    await expect(amounts.last).to_have_text("+₹4.00")
    await page.get_by_role("link", name="Older").click()
    await expect(amounts).to_have_text(["+₹3.00", "+₹2.00", "+₹1.00"])
    await expect(page.get_by_role("link", name="Older")).to_have_count(0)
    await page.get_by_role("link", name="Newest").click()
    await expect(amounts).to_have_count(20)

    await page.get_by_label("Status").select_option("success")
    await page.get_by_role("button", name="Show").click()
    await expect(amounts.first).to_have_text("+₹22.00")
    await page.get_by_role("link", name="Older").click()
    await expect(amounts).to_have_text(["+₹2.00", "+₹1.00"])
    await expect(page.get_by_label("Status")).to_have_value("success")
