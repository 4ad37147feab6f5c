"""Canonical JSON and the normalisation of values from training code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pot.errors import FormatError
from pot.log.canonical import DOMAIN_TREE_HEAD, canonical_json, object_hash, signing_input, to_json_value


def test_rfc8785_orders_keys_and_formats_numbers() -> None:
    assert canonical_json({"b": 1, "a": [1.0, 1e21, 1e-7, "x"]}) == b'{"a":[1,1e+21,1e-7,"x"],"b":1}'


def test_signing_input_is_domain_then_zero_then_canonical_json() -> None:
    assert signing_input(DOMAIN_TREE_HEAD, {"a": 1}) == b'pot.v1.tree-head\x00{"a":1}'
    assert object_hash(DOMAIN_TREE_HEAD, {"a": 1}) != object_hash(b"pot.v1.proof", {"a": 1})


@pytest.mark.parametrize(("value", "expected"), [
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (-math.inf, "-Infinity"),
    (np.float32(0.5), 0.5), (np.int64(3), 3), (np.bool_(True), True), (np.array(2.5), 2.5),
    ((1, 2), [1, 2]), ({"a": (np.float64(1.5),)}, {"a": [1.5]}),
])
def test_training_values_are_normalised(value: object, expected: object) -> None:
    assert to_json_value(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    ({1: 2}, "keys must be strings"),
    (2**53, "outside the range JSON carries exactly"),
    (object(), "cannot be recorded as JSON"),
    (np.array([1.0, 2.0]), "is not a scalar"),
    ({"nested": {"x": {1, 2}}}, "value.nested.x: set cannot be recorded"),
])
def test_unrecordable_values_get_one_clear_line(value: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        to_json_value(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False,
                                                                                allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_normalised_values_canonicalise_and_are_stable(value: object) -> None:
    normalised = to_json_value(value)
    assert to_json_value(normalised) == normalised
    assert canonical_json(normalised) == canonical_json(to_json_value(normalised))


any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@given(any_json)
def test_fast_encoder_matches_the_rfc8785_reference(value: object) -> None:
    from pot.log.canonical import reference_canonical_json

    assert canonical_json(value) == reference_canonical_json(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_ecmascript_number_formatting_matches_the_reference(x: float) -> None:
    from pot.log.canonical import es_number, reference_canonical_json

    assert es_number(x).encode() == reference_canonical_json(x)


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\ue000": 2},  # UTF-16 order puts the emoji (a surrogate pair) first; code points do not
    {"a": "\ud800"},  # a lone surrogate
    {"big": 2**60},
    [1e-7, 1e21, 1e20, 2.0**60, -0.0, 5e-324, 1e-5, 123.456],
])
def test_edge_cases_agree_with_the_reference(value: object) -> None:
    from pot.log.canonical import reference_canonical_json

    try:
        expected = reference_canonical_json(value)
    except FormatError:
        with pytest.raises(FormatError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [np.float64(0.5), np.float64(1e-7), {"loss": np.float64(2.25)}, [np.float64(3.0)]])
def test_float_subclasses_encode_as_plain_numbers(value: object) -> None:
    """numpy.float64 subclasses float and prints itself as np.float64(...): the encoder must not use its repr."""
    from pot.log.canonical import reference_canonical_json

    plain = to_json_value(value)
    assert canonical_json(value) == canonical_json(plain) == reference_canonical_json(plain)
    assert b"np." not in canonical_json(value)
