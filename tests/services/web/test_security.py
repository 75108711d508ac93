"""The web app's defences, checked from a real browser: Content-Security-Policy, CSRF tokens,
cookie attributes, escaping, no credentials in pages, owner-only receipts, the recipient
lookup's limits, and local-only redirects."""

from __future__ import annotations

import asyncio
import re
import uuid
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import expect

from okane_core.localstack import Endpoints
from tests.services.conftest import Stack, start_stack, stop_stack
from tests.services.web.conftest import NewContext, log_in, sign_up


async def test_pages_send_a_content_security_policy_that_blocks_inline_script(
    web_stack: Stack, new_context: NewContext
) -> None:
    context = await new_context()
    person = await sign_up(context, web_stack, "Noor")
    page = person.page
    for path in ("/wallet", "/wallet/send", "/wallet/history", "/login"):
        response = await page.goto(web_stack.api_url + path)
        assert response is not None
        headers = await response.all_headers()
        policy = headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        # Add money posts here and is redirected to the bank's page: allowed explicitly.
        assert directives["form-action"] == f"'self' {web_stack.webhook_url}"
        assert "unsafe" not in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert await page.locator("script:not([src])").count() == 0
    # The browser enforces it: injected markup cannot run script.
    await page.goto(web_stack.api_url + "/wallet")
    await page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener("securitypolicyviolation", () => resolve(), {once: true});
            document.body.insertAdjacentHTML(
                "beforeend", '<img src="data:," onload="window.injected = 1">');
        })"""
    )
    assert await page.evaluate("window.injected") is None
    # The API's interactive documentation (third-party inline script) is left alone.
    async with httpx.AsyncClient(base_url=web_stack.api_url) as http:
        docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers


async def test_forms_without_a_valid_csrf_token_are_refused(
    web_stack: Stack, new_context: NewContext
) -> None:
    async with web_stack.api() as api:
        payer = await api.signup("Arjun")
        payee = await api.signup("Bela")
        await api.fund(payer, 50_000)
        page = await log_in(await new_context(), web_stack, payer.phone)
        other = await log_in(await new_context(), web_stack, payee.phone)
        await page.goto(web_stack.api_url + "/wallet/withdraw")
        key = await page.locator("input[name=idempotency_key]").get_attribute("value") or ""
        token = await page.locator("#main input[name=csrf_token]").get_attribute("value")
        await other.goto(web_stack.api_url + "/wallet/withdraw")
        foreign = await other.locator("#main input[name=csrf_token]").get_attribute("value")
        assert token
        assert foreign
        assert token != foreign
        origin = web_stack.api_url
        attempts: list[tuple[dict[str, str | float | bool], str]] = [
            ({"idempotency_key": key, "amount": "100"}, origin),  # no token
            ({"idempotency_key": key, "amount": "100", "csrf_token": "forged"}, origin),
            ({"idempotency_key": key, "amount": "100", "csrf_token": foreign}, origin),
            (
                {"idempotency_key": key, "amount": "100", "csrf_token": token},
                "https://evil.example",
            ),
        ]
        for form, sender in attempts:
            refused = await page.request.post(
                web_stack.api_url + "/wallet/withdraw",
                form=form,
                headers={"Origin": sender},
                max_redirects=0,
            )
            assert refused.status == 403
            assert "This form has expired or did not come from OKANE" in await refused.text()
        assert await api.wallet(payer) == (50_000, 0)
        # The same form with its own token goes through.
        accepted = await page.request.post(
            web_stack.api_url + "/wallet/withdraw",
            form={"idempotency_key": key, "amount": "100", "csrf_token": token},
            headers={"Origin": origin},
            max_redirects=0,
        )
        assert accepted.status == 303
        assert await api.wallet(payer) == (40_000, 10_000)

    # Signed out, a login form is bound to the visitor's own anonymous cookie (login CSRF).
    stranger = await new_context()
    refused = await stranger.request.post(
        web_stack.api_url + "/login",
        form={"login": payer.phone, "password": payer.password, "csrf_token": token},
        max_redirects=0,
    )
    assert refused.status == 403
    assert not [c for c in await stranger.cookies() if c["name"] == "okane_session"]


async def test_session_cookie_is_http_only_and_logout_ends_the_session(
    web_stack: Stack, new_context: NewContext
) -> None:
    context = await new_context()
    person = await sign_up(context, web_stack, "Ira")
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["okane_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain http on loopback: local development
    assert session["path"] == "/"
    # Nothing in the page can be used to act as the user.
    html = await person.page.content()
    assert session["value"] not in html
    assert "eyJ" not in html  # no JWT
    assert await person.page.evaluate("document.cookie") == ""

    await person.page.get_by_role("button", name="Log out").click()
    await expect(person.page).to_have_url(web_stack.api_url + "/login")
    assert "okane_session" not in {c["name"] for c in await context.cookies()}
    # A copy of the old cookie no longer opens anything.
    replay = await new_context()
    await replay.add_cookies(
        [
            {
                "name": session["name"],
                "value": session["value"],
                "domain": session["domain"],
                "path": session["path"],
            }
        ]
    )
    page = await replay.new_page()
    await page.goto(web_stack.api_url + "/wallet")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fwallet$"))


def test_cookies_are_secure_when_the_public_url_is_https(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = start_stack(
        module_database_url,
        endpoints.redis_url,
        tmp_path_factory.mktemp("https-logs"),
        OKANE_PUBLIC_URL="https://wallet.example",
    )
    try:
        with httpx.Client(base_url=stack.api_url) as http:
            form = http.get("/signup")
            anonymous = form.headers["set-cookie"]
            assert anonymous.startswith("__Host-okane_anon=")
            assert "Secure" in anonymous
            assert "HttpOnly" in anonymous
            assert form.headers["strict-transport-security"].startswith("max-age=")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            cookie = anonymous.split(";", 1)[0]
            created = http.post(
                "/signup",
                data={
                    "csrf_token": token.group(1),
                    "name": "Tara",
                    "phone": f"+9171{uuid.uuid4().int % 10**8:08d}",
                    "password": "correct horse battery",
                },
                headers={"Cookie": cookie, "Origin": "https://wallet.example"},
            )
        assert created.status_code == 303, created.text
        session = created.headers["set-cookie"]
        assert session.startswith("__Host-okane_session=")
        for attribute in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
            assert attribute in session
    finally:
        stop_stack(stack)


async def test_names_and_notes_are_shown_as_text_never_run(
    web_stack: Stack, new_context: NewContext
) -> None:
    hostile = '<img src="data:," onload="window.pwned=1">Eve'
    async with web_stack.api() as api:
        eve = await api.signup(hostile)
        victim = await api.signup("Farah")
        await api.fund(eve, 10_000)
        note = "<script>window.pwned=2</script>"
        assert (await api.transfer(eve, victim.phone, 500, note=note)).status_code == 201
        page = await log_in(await new_context(), web_stack, victim.phone)
        received = page.locator(".txns li").first
        await expect(received).to_contain_text(f"Received from {hostile}")
        await expect(received).to_contain_text(note)
        await received.locator("a").click()
        await expect(page.locator(".details")).to_contain_text(note)
        assert await page.evaluate("window.pwned") is None
        # The CSV keeps a formula-looking note as text.
        formula = '=HYPERLINK("https://evil.example","refund")'
        assert (await api.transfer(eve, victim.phone, 100, note=formula)).status_code == 201
        export = await page.request.get(web_stack.api_url + "/wallet/history.csv")
        assert export.headers["content-type"].startswith("text/csv")
        assert "'=HYPERLINK" in await export.text()


async def test_receipts_are_the_owners_only(web_stack: Stack, new_context: NewContext) -> None:
    async with web_stack.api() as api:
        owner = await api.signup("Gauri")
        snoop = await api.signup("Hari")
        topup, _ = await api.topup(owner, 1_000)
        page = await log_in(await new_context(), web_stack, owner.phone)
        await page.goto(web_stack.api_url + f"/wallet/transactions/{topup['id']}")
        await expect(page.locator("#receipt-status")).to_have_text("Success")
        other = await log_in(await new_context(), web_stack, snoop.phone)
        response = await other.goto(web_stack.api_url + f"/wallet/transactions/{topup['id']}")
        assert response is not None
        assert response.status == 404
        await expect(other.get_by_role("heading", name="Not found")).to_be_visible()
        response = await other.goto(web_stack.api_url + f"/wallet/transactions/{topup['id']}/part")
        assert response is not None
        assert response.status == 404


async def test_recipient_lookup_reveals_only_a_name_and_is_rate_limited(
    web_stack: Stack, new_context: NewContext
) -> None:
    async with web_stack.api() as api:
        tag = uuid.uuid4().hex[:6]
        asker = await api.signup("Ishaan")
        target = await api.signup("Jaya Menon", email=f"jaya-{tag}@example.com")
        page = await log_in(await new_context(), web_stack, asker.phone)
        lookup = web_stack.api_url + "/wallet/send/recipient?to="

        async def ask(value: str) -> tuple[int, dict[str, str]]:
            answer = await page.request.get(lookup + quote(value))
            return answer.status, await answer.json()

        assert await ask(target.phone) == (200, {"name": "Jaya Menon"})
        assert await ask(f"JAYA-{tag}@Example.com ") == (200, {"name": "Jaya Menon"})
        status, body = await ask(target.phone[:-3])  # a prefix is not a match
        assert status == 404
        assert set(body) == {"error"}
        assert (await ask(f"jaya-{tag}@example"))[0] == 422
        assert (await ask(asker.phone))[0] == 422  # oneself
        statuses = [(await ask(target.phone))[0] for _ in range(30)]
        assert statuses.count(429) > 0
        assert statuses[-1] == 429
        limited = await page.request.get(lookup + quote(target.phone))
        assert int(limited.headers["retry-after"]) > 0
        # The review step uses the same limit.
        await page.goto(
            web_stack.api_url + f"/wallet/send/review?to={quote(target.phone)}&amount=10&note="
        )
        await expect(page.get_by_role("alert")).to_contain_text("Too many new payees")


async def test_after_login_only_local_pages(web_stack: Stack, new_context: NewContext) -> None:
    async with web_stack.api() as api:
        user = await api.signup("Kiran")
    context = await new_context()
    page = await context.new_page()
    await page.goto(web_stack.api_url + "/wallet/history?kind=topup")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fwallet%2Fhistory%3Fkind%3Dtopup$"))
    await page.get_by_label("Phone number or email").fill(user.phone)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The phone number, email or password is wrong."
    )
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(web_stack.api_url + "/wallet/history?kind=topup")
    await page.get_by_role("button", name="Log out").click()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        await page.goto(web_stack.api_url + "/login?next=" + quote(target, safe=""))
        await page.get_by_label("Phone number or email").fill(user.phone)
        await page.get_by_label("Password").fill(user.password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(web_stack.api_url + "/wallet")
        await page.get_by_role("button", name="Log out").click()


async def test_bank_simulator_forms_need_their_token_and_send_people_only_to_the_wallet(
    web_stack: Stack, new_context: NewContext
) -> None:
    async with web_stack.api() as api:
        user = await api.signup("Nila")
        started = await api.post(user, "/v1/topups", {"amount": 5_000})
        assert started.status_code == 201, started.text
        topup = started.json()
        bank = web_stack.webhook_url + "/simulator/" + topup["reference"]
        page = await (await new_context()).new_page()
        response = await page.goto(bank + "?return_to=https%3A%2F%2Fevil.example%2F")
        assert response is not None
        policy = (await response.all_headers())["content-security-policy"]
        assert "script-src 'self'" in policy
        assert f"form-action 'self' {web_stack.api_url}" in policy
        await expect(page.locator("#bank-amount")).to_have_text("₹50.00")
        assert await page.locator("input[name=return_to]").get_attribute("value") == ""
        token = await page.locator("input[name=csrf_token]").get_attribute("value") or ""

        forged = await page.request.post(
            bank, form={"csrf_token": "forged", "decision": "approve"}, max_redirects=0
        )
        assert forged.status == 403
        approved = await page.request.post(
            bank,
            form={"csrf_token": token, "decision": "approve", "return_to": "https://evil.example/"},
            max_redirects=0,
        )
        assert approved.status == 303
        assert approved.headers["location"] == "/simulator"
        # The signed callback follows on its own; wait for it (bounded), then check once.
        for _ in range(100):
            seen = await api.http.get(f"/v1/transactions/{topup['id']}", headers=user.auth)
            if seen.json()["status"] != "processing":
                break
            await asyncio.sleep(0.1)
        assert seen.json()["status"] == "success"
        assert await api.wallet(user) == (5_000, 0)
