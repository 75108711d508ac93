"""Two people use the wallet in a real browser: sign up, add money through the bank
simulator's page, pay each other (the receiver's dashboard updates without a reload),
withdraw, and export the history as CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid

from playwright.async_api import BrowserContext, Page, expect

from okane_core.db.engine import create_engine, create_session_factory
from okane_core.ledger.reconcile import reconcile
from okane_core.settings import load_settings
from tests.services.conftest import Stack
from tests.services.web.conftest import (
    PHONE,
    NewContext,
    Person,
    screenshot,
    sign_up,
)

MINUS = "\u2212"  # debits are shown with a real minus sign


async def add_money(page: Page, stack: Stack, amount: str, *, approve: bool) -> Page:
    """Add money through the simulated bank; returns to the top-up's receipt."""
    await page.goto(stack.api_url + "/wallet/add")
    await page.get_by_label("Amount in rupees").fill(amount)
    await page.get_by_role("button", name="Continue to bank").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.webhook_url + "/simulator/tp_")))
    await page.get_by_role("button", name="Approve" if approve else "Decline").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.api_url + "/wallet/transactions/")))
    return page


async def test_two_people_add_money_pay_each_other_withdraw_and_export(
    web_stack: Stack, new_context: NewContext, module_database_url: str
) -> None:
    stack = web_stack
    asha_context: BrowserContext = await new_context()
    ravi_context: BrowserContext = await new_context()
    asha = await sign_up(asha_context, stack, "Asha Rao")
    tag = uuid.uuid4().hex[:6]
    ravi = await sign_up(ravi_context, stack, "Ravi Kumar", email=f"ravi-{tag}@example.com")
    await expect(asha.page.locator("#available")).to_have_text("₹0.00")

    # Add money: the bank's page shows the payment; until it answers, the top-up is processing.
    page = asha.page
    await page.get_by_role("link", name="Add money").first.click()
    await page.get_by_label("Amount in rupees").fill("1,500")
    await page.get_by_role("button", name="Continue to bank").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.webhook_url + "/simulator/tp_")))
    await expect(page.locator("#bank-amount")).to_have_text("₹1,500.00")
    await expect(page.get_by_text("Asha Rao")).to_be_visible()
    meanwhile = await asha_context.new_page()
    await meanwhile.goto(stack.api_url + "/wallet")
    pending = meanwhile.locator(".txns li").first
    await expect(pending).to_contain_text("Added money from bank")
    await expect(pending).to_contain_text("Processing")
    await expect(meanwhile.locator("#available")).to_have_text("₹0.00")
    await page.get_by_role("button", name="Approve").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.api_url + "/wallet/transactions/")))
    # The callback arrives on its own; the receipt turns to Success without a reload.
    await expect(page.locator("#receipt-status")).to_have_text("Success")
    await expect(page.locator(".big-amount")).to_have_text("+₹1,500.00")
    # ...and so does the dashboard that was open in the other tab.
    await expect(meanwhile.locator("#available")).to_have_text("₹1,500.00")
    await expect(pending).to_contain_text("Success")
    await meanwhile.close()

    # A declined top-up fails and credits nothing.
    await add_money(page, stack, "99", approve=False)
    await expect(page.locator("#receipt-status")).to_have_text("Failed")
    await expect(page.get_by_text("The bank declined it")).to_be_visible()

    # Ravi watches his dashboard while Asha pays him.
    await expect(ravi.page.locator("#available")).to_have_text("₹0.00")
    await ravi.page.evaluate("window.stillTheSamePage = true")

    await page.goto(stack.api_url + "/wallet")
    await expect(page.locator("#available")).to_have_text("₹1,500.00")
    await screenshot(page, "dashboard-desktop")
    await page.get_by_role("link", name="Send money").click()
    await page.get_by_label("Phone number or email").fill(ravi.phone)
    await expect(page.locator("#recipient-name")).to_have_text("Paying Ravi Kumar")
    await page.get_by_label("Amount in rupees").fill("250.75")
    await page.get_by_label("Note").fill("Dinner at Meghana's")
    await screenshot(page, "send-money-desktop")
    await page.get_by_role("button", name="Review payment").click()
    await expect(page.locator("#payee-name")).to_have_text("Ravi Kumar")
    await expect(page.locator("#pay-amount")).to_have_text("₹250.75")
    await page.get_by_role("button", name="Pay ₹250.75").click()
    await expect(page).to_have_url(re.compile(re.escape(stack.api_url + "/wallet/transactions/")))
    await expect(page.locator("#receipt-status")).to_have_text("Success")
    await expect(page.locator(".receipt-title")).to_have_text("Paid Ravi Kumar")
    await expect(page.locator(".big-amount")).to_have_text(MINUS + "₹250.75")

    # The receiver's open dashboard shows the money without a reload.
    await expect(ravi.page.locator("#available")).to_have_text("₹250.75")
    received = ravi.page.locator(".txns li").first
    await expect(received).to_contain_text("Received from Asha Rao")
    await expect(received).to_contain_text("+₹250.75")
    assert await ravi.page.evaluate("window.stillTheSamePage") is True

    # Contacts are quick payees: Ravi pays Asha back from his contacts.
    await ravi.page.get_by_role("link", name="Contacts").click()
    await expect(ravi.page.locator(".contacts")).to_contain_text("Asha Rao")
    await ravi.page.get_by_role("link", name="Pay Asha Rao").click()
    # Asha paid Ravi, so he never typed her phone: his contact pays her by her id, and her
    # phone is nowhere on his page.
    await expect(ravi.page.get_by_label("Phone number or email")).to_have_value(
        re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    )
    assert asha.phone not in await ravi.page.content()
    await ravi.page.get_by_label("Amount in rupees").fill("50")
    await ravi.page.get_by_role("button", name="Review payment").click()
    await expect(ravi.page.locator("#payee-name")).to_have_text("Asha Rao")
    await ravi.page.get_by_role("button", name="Pay ₹50.00").click()
    await expect(ravi.page.locator("#receipt-status")).to_have_text("Success")

    # Withdraw: the amount is held until the bank pays it out.
    await withdraw_and_settle(ravi, stack)

    # History with filters, and its CSV export.
    await page.goto(stack.api_url + "/wallet/history")
    rows = page.locator(".txns li")
    await expect(rows).to_have_count(4)
    await page.get_by_label("Type").select_option("topup")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(2)
    await page.get_by_label("Status").select_option("failure")
    await page.get_by_role("button", name="Show").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Failed")
    await page.goto(stack.api_url + "/wallet/history")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Export CSV").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("okane-history-")
    content = (await download.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(content)))
    assert [
        (r["type"], r["direction"], r["status"], r["amount_inr"], r["counterparty"], r["note"])
        for r in exported
    ] == [
        ("p2p", "credit", "success", "50.00", "Ravi Kumar", ""),
        ("p2p", "debit", "success", "-250.75", "Ravi Kumar", "Dinner at Meghana's"),
        ("topup", "credit", "failure", "99.00", "Bank", ""),
        ("topup", "credit", "success", "1500.00", "Bank", ""),
    ]

    # Phone-width screenshots of the same pages.
    await page.set_viewport_size(PHONE)
    await page.goto(stack.api_url + "/wallet")
    await expect(page.locator("#available")).to_have_text("₹1,299.25")
    await screenshot(page, "dashboard-phone")
    await page.goto(stack.api_url + f"/wallet/send?to={ravi.phone.replace('+', '%2B')}")
    await expect(page.locator("#recipient-name")).to_have_text("Paying Ravi Kumar")
    await page.get_by_label("Amount in rupees").fill("1,000")
    await screenshot(page, "send-money-phone")

    # Every movement balanced: the ledger's reconciliation finds nothing wrong.
    settings = load_settings(database_url=module_database_url)
    engine = create_engine(settings, module_database_url, application_name="okane-web-tests")
    try:
        async with create_session_factory(engine)() as session, session.begin():
            report = await reconcile(session)
    finally:
        await engine.dispose()
    assert report.violations == []


