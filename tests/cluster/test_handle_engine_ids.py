"""Each engine call from the ingress carries a request id of its own (`frontier.cluster.handle_engine._own_id`):
Ray's router indexes waiting calls by that id, and two calls of one HTTP request sharing it left one unroutable."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.serve", reason="the cluster extra (ray[serve])")

from ray.serve import context  # noqa: E402

from frontier.cluster.handle_engine import _own_id  # noqa: E402


def _id_seen_by_ray() -> str:
    """What Ray's handle reads when a call is made (`get_request_metadata`)."""
    return context._get_serve_request_context()._internal_request_id


def test_calls_made_while_serving_a_request_get_distinct_ids_and_the_request_keeps_its_own() -> None:
    variable = context._serve_request_context
    token = variable.set(context._RequestContext(request_id="http-1", _internal_request_id="http-1-internal"))
    try:
        first, second = _own_id(_id_seen_by_ray), _own_id(_id_seen_by_ray)
        assert first and second and first != second
        assert "http-1-internal" not in (first, second)
        assert _own_id(lambda: context._get_serve_request_context().request_id) == "http-1"  # logs still match
        assert _id_seen_by_ray() == "http-1-internal"  # swapped for the call alone
    finally:
        variable.reset(token)


def test_arguments_are_passed_and_errors_restore_the_context() -> None:
    assert _own_id(lambda a, b: a + b, 2, 3) == 5
    before = _id_seen_by_ray()

    def fails() -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        _own_id(fails)
    assert _id_seen_by_ray() == before
