from __future__ import annotations

import uuid

import pytest

from okane_core.errors import InvalidRequest
from okane_core.users.domain import clean_name, normalize_email, normalize_phone, parse_user_ref


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


@pytest.mark.parametrize(
    "name", ["Ravi\u202eKumar", "Ra\u200bvi", "Ravi\u200d", "Ravi\x1b[31m", "Ravi\nKumar"]
)
def test_a_name_refuses_invisible_characters(name: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        clean_name(name)
    assert refused.value.field == "name"
    assert "U+" in refused.value.message


def test_a_name_keeps_letters_of_every_script() -> None:
    assert clean_name("  अनन्या   ராஜ் ") == "अनन्या ராஜ்"


def test_a_joiner_between_indic_letters_is_part_of_the_name() -> None:
    malayalam = "\u0d28\u0d4d\u200d\u0d2f"  # a chillu: needs ZWJ between the letters
    assert clean_name(f"Anu {malayalam}") == f"Anu {malayalam}"
    with pytest.raises(InvalidRequest):
        clean_name("Anu\u200dKumar")  # between Latin letters it only hides
