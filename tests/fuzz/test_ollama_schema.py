"""Schemathesis against the Ollama-compatible layer, driven by its OpenAPI document
(`src/frontier/ollama/openapi.yaml`: the layer reads raw bodies, so FastAPI cannot describe them).

The layer runs as a real `frontier proxy` child in front of the real server; every operation gets generated
cases, valid and invalid; no answer may be a 5xx, answers must match the documented statuses, media types and
shapes, and both processes must be alive and answering afterwards.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import schemathesis
import yaml
from tests.fuzz.runner import bounded_generation, fuzz_config, narrow_model, operations_of, request_body, run_operation
from tests.fuzz.stack import FuzzStack

from frontier.config import Settings
from frontier.ollama.app import create_app

MODEL = "smollm2:135m"
SERVED = ("POST /api/generate", "POST /api/chat", "POST /api/embed", "POST /api/embeddings", "POST /api/show")
EXAMPLES_PER_OPERATION = 110
# Operations that take no input have one possible case; the count of the others makes the thousand.
OPERATIONS = (
    "GET /", "GET /api/version", "GET /api/tags", "GET /api/ps", "POST /api/show", "POST /api/generate",
    "POST /api/chat", "POST /api/embed", "POST /api/embeddings", "POST /api/pull", "DELETE /api/delete",
    "POST /api/copy", "POST /api/create", "POST /api/push", "HEAD /api/blobs/{digest}",
    "POST /api/blobs/{digest}", "GET /v1/models", "GET /metrics",
)


def ollama_document() -> dict[str, Any]:
    text = resources.files("frontier.ollama").joinpath("openapi.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


@pytest.fixture(scope="session")
def ollama_schema(fuzz_stack: FuzzStack):  # type: ignore[no-untyped-def]
    document = narrow_model(ollama_document(), SERVED, MODEL)
    document = narrow_model(document, ("POST /api/copy",), MODEL, field="source")
    for name in ("GenerateRequest", "ChatRequest"):  # options.num_predict (capped) must be there: short answers
        body = document["components"]["schemas"][name]
        body["required"] = [*body["required"], "options"]
    return schemathesis.openapi.from_dict(bounded_generation(document), config=fuzz_config(fuzz_stack.proxy.url))


def test_the_document_describes_every_route_of_the_layer() -> None:
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    routes = {
        f"{method} {route.path}" for route in app.routes
        for method in getattr(route, "methods", None) or () if route.path not in ("/v1/{path:path}",)
    }
    documented = operations_of(ollama_document())
    # A GET route answers HEAD like its GET (Starlette); /v1/* is the upstream's OpenAI API, fuzzed there.
    heads = {"HEAD " + route.split(" ", 1)[1] for route in routes if route.startswith("GET ")}
    assert routes - heads == documented - {"GET /v1/models"}
    assert set(OPERATIONS) == documented


def test_every_request_body_is_described() -> None:
    document = ollama_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("post", "delete") and "application/json" in operation.get("requestBody", {}).get(
                    "content", {}):
                body = request_body(document, operation)
                assert body["type"] == "object", (method, path)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_ollama_operation_never_fails_on_generated_requests(
    operation: str, ollama_schema, fuzz_stack: FuzzStack  # type: ignore[no-untyped-def]
) -> None:
    run_operation(ollama_schema, operation, fuzz_stack.sent["ollama"], EXAMPLES_PER_OPERATION)


def test_ollama_fuzz_covered_every_operation_and_left_the_stack_healthy(fuzz_stack: FuzzStack) -> None:
    """Runs after the fuzz tests above (pytest keeps file order): the run's size, and the stack after it."""
    sent = fuzz_stack.sent["ollama"]
    print(f"ollama fuzz cases: {sum(sent.values())} {dict(sorted(sent.items()))}")
    assert set(sent) == set(OPERATIONS)
    assert sum(sent.values()) >= 1000
    fuzz_stack.assert_alive_and_healthy()
