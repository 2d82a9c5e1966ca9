"""The pure pieces, without a server: request ids, error kinds, labels, the engine gauges, log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import generate_latest

from frontier.config import load_settings
from frontier.errors import ConfigError, ContextLengthError, EngineError, InvalidRequestError, ModelNotFoundError
from frontier.logs import REQUEST_ID, build_handler, python_level
from frontier.metrics import EngineMetrics, EngineSnapshot, ServiceMetrics, new_registry
from frontier.metrics.middleware import request_id_from
from frontier.metrics.record import error_kind, status_kind
from frontier.metrics.upstream import path_label


def test_a_plain_client_request_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id_from([(b"X-Request-ID", b"abc-123")]) == "abc-123"
    for bad in (b"", b"has space", b"x" * 129, b"new\nline", b"<script>"):
        made = request_id_from([(b"x-request-id", bad)])
        assert made != bad.decode("latin-1") and len(made) == 32
    assert request_id_from([]) != request_id_from([])  # fresh each time


def test_error_kinds_are_named_by_meaning_and_stay_bounded() -> None:
    assert error_kind(ContextLengthError("too long")) == "context_length"
    assert error_kind(InvalidRequestError("bad")) == "invalid_request"
    assert error_kind(ModelNotFoundError("x")) == "model_not_found"
    assert error_kind(EngineError("boom")) == "engine_error"
    assert error_kind(KeyError("k")) == "key_error"
    assert (status_kind(499), status_kind(404), status_kind(418)) == ("client_gone", "not_found", "http_418")


def test_upstream_paths_outside_the_known_set_share_one_label() -> None:
    assert path_label("/v1/chat/completions") == "/v1/chat/completions"
    assert path_label("/v1/some/passthrough/path") == "other"


def test_two_apps_keep_separate_registries() -> None:
    first, second = ServiceMetrics(new_registry()), ServiceMetrics(new_registry())
    first.requests.labels("/x", "m", "200").inc()
    assert b'frontier_requests_total{endpoint="/x",model="m",status="200"} 1.0' in generate_latest(first.registry)
    assert b"/x" not in generate_latest(second.registry)


def test_engine_gauges_follow_the_snapshot_and_drop_unloaded_models() -> None:
    registry = new_registry()
    gauges = EngineMetrics(registry)
    gauges.update(EngineSnapshot(True, running=2, queued=3, loaded_models=("a", "b"), load_seconds={"a": 1.5}))
    text = generate_latest(registry).decode()
    assert 'frontier_model_loaded{model="b"} 1.0' in text
    assert 'frontier_model_load_seconds{model="a"} 1.5' in text
    assert "frontier_engine_queued_requests 3.0" in text and "frontier_engine_running_requests 2.0" in text
    gauges.update(EngineSnapshot(False, loaded_models=("a",)))
    text = generate_latest(registry).decode()
    assert 'frontier_model_loaded{model="b"}' not in text
    assert "frontier_engine_up 0.0" in text


def test_json_log_lines_carry_the_request_id_and_extra_fields() -> None:
    out = io.StringIO()
    logger = logging.getLogger("frontier.test.json")
    logger.propagate = False
    logger.addHandler(build_handler("json", out))
    logger.setLevel(logging.INFO)
    token = REQUEST_ID.set("rid-1")
    try:
        logger.info("done %s", "x", extra={"status": 200})
    finally:
        REQUEST_ID.reset(token)
    logger.info("outside")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["message"], first["request_id"], first["status"], first["level"]) == ("done x", "rid-1", 200, "info")
    assert second["request_id"] == "-"


def test_text_log_lines_show_the_request_id() -> None:
    out = io.StringIO()
    logger = logging.getLogger("frontier.test.text")
    logger.propagate = False
    logger.addHandler(build_handler("text", out))
    token = REQUEST_ID.set("rid-2")
    try:
        logger.warning("hello")
    finally:
        REQUEST_ID.reset(token)
    assert "WARNING frontier.test.text [rid-2]: hello" in out.getvalue()
    assert (python_level("trace"), python_level("warning")) == (logging.DEBUG, logging.WARNING)


def test_log_format_is_a_checked_setting() -> None:
    assert load_settings(frontier_log_format="JSON", _env_file=None).frontier_log_format == "json"
    with pytest.raises(ConfigError, match="FRONTIER_LOG_FORMAT='xml'"):
        load_settings(frontier_log_format="xml", _env_file=None)


def test_kept_children_are_reused_and_a_removed_one_is_made_afresh() -> None:
    from frontier.metrics.kept import Counter

    registry = new_registry()
    counter = Counter("kept_test", "A test counter.", ["model"], registry=registry)
    child = counter.labels("m")
    assert counter.labels("m") is child
    child.inc(2)
    counter.remove("m")
    counter.labels("m").inc()
    assert counter.labels("m") is not child
    assert 'kept_test_total{model="m"} 1.0' in generate_latest(registry).decode()
    counter.clear()
    assert "kept_test_total{" not in generate_latest(registry).decode()
