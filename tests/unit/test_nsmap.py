"""mongorestore's namespace pattern rules."""

from __future__ import annotations

import pytest

from mongo_lifeboat.errors import UsageError
from mongo_lifeboat.mongo.nsmap import NamespaceMap


def test_identity() -> None:
    m = NamespaceMap.build()
    assert m.is_identity and m.target("a.b") == "a.b"


def test_include_then_exclude() -> None:
    m = NamespaceMap.build(include=["shop.*"], exclude=["*.secret*"])
    assert m.target("shop.orders") == "shop.orders"
    assert m.target("shop.secret_keys") is None
    assert m.target("other.orders") is None


def test_star_matches_dots_in_collection_names() -> None:
    assert NamespaceMap.build(include=["shop.*"]).selected("shop.a.b.c")


def test_rename_with_stars_in_order() -> None:
    m = NamespaceMap.build(ns_from=["prod.*"], ns_to=["staging.*"])
    assert m.target("prod.orders") == "staging.orders"
    assert m.target("dev.orders") == "dev.orders"
    m2 = NamespaceMap.build(ns_from=["*.user*"], ns_to=["*.member*"])
    assert m2.target("app.users") == "app.members"


def test_rename_with_variables_can_reorder() -> None:
    m = NamespaceMap.build(ns_from=["$db$.$coll$"], ns_to=["$coll$.$db$"])
    assert m.target("shop.orders") == "orders.shop"


def test_single_collection_rename() -> None:
    m = NamespaceMap.build(include=["shop.orders"], ns_from=["shop.orders"], ns_to=["shop.orders_recovered"])
    assert m.target("shop.orders") == "shop.orders_recovered"
    assert m.target("shop.customers") is None


def test_escaped_asterisk_is_literal() -> None:
    m = NamespaceMap.build(include=[r"a.b\*"])
    assert m.selected("a.b*") and not m.selected("a.bc")


def test_from_without_to_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--ns-from given 1 time"):
        NamespaceMap.build(ns_from=["a.*"])


def test_mismatched_stars_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="different numbers"):
        NamespaceMap.build(ns_from=["a.*"], ns_to=["b.c"])


def test_undefined_variable_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"\$x\$"):
        NamespaceMap.build(ns_from=["a.$y$"], ns_to=["a.$x$"])
