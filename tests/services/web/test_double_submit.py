"""A double click, a reload or a resubmitted form never pays twice: each payment form carries
an idempotency key generated when the server rendered it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import expect

from tests.services.client import Api, User
from tests.services.conftest import Stack
from tests.services.web.conftest import NewContext, log_in


async def _transfers(api: Api, user: User) -> list[Any]:
    page = await api.http.get("/v1/transactions?kind=p2p", headers=user.auth)
    assert page.status_code == 200, page.text
    data: list[Any] = page.json()["data"]
    return data


async def _review(page, stack: Stack, to: str, amount: str) -> None:
    await page.goto(stack.api_url + "/wallet/send")
    await page.get_by_label("Phone number or email").fill(to)
    await page.get_by_label("Amount in rupees").fill(amount)
    await page.get_by_role("button", name="Review payment").click()
    await expect(page).to_have_url(re.compile(r"/wallet/send/review\?"))


async def test_clicking_pay_twice_quickly_pays_once(
    web_stack: Stack, new_context: NewContext
) -> None:
    async with web_stack.api() as api:
        payer = await api.signup("Meera")
        payee = await api.signup("Kabir")
        await api.fund(payer, 100_000)
        # Without the page's script, nothing stops the browser from sending the form twice:
        # only the server's idempotency key does.
        context = await new_context(java_script_enabled=False)
        page = await log_in(context, web_stack, payer.phone)
        await _review(page, web_stack, payee.phone, "300")
        await page.get_by_role("button", name="Pay ₹300.00").dblclick()
        await expect(page).to_have_url(re.compile(r"/wallet/transactions/[0-9a-f-]{36}$"))
        first_receipt = page.url
        await page.reload()  # POST-redirect-GET: a reload repeats a GET
        await expect(page.locator("#receipt-status")).to_have_text("Success")
        assert await api.wallet(payer) == (70_000, 0)
        assert await api.wallet(payee) == (30_000, 0)
        assert len(await _transfers(api, payer)) == 1

        # The same form sent twice at the same moment (a double click racing itself, or a
        # resubmission after "back"), bypassing the browser entirely.
        await _review(page, web_stack, payee.phone, "125.50")
        form = page.locator("form[action='/wallet/send']")
        fields: dict[str, str | float | bool] = {
            name: await form.locator(f"input[name='{name}']").get_attribute("value") or ""
            for name in ("csrf_token", "idempotency_key", "to", "amount", "note")
        }
        origin = {"Origin": web_stack.api_url}
        answers = await asyncio.gather(
            *(
                page.request.post(
                    web_stack.api_url + "/wallet/send", form=fields, headers=origin, max_redirects=0
                )
                for _ in range(2)
            )
        )
        assert [a.status for a in answers] == [303, 303]
        locations = {a.headers["location"] for a in answers}
        assert len(locations) == 1
        assert web_stack.api_url + locations.pop() != first_receipt
        assert await api.wallet(payer) == (70_000 - 12_550, 0)
        assert await api.wallet(payee) == (30_000 + 12_550, 0)
        assert len(await _transfers(api, payer)) == 2

        # With the script, a double click is also stopped in the page.
        scripted = await new_context()
        page = await log_in(scripted, web_stack, payer.phone)
        await _review(page, web_stack, payee.phone, "1")
        await page.get_by_role("button", name="Pay ₹1.00").dblclick()
        await expect(page.locator("#receipt-status")).to_have_text("Success")
        assert len(await _transfers(api, payer)) == 3
        assert await api.wallet(payer) == (70_000 - 12_550 - 100, 0)
