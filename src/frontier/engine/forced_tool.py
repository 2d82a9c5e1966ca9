"""A tool call the client insists on (Anthropic `tool_choice` any/tool, OpenAI `required` or a named function),
made on any engine: the model is told which tool to call and its answer is constrained to the tool's JSON schema
by a grammar, so the arguments always validate, even on a model too small to call tools by itself. Pure.

With one tool the generated text is its arguments; with several, an object {"name", "arguments"} choosing one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from frontier.engine.protocol import Grammar
from frontier.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class ForcedTool:
    name: str
    description: str
    schema: dict[str, Any]


def check_schema(schema: dict[str, Any], param: str) -> None:
    """A schema the grammar compiler would reject after admission, refused up front as a 400."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(f"{param} is not a valid JSON schema: {exc.message}", param=param) from None


def grammar(tools: Sequence[ForcedTool]) -> Grammar:
    if len(tools) == 1:
        return Grammar(kind="json_schema", value=json.dumps(closed(tools[0].schema)))
    choices = [{"type": "object", "properties": {"name": {"const": t.name}, "arguments": closed(t.schema)},
                "required": ["name", "arguments"], "additionalProperties": False} for t in tools]
    return Grammar(kind="json_schema", value=json.dumps({"anyOf": choices}))


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties and says nothing of others closed to them. What
    it generates still validates against the schema as given; left open, the grammar let a small model add
    made-up keys until max_tokens (greedy on the default model: `"properties": {"type": ...` nested 20 deep)."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) if key not in ("properties", "enum", "const", "default", "examples") else value
           for key, value in schema.items()}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: closed(sub) for name, sub in schema["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def instruction(tools: Sequence[ForcedTool]) -> str:
    described = "\n".join(f"- {t.name}: {t.description or 'no description'}\n  arguments schema: "
                          f"{json.dumps(t.schema)}" for t in tools)
    if len(tools) == 1:
        return f"Call the tool {tools[0].name}. Reply with only its arguments, as a JSON object.\n{described}"
    return ('Call one of these tools. Reply with only a JSON object {"name": <tool name>, "arguments": <its '
            f"arguments>}}.\n{described}")


def with_instruction(messages: list[dict[str, Any]], tools: Sequence[ForcedTool]) -> list[dict[str, Any]]:
    """The conversation with the instruction appended to its system turn (or as one)."""
    note = instruction(tools)
    out = list(messages)
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{note}"}
    else:
        out.insert(0, {"role": "system", "content": note})
    return out


def read_call(text: str, tools: Sequence[ForcedTool]) -> tuple[str, dict[str, Any]] | None:
    """(tool name, arguments) from the generated text, or None where it was cut short."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if len(tools) == 1:
        return tools[0].name, value
    name, arguments = value.get("name"), value.get("arguments")
    return (name, arguments) if isinstance(name, str) and isinstance(arguments, dict) else None
