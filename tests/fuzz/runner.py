"""Drives schemathesis's generated cases through Hypothesis, one operation per pytest test.

Schemathesis's own pytest integration (`schemathesis.pytest.from_fixture`, needed for a schema served by a
fixture's live server) fails on pytest 9 (it sets the removed `Function._nodeid`), so each operation's cases come
from its documented Hypothesis strategy (`operation.as_strategy`) instead: valid and invalid bodies both, with
the checks of `fuzz_config` run on every answer by `case.call_and_validate()`.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")


def fuzz_config(base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "base-url": base_url,
        "request-timeout": 180,  # generous: a loaded 2-core CI machine can take a minute for a short answer
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def operations_of(document: dict[str, Any]) -> set[str]:
    methods = ("get", "post", "put", "patch", "delete", "head")
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
            if method in methods}


def narrow_model(
    document: dict[str, Any], operations: tuple[str, ...], model: str, field: str = "model"
) -> dict[str, Any]:
    """The document with `field` of these operations' bodies fixed to `model` for valid cases (random names
    would all stop at a 404, and the engine path would never be fuzzed). Invalid cases still send others."""
    out = copy.deepcopy(document)
    for operation in operations:
        method, path = operation.split(" ", 1)
        body = request_body(out, out["paths"][path][method.lower()])
        body["properties"][field] = {"type": "string", "enum": [model]}
    return out


def request_body(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body


# Valid cases generate at most this many tokens per choice, and at most two choices: the real engine decodes them
# (~50 tokens/s here), and a thousand cases must fit a CI-sized run. Invalid cases still send any value.
CHEAP_LIMITS = {"max_tokens": 2, "max_completion_tokens": 2, "max_output_tokens": 2, "num_predict": 2, "n": 2}


def bounded_generation(document: dict[str, Any]) -> dict[str, Any]:
    """The document with token counts capped (and `max_tokens` required) in every request body that has them."""
    out = copy.deepcopy(document)
    for body in out.get("components", {}).get("schemas", {}).values():
        properties = body.get("properties") or {}
        for name, limit in CHEAP_LIMITS.items():
            if name in properties:
                properties[name] = {"type": "integer", "minimum": 1, "maximum": limit}
        for name in ("max_tokens", "num_predict", "max_output_tokens"):
            if name in properties:
                body["required"] = sorted({*body.get("required", []), name})
    return out


# The only 5xx answers that are the design, each documented in its API description: model authoring is not
# offered by the Ollama layer (501, as its issue asks), and a pull whose source cannot be reached (no hub here)
# is a 502 from the server (and from the layer's /api/pull, which asks the server). Every other 5xx fails the
# run; these must also carry the dialect's error body.
DESIGNED_5XX: dict[str, frozenset[int]] = {
    "POST /api/create": frozenset({501}), "POST /api/push": frozenset({501}),
    "HEAD /api/blobs/{digest}": frozenset({501}), "POST /api/blobs/{digest}": frozenset({501}),
    "POST /frontier/models/pull": frozenset({502}), "POST /api/pull": frozenset({502}),
}


def run_operation(schema: Any, operation: str, sent: Counter[str], max_examples: int) -> None:
    """`max_examples` generated cases of one operation (half valid, half not, where it takes input), each
    sent and checked. Derandomised: CI runs the same cases every time."""
    method, path = operation.split(" ", 1)
    target = schema[path][method]
    takes_input = bool(target.definition.raw.get("requestBody") or target.definition.raw.get("parameters"))
    strategy = target.as_strategy(GenerationMode.POSITIVE)
    if takes_input:
        strategy = st.one_of(strategy, target.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: each step is a live request
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case: Any) -> None:
        sent[operation] += 1
        designed = DESIGNED_5XX.get(operation)
        if designed is None:
            case.call_and_validate()
            return
        response = case.call_and_validate(excluded_checks=[not_a_server_error])
        if response.status_code >= 500:
            assert response.status_code in designed, (operation, response.status_code, response.text[:300])
            assert method == "HEAD" or "error" in response.json(), response.text[:300]

    check()
