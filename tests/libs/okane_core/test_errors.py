"""The error tree: one base class per category, stable codes, and codes that find their class."""

from __future__ import annotations

import gc

import pytest

import okane_core.ledger.domain  # noqa: F401  (defines errors of its own)
from okane_core import errors
from okane_core.errors import Category, OkaneError


def every_error_class() -> list[type[OkaneError]]:
    gc.collect()  # a class refused below stays a subclass until it is collected
    found: list[type[OkaneError]] = []
    pending: list[type[OkaneError]] = [OkaneError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_a_class_has_the_category_of_its_parent() -> None:
    for kind in every_error_class()[1:]:
        parent = kind.__mro__[1]
        assert issubclass(parent, OkaneError)
        if parent is not OkaneError:
            assert kind.category is parent.category, kind


def test_each_category_has_one_base_class_under_okane_error() -> None:
    gc.collect()
    roots = [k for k in OkaneError.__subclasses__() if k.category is not Category.UNCLASSIFIED]
    assert sorted(k.category for k in roots) == sorted(set(Category) - {Category.UNCLASSIFIED})
    assert errors.Refused in roots
    assert issubclass(errors.InsufficientFunds, errors.Refused)
    assert not issubclass(errors.InsufficientFunds, errors.Conflict)


def test_a_code_finds_its_class() -> None:
    for kind in every_error_class():
        assert errors.error_class(kind.code) is kind
        assert errors.category_of(kind.code) is kind.category
    assert errors.error_class("settlement_expired") is errors.SettlementExpired
    assert errors.error_class("no_such_code") is None


def test_a_new_error_must_bring_a_code_of_its_own() -> None:
    with pytest.raises(TypeError, match="must name its own code"):

        class Nameless(errors.Conflict):
            pass

    with pytest.raises(TypeError, match="already taken"):

        class Copycat(errors.Conflict):
            code = "already_settled"

    assert errors.error_class("already_settled") is errors.AlreadySettled
