"""Hypothesis strategies for JSON-like input: what a client (or an upstream) can put on the wire."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def objects(known: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects whose keys are mostly the known field names, each with a likely value or any JSON at all."""
    fields = st.fixed_dictionaries({}, optional={key: value | json_values for key, value in known.items()})
    extra = st.dictionaries(st.text(max_size=8), json_values, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, fields, extra)


def shaped(known: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects of a known shape: any subset of the fields, each of its own type."""
    return st.fixed_dictionaries({}, optional=known)
