"""Schemathesis against the OpenAI-compatible server's own OpenAPI document (`/openapi.json` of a live server).

Every operation gets generated cases, valid and invalid; no answer may be a 5xx, every answer must match the
statuses, media types and error shapes the document declares, and the server must be alive and generating
afterwards.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from tests.conftest import DEFAULT_MODEL
from tests.fuzz.runner import bounded_generation, fuzz_config, narrow_model, operations_of, run_operation
from tests.fuzz.stack import FuzzStack

# Inference bodies whose `model` is narrowed to the served model for valid cases: random names would all stop
# at the 404 and the engine path would never be fuzzed. Invalid cases still send other names (404s).
INFERENCE = ("POST /v1/chat/completions", "POST /v1/completions", "POST /tokenize", "POST /v1/messages",
             "POST /v1/messages/count_tokens", "POST /v1/responses", "POST /v1/responses/input_tokens",
             "POST /v1/embeddings")
EXAMPLES_PER_OPERATION = 130
OPERATIONS = (
    "GET /health", "GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions", "POST /tokenize",
    "POST /frontier/models/load", "POST /frontier/models/unload", "POST /frontier/models/pull",
    "POST /frontier/models/delete", "POST /frontier/models/copy", "POST /v1/messages", "POST /v1/messages/count_tokens",
    "POST /v1/responses", "POST /v1/responses/input_tokens", "GET /v1/responses/{response_id}",
    "DELETE /v1/responses/{response_id}", "POST /v1/embeddings",
)


@pytest.fixture(scope="session")
def openai_document(fuzz_stack: FuzzStack) -> dict[str, Any]:
    response = httpx.get(f"{fuzz_stack.server.url}/openapi.json", timeout=10)
    response.raise_for_status()
    return dict(response.json())


@pytest.fixture(scope="session")
def openai_schema(fuzz_stack: FuzzStack, openai_document: dict[str, Any]):  # type: ignore[no-untyped-def]
    document = bounded_generation(narrow_model(openai_document, INFERENCE, DEFAULT_MODEL))
    return schemathesis.openapi.from_dict(document, config=fuzz_config(fuzz_stack.server.url))


def test_the_fuzzed_operations_are_every_operation_of_the_document(openai_document: dict[str, Any]) -> None:
    assert set(OPERATIONS) == operations_of(openai_document)


def test_document_describes_every_request_body_and_the_real_error_status(openai_document: dict[str, Any]) -> None:
    operations = {(method.upper(), path): op for path, item in openai_document["paths"].items()
                  for method, op in item.items()}
    posts = [key for key in operations if key[0] == "POST"]
    assert len(posts) >= 8
    for key in posts:
        op = operations[key]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert openai_document["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"], key
        assert "400" in op["responses"] and "422" not in op["responses"], key
    chat = openai_document["components"]["schemas"]["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(chat["required"])


def test_a_validation_failure_is_the_documented_400(fuzz_stack: FuzzStack) -> None:
    response = httpx.post(f"{fuzz_stack.server.url}/v1/chat/completions", json={"model": DEFAULT_MODEL})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_openai_operation_never_fails_on_generated_requests(
    operation: str, openai_schema, fuzz_stack: FuzzStack  # type: ignore[no-untyped-def]
) -> None:
    run_operation(openai_schema, operation, fuzz_stack.sent["openai"], EXAMPLES_PER_OPERATION)


def test_openai_fuzz_covered_every_operation_and_left_the_server_healthy(
    fuzz_stack: FuzzStack, openai_document: dict[str, Any]
) -> None:
    """Runs after the fuzz test above (pytest keeps file order): the run's size, and the server after it."""
    sent = fuzz_stack.sent["openai"]
    print(f"openai fuzz cases: {sum(sent.values())} {dict(sorted(sent.items()))}")
    assert set(sent) == set(OPERATIONS)
    assert sum(sent.values()) >= 1000
    fuzz_stack.assert_alive_and_healthy()
