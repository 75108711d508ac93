from __future__ import annotations

import uuid

import pytest

from okane_core.errors import InvalidRequest
from okane_core.users.domain import normalize_email, normalize_phone, parse_user_ref


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9876543210", "+919876543210"),
        ("+91 98765-43210", "+919876543210"),
        ("919876543210", "+919876543210"),
        ("+14155550100", "+14155550100"),
    ],
)
def test_phone_numbers_are_normalised(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "+0123456789", "abcdefghij", "1234567890"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        normalize_phone(raw)
    assert raised.value.field == "phone"


def test_emails_are_lower_cased_and_checked() -> None:
    assert normalize_email(" Asha@Example.COM ") == "asha@example.com"
    with pytest.raises(InvalidRequest):
        normalize_email("not-an-email")


def test_recipient_refs_are_classified() -> None:
    user_id = uuid.uuid4()
    assert parse_user_ref(str(user_id)) == ("id", user_id)
    assert parse_user_ref("A@b.co") == ("email", "a@b.co")
    assert parse_user_ref("9876543210") == ("phone", "+919876543210")
