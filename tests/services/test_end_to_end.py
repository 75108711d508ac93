"""A person's whole journey through the real HTTP services, balances checked at every step."""

from __future__ import annotations

import json
import uuid

from tests.services.conftest import Stack


async def test_two_people_top_up_pay_each_other_and_withdraw(stack: Stack) -> None:
    async with stack.api() as api:
        asha = await api.signup("Asha", email=f"asha-{uuid.uuid4().hex[:6]}@example.com")
        ravi = await api.signup("Ravi")
        assert await api.wallet(asha) == (0, 0)

        # Top up through the bank simulator: processing until the signed callback arrives.
        topup, delivery = await api.topup(asha, 50_000)
        assert delivery.status == 200
        assert delivery.body["transaction"]["status"] == "success"
        assert await api.wallet(asha) == (50_000, 0)
        seen = await api.http.get(f"/v1/transactions/{topup['id']}", headers=asha.auth)
        assert seen.json()["status"] == "success"

        # A declined top-up never credits.
        _, declined = await api.topup(asha, 9_999, approve=False)
        assert declined.status == 200
        assert declined.body["transaction"]["failure_reason"] == "bank_declined"
        assert await api.wallet(asha) == (50_000, 0)

        # Pay by phone, then pay back by email... Ravi has no email, so by user id.
        paid = await api.transfer(asha, ravi.phone, 12_345, note="dinner")
        assert paid.status_code == 201, paid.text
        body = paid.json()
        assert (body["status"], body["amount"], body["failure_reason"]) == ("success", 12_345, None)
        assert body["counterparty"]["name"] == "Ravi"
        assert await api.wallet(asha) == (37_655, 0)
        assert await api.wallet(ravi) == (12_345, 0)
        back = await api.transfer(ravi, asha.email or "", 345)
        assert back.json()["status"] == "success"
        by_id = await api.transfer(ravi, asha.id, 1_000)
        assert by_id.json()["status"] == "success"
        assert await api.wallet(ravi) == (11_000, 0)

        # Not enough money: recorded as a failure, nothing moves.
        broke = await api.transfer(ravi, asha.phone, 11_001)
        assert broke.status_code == 201
        assert broke.json()["failure_reason"] == "insufficient_funds"
        assert await api.wallet(ravi) == (11_000, 0)

        # Withdraw: held, then paid out.
        withdrawal = await api.post(ravi, "/v1/withdrawals", {"amount": 6_000})
        assert withdrawal.status_code == 201
        wd = withdrawal.json()
        assert (wd["status"], wd["reference"][:3]) == ("processing", "wd_")
        assert await api.wallet(ravi) == (5_000, 6_000)
        paid_out = await api.bank.approve("withdrawal", wd["reference"], 6_000)
        assert paid_out.status == 200
        assert await api.wallet(ravi) == (5_000, 0)

        # A refused withdrawal returns the hold.
        second = (await api.post(ravi, "/v1/withdrawals", {"amount": 5_000})).json()
        assert await api.wallet(ravi) == (0, 5_000)
        refused = await api.bank.decline("withdrawal", second["reference"], 5_000)
        assert refused.status == 200
        assert await api.wallet(ravi) == (5_000, 0)

        # History, newest first, and pages.
        history = await api.http.get("/v1/transactions", headers=ravi.auth)
        kinds = [(t["kind"], t["status"], t["direction"]) for t in history.json()["data"]]
        assert kinds == [
            ("withdrawal", "failure", "debit"),
            ("withdrawal", "success", "debit"),
            ("p2p", "failure", "debit"),
            ("p2p", "success", "debit"),
            ("p2p", "success", "debit"),
            ("p2p", "success", "credit"),
        ]
        first = await api.http.get("/v1/transactions?limit=2", headers=ravi.auth)
        page = first.json()
        assert page["has_more"] is True
        after = page["data"][-1]["id"]
        rest = await api.http.get(
            f"/v1/transactions?limit=10&starting_after={after}", headers=ravi.auth
        )
        assert [t["id"] for t in rest.json()["data"]] == [
            t["id"] for t in history.json()["data"][2:]
        ]
        only_p2p = await api.http.get("/v1/transactions?kind=p2p&status=success", headers=ravi.auth)
        assert len(only_p2p.json()["data"]) == 3

        # Contacts: the people each paid or was paid by, never anyone else.
        carl = await api.signup("Carl")
        await api.fund(carl, 100)
        assert (await api.transfer(carl, asha.phone, 100)).json()["status"] == "success"
        asha_contacts = (await api.http.get("/v1/contacts", headers=asha.auth)).json()["data"]
        assert [c["name"] for c in asha_contacts] == ["Carl", "Ravi"]
        ravi_contacts = (await api.http.get("/v1/contacts", headers=ravi.auth)).json()["data"]
        assert [c["name"] for c in ravi_contacts] == ["Asha"]
        # A contact shows only what its owner typed to pay them: Carl typed Asha's phone;
        # Asha never typed Carl's, so she sees his name and id, never his phone or email.
        carl_contacts = (await api.http.get("/v1/contacts", headers=carl.auth)).json()["data"]
        assert [(c["name"], c["paid_as"]) for c in carl_contacts] == [("Asha", asha.phone)]
        carl_seen_by_asha = next(c for c in asha_contacts if c["name"] == "Carl")
        assert carl_seen_by_asha["paid_as"] is None and carl_seen_by_asha["id"] == carl.id
        assert carl.phone not in json.dumps(asha_contacts)
        # and pays him back by that id.
        back = await api.transfer(asha, carl_seen_by_asha["id"], 10)
        assert back.status_code == 201 and back.json()["status"] == "success", back.text

        me = await api.http.get("/v1/me", headers=asha.auth)
        assert me.json()["phone"] == asha.phone
