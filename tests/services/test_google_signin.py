"""Google sign-in (OIDC code flow with state, nonce and PKCE) against a real provider."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.services.conftest import Stack
from tests.services.oidc_provider import Identity, RunningProvider


class Browser:
    """What a browser does: follow the redirects by hand, keep cookies."""

    def __init__(self, stack: Stack) -> None:
        self.client = httpx.Client(base_url=stack.api_url, timeout=30)

    def start(self) -> str:
        """Begin sign-in; returns the provider's redirect back to our callback."""
        begin = self.client.get("/v1/auth/google/login")
        assert begin.status_code == 302, begin.text
        query = parse_qs(urlparse(begin.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["nonce"] and query["state"] and query["code_challenge"]
        at_provider = self.client.get(begin.headers["location"])
        assert at_provider.status_code == 302, at_provider.text
        return at_provider.headers["location"]

    def finish(self, callback: str) -> httpx.Response:
        return self.client.get(callback)

    def close(self) -> None:
        self.client.close()


def sign_in(stack: Stack) -> httpx.Response:
    browser = Browser(stack)
    try:
        return browser.finish(browser.start())
    finally:
        browser.close()


def someone() -> Identity:
    tag = uuid.uuid4().hex[:8]
    return Identity(sub=f"google-{tag}", email=f"g-{tag}@gmail.example", name=f"Gita {tag}")


def test_first_sign_in_creates_the_user_and_a_later_one_logs_in(
    oidc_stack: Stack, provider: RunningProvider
) -> None:
    provider.state.mode = "honest"
    provider.state.identity = someone()
    first = sign_in(oidc_stack)
    assert first.status_code == 200, first.text
    tokens = first.json()
    me = httpx.get(
        oidc_stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert (me["email"], me["name"], me["phone"]) == (
        provider.state.identity.email,
        provider.state.identity.name,
        None,
    )
    wallet = httpx.get(
        oidc_stack.api_url + "/v1/wallet",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert wallet.json()["available"] == 0
    again = sign_in(oidc_stack)
    assert again.status_code == 200
    me_again = httpx.get(
        oidc_stack.api_url + "/v1/me",
        headers={"Authorization": f"Bearer {again.json()['access_token']}"},
    ).json()
    assert me_again["id"] == me["id"]


@pytest.mark.parametrize(
    "mode", ["wrong_nonce", "bad_signature", "expired", "wrong_audience", "wrong_issuer"]
)
def test_untrustworthy_id_tokens_are_refused(
    oidc_stack: Stack, provider: RunningProvider, mode: str
) -> None:
    provider.state.identity = someone()
    provider.state.mode = mode
    try:
        refused = sign_in(oidc_stack)
    finally:
        provider.state.mode = "honest"
    assert refused.status_code == 401, (mode, refused.text)
    assert refused.json()["code"] == "unauthenticated"


def test_tampered_state_and_replays_are_refused(
    oidc_stack: Stack, provider: RunningProvider
) -> None:
    provider.state.mode = "honest"
    provider.state.identity = someone()
    browser = Browser(oidc_stack)
    try:
        callback = browser.start()
        parsed = urlparse(callback)
        params = parse_qs(parsed.query)
        tampered = parsed._replace(
            query=urlencode({"code": params["code"][0], "state": params["state"][0] + "x"})
        ).geturl()
        assert browser.finish(tampered).status_code == 401
        # The state was not consumed by the forgery: the genuine callback still works once...
        assert browser.finish(callback).status_code == 200
        # ...and only once.
        assert browser.finish(callback).status_code == 401
        # A fresh sign-in presenting the old, already redeemed code: the provider refuses it.
        fresh = urlparse(browser.start())
        replay = fresh._replace(
            query=urlencode({"code": params["code"][0], "state": parse_qs(fresh.query)["state"][0]})
        ).geturl()
        assert browser.finish(replay).status_code == 401
    finally:
        browser.close()
    # Without the state cookie at all (another browser), the callback is refused.
    stranger = httpx.get(callback)
    assert stranger.status_code == 401


@pytest.mark.parametrize("claimed", [False, "false", "true", 1])
def test_an_unverified_email_cannot_create_an_account(
    oidc_stack: Stack, provider: RunningProvider, claimed: bool | str | int
) -> None:
    """Only the JSON value true counts as verified."""
    identity = someone()
    identity.email_verified = claimed  # type: ignore[assignment]
    provider.state.identity = identity
    provider.state.mode = "honest"
    assert sign_in(oidc_stack).status_code == 401


async def test_google_links_only_to_an_account_whose_email_is_proven(
    oidc_stack: Stack, provider: RunningProvider
) -> None:
    """Pre-hijacking: someone signs up with a victim's email first (never proving it). The
    victim's Google sign-in must not land in that account; once an account has proved its
    email, the same Google identity signs in to it."""
    victim = someone()
    provider.state.identity = victim
    provider.state.mode = "honest"
    async with oidc_stack.api() as api:
        squatter = await api.signup("Squatter", email=victim.email)
        refused = sign_in(oidc_stack)
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == "email"
        me = (await api.http.get("/v1/me", headers=squatter.auth)).json()
        assert me["email_verified"] is False

        owner_identity = someone()
        owner = await api.signup("Owner", email=owner_identity.email)
        token = await api.code_for(owner_identity.email)
        proven = await api.http.post("/v1/email-verification", json={"token": token})
        assert proven.status_code == 200, proven.text
        provider.state.identity = owner_identity
        linked = sign_in(oidc_stack)
        assert linked.status_code == 200, linked.text
        mine = await api.http.get(
            "/v1/me", headers={"Authorization": f"Bearer {linked.json()['access_token']}"}
        )
        assert mine.json()["id"] == owner.id


def test_google_sign_in_is_404_when_not_configured(stack: Stack) -> None:
    response = httpx.get(stack.api_url + "/v1/auth/google/login")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
