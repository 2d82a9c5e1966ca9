"""At info level neither service writes prompts or generated text to its log: a unique marker sent through
every inference route (and some refused requests) never shows up in the server's or the layer's log file."""

from __future__ import annotations

import secrets
import time

import httpx
from tests.ollama.conftest import MODEL
from tests.security.conftest import SecuredStack

import ollama
import openai


def test_a_marker_in_prompts_never_reaches_the_logs(secured: SecuredStack) -> None:
    marker = "zq" + secrets.token_hex(8)  # one token-ish word no model or log line would produce by chance
    prompt = f"Repeat this word exactly: {marker}"
    with openai.OpenAI(base_url=secured.server + "/v1", api_key=secured.key, max_retries=0) as client:
        model = client.models.list().data[0].id
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], max_tokens=2)
        stream = client.completions.create(model=model, prompt=prompt, max_tokens=2, stream=True)
        generated = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    with ollama.Client(host=secured.layer, headers=secured.auth()) as layer:
        answer = layer.chat(model=MODEL, messages=[{"role": "system", "content": marker},
                                                   {"role": "user", "content": prompt}], options={"num_predict": 2})
        generated += answer.message.content or ""
        generated += layer.generate(model=MODEL, prompt=prompt, options={"num_predict": 2}).response
    # Refused requests carry the marker too: a bad key, an invalid body, an unknown option value.
    httpx.post(secured.server + "/v1/chat/completions", json={"messages": [{"role": "user", "content": marker}]},
               headers={"Authorization": "Bearer wrong"}, timeout=30)
    httpx.post(secured.server + "/v1/chat/completions", headers=secured.auth(), timeout=30,
               json={"model": model, "messages": [{"role": "nobody", "content": marker}]})
    httpx.post(secured.layer + "/api/chat", headers=secured.auth(), timeout=30,
               json={"model": MODEL, "messages": [{"role": "user", "content": marker}], "options": {"top_k": marker}})
    time.sleep(0.5)  # the access lines are written as each response ends
    server_log = secured.server_log.read_text(errors="replace")
    layer_log = secured.layer_log.read_text(errors="replace")
    # The logs are live at info (so the marker's absence means something): each request left an access line.
    assert "POST /v1/chat/completions 200" in server_log and "POST /v1/completions 200" in server_log
    assert "POST /api/chat 200" in layer_log and "POST /api/generate 200" in layer_log
    assert "POST /api/chat 400" in layer_log and "401" in server_log
    assert marker not in server_log
    assert marker not in layer_log
    words = [word for word in generated.split() if len(word) > 12 and word.isalnum()]  # long generated words
    for word in words:
        assert word not in server_log and word not in layer_log