async def withdraw_and_settle(person: Person, stack: Stack) -> None:
    page = person.page
    await page.get_by_role("link", name="Withdraw").first.click()
    await expect(page.get_by_text("Available: ₹200.75")).to_be_visible()
    await page.get_by_label("Amount in rupees").fill("100")
    await page.get_by_role("button", name="Withdraw").click()
    await expect(page.locator("#receipt-status")).to_have_text("Processing")
    receipt = page.url
    await page.goto(stack.api_url + "/wallet")
    await expect(page.locator("#available")).to_have_text("₹100.75")
    await expect(page.locator("#locked")).to_have_text("₹100.00")
    # The bank pays it out (the simulator lists everything waiting for it).
    bank = await page.context.new_page()
    await bank.goto(stack.webhook_url + "/simulator")
    waiting = re.compile(f"Withdrawal of ₹100.00 for {person.name}")
    await bank.get_by_role("link", name=waiting).click()
    await bank.get_by_role("button", name="Approve").click()
    await expect(bank).to_have_url(stack.webhook_url + "/simulator")
    await expect(page.locator("#locked")).to_have_text("₹0.00")
    await expect(page.locator("#available")).to_have_text("₹100.75")
    await page.goto(receipt)
    await expect(page.locator("#receipt-status")).to_have_text("Success")
    await bank.close()
