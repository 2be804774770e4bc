"""Update forms, with vectors written from the $v:2 grammar (DESIGN §4)."""

from __future__ import annotations

import pytest

from mongo_lifeboat.oplog.apply.updates import (
    UpdateFormatError,
    apply_changestream_diff,
    apply_doc_diff,
    apply_modifiers,
    apply_update,
    is_replacement,
)


def order(doc: dict) -> list[str]:
    return list(doc)


class TestDocumentDiff:
    def test_delete_update_insert_and_field_order(self) -> None:
        doc = {"_id": 1, "a": 1, "b": 2, "c": 3, "d": 4}
        out = apply_doc_diff(doc, {"d": {"b": False}, "u": {"c": 30, "new": 5}, "i": {"a": 10}})
        # walk old fields: a is in i (moved to the end), b deleted, c replaced in place,
        # then new u fields, then all i fields
        assert out == {"_id": 1, "c": 30, "d": 4, "new": 5, "a": 10}
        assert order(out) == ["_id", "c", "d", "new", "a"]

    def test_insert_of_missing_field_appends(self) -> None:
        assert order(apply_doc_diff({"x": 1}, {"i": {"y": 2}})) == ["x", "y"]

    def test_nested_subdiff_recurses_when_type_matches(self) -> None:
        doc = {"a": {"b": {"c": 1, "d": 2}, "e": 3}}
        out = apply_doc_diff(doc, {"sa": {"sb": {"u": {"c": 9}, "d": {"d": False}}}})
        assert out == {"a": {"b": {"c": 9}, "e": 3}}

    def test_subdiff_on_wrong_type_gives_null(self) -> None:
        assert apply_doc_diff({"a": 5}, {"sa": {"u": {"x": 1}}}) == {"a": None}
        assert apply_doc_diff({"a": {"x": 1}}, {"sa": {"a": True, "u0": 1}}) == {"a": None}

    def test_subdiff_on_missing_field_is_ignored(self) -> None:
        assert apply_doc_diff({"z": 1}, {"sa": {"u": {"x": 1}}}) == {"z": 1}

    def test_input_is_not_modified(self) -> None:
        doc = {"a": {"b": 1}}
        apply_doc_diff(doc, {"sa": {"u": {"b": 2}}})
        assert doc == {"a": {"b": 1}}


class TestArrayDiff:
    def test_update_in_place_and_append(self) -> None:
        out = apply_doc_diff({"arr": [1, 2, 3]}, {"sarr": {"a": True, "u1": 20, "u3": 4}})
        assert out == {"arr": [1, 20, 3, 4]}

    def test_truncate_with_l(self) -> None:
        assert apply_doc_diff({"arr": [1, 2, 3, 4]}, {"sarr": {"a": True, "l": 2}}) == {"arr": [1, 2]}

    def test_l_longer_than_array_pads_with_null(self) -> None:
        assert apply_doc_diff({"arr": [1]}, {"sarr": {"a": True, "l": 3}}) == {"arr": [1, None, None]}

    def test_update_past_end_fills_gap_with_null(self) -> None:
        out = apply_doc_diff({"arr": [1]}, {"sarr": {"a": True, "l": 4, "u3": 9}})
        assert out == {"arr": [1, None, None, 9]}

    def test_truncate_then_update(self) -> None:
        out = apply_doc_diff({"arr": [1, 2, 3, 4, 5]}, {"sarr": {"a": True, "l": 3, "u2": 30}})
        assert out == {"arr": [1, 2, 30]}

    def test_subdiff_into_element(self) -> None:
        doc = {"arr": [{"x": 1}, {"x": 2, "y": 3}]}
        out = apply_doc_diff(doc, {"sarr": {"a": True, "s1": {"d": {"y": False}, "u": {"x": 20}}}})
        assert out == {"arr": [{"x": 1}, {"x": 20}]}

    def test_nested_array_subdiff(self) -> None:
        doc = {"m": [[1, 2], [3]]}
        out = apply_doc_diff(doc, {"sm": {"a": True, "s0": {"a": True, "u1": 9}}})
        assert out == {"m": [[1, 9], [3]]}

    def test_subdiff_on_wrong_element_type_gives_null(self) -> None:
        out = apply_doc_diff({"arr": [1, {"x": 1}]}, {"sarr": {"a": True, "s0": {"u": {"x": 2}}}})
        assert out == {"arr": [None, {"x": 1}]}

    def test_subdiff_past_end_gives_null(self) -> None:
        out = apply_doc_diff({"arr": [1]}, {"sarr": {"a": True, "s2": {"u": {"x": 2}}}})
        assert out == {"arr": [1, None, None]}


class TestChangeStreamDiff:
    def test_updated_removed_truncated(self) -> None:
        doc = {"_id": 1, "x": 1, "sub": {"a": 1}, "arr": [1, 2, 3, 4]}
        diff = {
            "updatedFields": {"sub.c": 3, "arr.1": 9, "new": {"k": 1}},
            "removedFields": ["x"],
            "truncatedArrays": [{"field": "arr", "newSize": 3}],
        }
        assert apply_changestream_diff(doc, diff) == {
            "_id": 1,
            "sub": {"a": 1, "c": 3},
            "arr": [1, 9, 3],
            "new": {"k": 1},
        }

    def test_numeric_path_on_a_document_names_a_field(self) -> None:
        assert apply_changestream_diff({"m": {"0": "a"}}, {"updatedFields": {"m.0": "b"}}) == {
            "m": {"0": "b"}
        }

    def test_set_past_array_end_pads_with_null(self) -> None:
        assert apply_changestream_diff({"a": [1]}, {"updatedFields": {"a.3": 4}}) == {"a": [1, None, None, 4]}

    def test_dispatch_from_apply_update(self) -> None:
        o = {"$v": 2, "diff": {"updatedFields": {"a": 2}, "removedFields": [], "truncatedArrays": []}}
        assert apply_update({"a": 1}, o) == {"a": 2}


class TestModifiers:
    def test_set_and_unset_with_paths(self) -> None:
        out = apply_modifiers(
            {"a": {"b": 1}, "c": 2, "arr": [1, 2]}, {"$set": {"a.d": 5, "arr.0": 7}, "$unset": {"c": ""}}
        )
        assert out == {"a": {"b": 1, "d": 5}, "arr": [7, 2]}

    def test_set_creates_intermediate_documents(self) -> None:
        assert apply_modifiers({}, {"$set": {"x.y.z": 1}}) == {"x": {"y": {"z": 1}}}

    def test_unset_array_element_leaves_null(self) -> None:
        assert apply_modifiers({"a": [1, 2]}, {"$unset": {"a.0": ""}}) == {"a": [None, 2]}

    def test_v1_dispatch(self) -> None:
        assert apply_update({"x": 1}, {"$v": 1, "$set": {"x": 2}}) == {"x": 2}


def test_replacement_detection() -> None:
    assert is_replacement({"_id": 1, "a": 1})
    assert not is_replacement({"$v": 2, "diff": {}})
    assert not is_replacement({"$set": {"a": 1}})


def test_unknown_form_is_an_error() -> None:
    with pytest.raises(UpdateFormatError):
        apply_update({}, {"$v": 3, "whatever": 1})
