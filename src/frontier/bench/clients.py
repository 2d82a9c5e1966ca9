"""One streaming client per API. Each sends a chat and returns a RequestRecord; none raises for a failed
request (the error is recorded), so that a benchmark run survives a misbehaving endpoint.

- OpenAI: `POST /v1/chat/completions` with `stream: true` and `stream_options.include_usage`, read as SSE.
  `ignore_eos: true` (vLLM's extension, which Frontier serves) makes every answer exactly `max_tokens` long so
  that runs compare; an endpoint that answers it with a 400 is retried once without it and the client
  remembers (`ignore_eos_supported`).
- Ollama: `POST /api/chat` streamed as NDJSON, `options.num_predict` as the cap; counts from the final line's
  `eval_count` / `prompt_eval_count`. Ollama's API has no ignore_eos (`options.ignore_eos` is sent but is not
  an Ollama option), so answers may end early at the model's end-of-sequence; the report's token counts are
  what was generated.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal, Protocol

import httpx

from frontier.bench.record import RequestRecord
from frontier.bench.workload import TokenCount

Api = Literal["openai", "ollama"]
Message = dict[str, str]


class ChatClient(Protocol):
    api: Api
    url: str
    model: str

    async def chat(self, messages: list[Message], max_tokens: int, turn: int = 0,
                   cold: bool = False) -> tuple[RequestRecord, str]:
        """Returns the record and the answer text (multi-turn mode appends it to the conversation)."""
        ...


def _error_text(response: httpx.Response, body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    try:
        data = json.loads(text)
        err = data.get("error")
        text = err.get("message", text) if isinstance(err, dict) else (err or text)
    except (ValueError, AttributeError):
        pass
    return f"HTTP {response.status_code}: {str(text)[:200]}"


class OpenAIChat:
    api: Api = "openai"

    def __init__(self, client: httpx.AsyncClient, url: str, model: str, *, ignore_eos: bool = True,
                 temperature: float = 0.0) -> None:
        self.client, self.url, self.model = client, url.rstrip("/"), model
        self.ignore_eos_supported: bool | None = None if ignore_eos else False
        self.temperature = temperature

    def body(self, messages: list[Message], max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "messages": messages, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}, "temperature": self.temperature,
        }
        if self.ignore_eos_supported is not False:
            body["ignore_eos"] = True
        return body

    async def chat(self, messages: list[Message], max_tokens: int, turn: int = 0,
                   cold: bool = False) -> tuple[RequestRecord, str]:
        record, text, status = await self._send(messages, max_tokens, turn, cold)
        if status == 400 and self.ignore_eos_supported is None:
            # A strict server rejects the unknown field; measure without it rather than fail the run. If the
            # request fails without it too, the field was not the problem: keep asking for it.
            self.ignore_eos_supported = False
            record, text, status = await self._send(messages, max_tokens, turn, cold)
            if status != 200:
                self.ignore_eos_supported = None
        elif status == 200 and self.ignore_eos_supported is None:
            self.ignore_eos_supported = True
        return record, text

    async def _send(self, messages: list[Message], max_tokens: int, turn: int,
                    cold: bool) -> tuple[RequestRecord, str, int]:
        record = RequestRecord(start=time.perf_counter(), turn=turn, cold=cold)
        parts: list[str] = []
        status = 0
        try:
            async with self.client.stream("POST", f"{self.url}/v1/chat/completions",
                                          json=self.body(messages, max_tokens)) as response:
                status = response.status_code
                if status != 200:
                    record.error = _error_text(response, await response.aread())
                else:
                    await self._read_sse(response, record, parts)
        except httpx.HTTPError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        record.end = time.perf_counter()
        if record.ok and record.token_source == "chunks":
            record.output_tokens = len(record.chunk_times)
        return record, "".join(parts), status

    @staticmethod
    async def _read_sse(response: httpx.Response, record: RequestRecord, parts: list[str]) -> None:
        usage = None
        done = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                err = event["error"]
                record.error = f"stream error: {err.get('message', err) if isinstance(err, dict) else err}"
                return
            for choice in event.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    record.chunk_times.append(time.perf_counter())
                    parts.append(content)
            if event.get("usage"):
                usage = event["usage"]
        if not done:
            record.error = "stream ended without [DONE]"
        elif usage:
            record.output_tokens = int(usage.get("completion_tokens") or 0)
            record.prompt_tokens = usage.get("prompt_tokens")
        else:
            record.token_source = "chunks"


class OllamaChat:
    api: Api = "ollama"

    def __init__(self, client: httpx.AsyncClient, url: str, model: str, *, ignore_eos: bool = True,
                 temperature: float = 0.0) -> None:
        self.client, self.url, self.model = client, url.rstrip("/"), model
        self.temperature = temperature
        self.ignore_eos = ignore_eos

    def body(self, messages: list[Message], max_tokens: int) -> dict[str, Any]:
        options: dict[str, Any] = {"num_predict": max_tokens, "temperature": self.temperature}
        if self.ignore_eos:
            # Not an Ollama option: Ollama and Frontier ignore unknown options, so this is harmless and
            # takes effect wherever a server learns to pass it on as the upstream's ignore_eos.
            options["ignore_eos"] = True
        return {"model": self.model, "messages": messages, "stream": True, "options": options}

    async def chat(self, messages: list[Message], max_tokens: int, turn: int = 0,
                   cold: bool = False) -> tuple[RequestRecord, str]:
        record = RequestRecord(start=time.perf_counter(), turn=turn, cold=cold)
        parts: list[str] = []
        try:
            async with self.client.stream("POST", f"{self.url}/api/chat",
                                          json=self.body(messages, max_tokens)) as response:
                if response.status_code != 200:
                    record.error = _error_text(response, await response.aread())
                else:
                    await self._read_ndjson(response, record, parts)
        except httpx.HTTPError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        except ValueError as exc:
            record.error = f"bad NDJSON line: {exc}"
        record.end = time.perf_counter()
        return record, "".join(parts)

    @staticmethod
    async def _read_ndjson(response: httpx.Response, record: RequestRecord, parts: list[str]) -> None:
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if "error" in event:
                record.error = f"stream error: {event['error']}"
                return
            content = (event.get("message") or {}).get("content")
            if content:
                record.chunk_times.append(time.perf_counter())
                parts.append(content)
            if event.get("done"):
                if isinstance(event.get("eval_count"), int):
                    record.output_tokens = event["eval_count"]
                    record.prompt_tokens = event.get("prompt_eval_count")
                else:
                    record.token_source = "chunks"
                    record.output_tokens = len(record.chunk_times)
                return
        record.error = "stream ended without a done line"


def make_client(api: Api, client: httpx.AsyncClient, url: str, model: str, *, ignore_eos: bool = True,
                temperature: float = 0.0) -> ChatClient:
    if api == "openai":
        return OpenAIChat(client, url, model, ignore_eos=ignore_eos, temperature=temperature)
    return OllamaChat(client, url, model, ignore_eos=ignore_eos, temperature=temperature)


async def discover_model(api: Api, client: httpx.AsyncClient, url: str) -> str:
    """The first model the endpoint lists (`/v1/models` or `/api/tags`)."""
    url = url.rstrip("/")
    if api == "openai":
        response = await client.get(f"{url}/v1/models")
        response.raise_for_status()
        models = [m["id"] for m in response.json().get("data") or []]
    else:
        response = await client.get(f"{url}/api/tags")
        response.raise_for_status()
        models = [m["name"] for m in response.json().get("models") or []]
    if not models:
        raise ValueError(f"{url} lists no models; pass --model")
    return str(models[0])


def tokenize_counter(client: httpx.AsyncClient, url: str, model: str) -> TokenCount:
    """An async token counter over the `/tokenize` extension (Frontier, vLLM)."""

    async def count(text: str) -> int:
        response = await client.post(f"{url.rstrip('/')}/tokenize", json={"model": model, "text": text})
        response.raise_for_status()
        data = response.json()
        return int(data["count"]) if isinstance(data.get("count"), int) else len(data.get("tokens") or [])

    return count


async def has_tokenize(client: httpx.AsyncClient, url: str, model: str) -> bool:
    try:
        response = await client.post(f"{url.rstrip('/')}/tokenize", json={"model": model, "text": "hello"})
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and isinstance(response.json(), dict)
