"""The chat page in a real browser against the real stack (default model, API key set, CORS configured)."""

from __future__ import annotations

import json
import time

import httpx
from playwright.sync_api import Browser, Page, expect
from tests.conftest import DEFAULT_MODEL
from tests.ui.conftest import SECOND_MODEL, Stack

ASSISTANT = "#messages li.assistant"


def _health(stack: Stack) -> dict:
    return dict(httpx.get(f"{stack.url}/health", timeout=10).json())


def _open(page: Page) -> None:
    page.goto("/ui")
    expect(page.locator("#model option")).not_to_have_count(0)


def _settings(page: Page, max_tokens: int) -> None:
    page.locator("#settings summary").click()
    page.get_by_label("Max new tokens").fill(str(max_tokens))
    page.get_by_label("Max new tokens").dispatch_event("change")
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Temperature").dispatch_event("change")


def _send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_the_page_is_open_linked_from_root_and_the_api_stays_locked(stack: Stack) -> None:
    root = httpx.get(f"{stack.url}/", timeout=10)
    assert root.status_code == 307 and root.headers["location"] == "/ui"
    assert httpx.head(f"{stack.url}/", timeout=10).status_code == 307  # clients probe with HEAD
    page = httpx.get(f"{stack.url}/ui", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self' covers scripts
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("chat.js", "common.js", "markdown.js", "stack.js", "ui.css"):
        assert httpx.get(f"{stack.url}/ui/static/{name}", timeout=10).status_code == 200, name
    # Only the package's own files: no path from a request reaches the disk.
    for name in ("..%2Froutes.py", "routes.py", "%2E%2E%2F%2E%2E%2Fconfig.py"):
        assert httpx.get(f"{stack.url}/ui/static/{name}", timeout=10).status_code == 404, name
    assert httpx.get(f"{stack.url}/v1/models", timeout=10).status_code == 401  # the API itself still needs the key
    assert httpx.get(f"{stack.url}/uix", timeout=10).status_code == 401  # open means /ui and under it, no more


def test_a_message_streams_an_answer_with_its_speed(page: Page) -> None:
    _open(page)
    _settings(page, 96)
    _send(page, "Tell me about the sea.")
    answer = page.locator(ASSISTANT).last
    # Streamed: text shows while the generation still runs (the Stop button is up), not only at the end.
    page.wait_for_function("""() => {
        const li = [...document.querySelectorAll('#messages li.assistant')].pop();
        return li && li.querySelector('.content').textContent.length > 0 && !document.getElementById('stop').hidden;
    }""")
    expect(answer).to_have_attribute("data-done", "true")
    expect(answer.locator(".stats")).to_contain_text("tok/s")
    expect(answer.locator(".stats")).to_contain_text("TTFT")
    assert len(answer.locator(".content").inner_text().strip()) > 0
    expect(page.locator("#messages li.user")).to_have_text("You: Tell me about the sea.")


def test_stop_cancels_the_generation_on_the_server(page: Page, stack: Stack) -> None:
    _open(page)
    _settings(page, 4000)
    _send(page, "Write a very long story about a lighthouse keeper, with many chapters.")
    page.wait_for_function("""() => {
        const li = [...document.querySelectorAll('#messages li.assistant')].pop();
        return li && li.querySelector('.content').textContent.length > 20;
    }""")
    assert _health(stack)["in_flight"] >= 1  # mid-stream
    page.get_by_role("button", name="Stop").click()
    answer = page.locator(ASSISTANT).last
    expect(answer).to_have_attribute("data-done", "true")
    expect(answer.locator(".stats")).to_contain_text("stopped")
    deadline = time.monotonic() + 10
    while _health(stack)["in_flight"] != 0:
        assert time.monotonic() < deadline, "the server kept generating after Stop"
        time.sleep(0.2)
    expect(page.get_by_role("button", name="Send")).to_be_visible()


def test_switching_models_loads_the_chosen_one(page: Page, stack: Stack) -> None:
    _open(page)
    page.get_by_label("Model").select_option(SECOND_MODEL)
    expect(page.locator("#model-state")).to_have_text(f"{SECOND_MODEL} loaded", timeout=120_000)
    assert SECOND_MODEL in _health(stack)["models"]
    _settings(page, 16)
    _send(page, "Hello")
    expect(page.locator(ASSISTANT).last).to_have_attribute("data-done", "true")
    metrics = httpx.get(f"{stack.url}/metrics", timeout=10).text
    assert f'frontier_completion_tokens_total{{model="{SECOND_MODEL}"}}' in metrics
    page.get_by_label("Model").select_option(DEFAULT_MODEL)
    expect(page.locator("#model-state")).to_have_text(f"{DEFAULT_MODEL} loaded", timeout=120_000)


def test_a_reload_finds_the_conversation_and_export_import_carries_it(page: Page, browser: Browser,
                                                                       stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _open(page)
    _settings(page, 16)
    page.get_by_role("button", name="New chat").click()
    _send(page, "Remember the word heliotrope.")
    expect(page.locator(ASSISTANT).last).to_have_attribute("data-done", "true")
    page.reload()
    expect(page.locator("#conversations li[aria-current=true] button.open")).to_have_text(
        "Remember the word heliotrope.")
    expect(page.locator("#messages li.user").last).to_contain_text("heliotrope")
    answer = page.locator(ASSISTANT).last.locator(".content").inner_text()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    exported = tmp_path / "export.json"
    download.value.save_as(exported)
    saved = json.loads(exported.read_text())
    assert any(m["content"] == "Remember the word heliotrope." for c in saved["conversations"] for m in c["messages"])

    other = browser.new_context(base_url=stack.url)  # another browser profile: nothing stored yet but the key
    other.add_init_script(f"localStorage.setItem('frontier.apiKey', {stack.key!r});")
    try:
        fresh = other.new_page()
        fresh.goto("/ui")
        expect(fresh.locator("#conversations li")).to_have_count(0)
        fresh.set_input_files("#import", str(exported))
        fresh.locator("#conversations li button.open", has_text="heliotrope").first.click()
        expect(fresh.locator("#messages li.assistant").last.locator(".content")).to_have_text(answer)
    finally:
        other.close()


def test_a_wrong_api_key_shows_the_error_and_the_right_one_recovers(bare_page: Page, stack: Stack) -> None:
    page = bare_page
    page.goto("/ui")
    expect(page.get_by_role("alert")).to_contain_text("needs an API key")
    expect(page.get_by_role("dialog")).to_be_visible()  # asked for at once, the first time
    page.get_by_label("Key", exact=True).fill("sk-wrong")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("The API key was refused")
    page.get_by_role("button", name="API key").click()
    page.get_by_label("Key", exact=True).fill(stack.key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.locator("#model option")).not_to_have_count(0)


def test_a_server_that_stopped_answering_is_named_as_such(browser: Browser, start_server) -> None:  # type: ignore[no-untyped-def]
    # A server with no model starts in a second; the page loads from it, then the process is stopped.
    server = start_server({"MISTRAL_MODEL_ID": "no-such-model.gguf"}, wait=False)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/ui", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.3)
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/ui")
        server.stop()
        _send(page, "Anyone there?")
        expect(page.locator("#messages li.error")).to_contain_text("not answering: is Frontier running?")
    finally:
        context.close()


def test_markdown_renders_code_and_never_markup_from_the_model(page: Page) -> None:
    _open(page)
    html = page.evaluate("""() => Markdown.render(
        "# Title\\nSome **bold** and `code`.\\n\\n```python\\nprint('<b>')\\n```\\n- one\\n- two\\n"
        + "<img src=x onerror=alert(1)> [link](javascript:alert(1)) [ok](https://example.org)")""")
    assert '<pre><code class="language-python">print(&#39;&lt;b&gt;&#39;)</code></pre>' in html
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html and 'href="https://example.org"' in html


def test_reasoning_is_shown_folded(page: Page) -> None:
    _open(page)
    # The page's own rendering of a stored answer that thought first (as a thinking model streams it).
    page.evaluate("""() => {
        localStorage.setItem('frontier.conversations', JSON.stringify([{id: 'think', title: 'Thinking',
            messages: [{role: 'user', content: 'Why?'},
                       {role: 'assistant', content: 'Because.', reasoning: 'Let me think about it.'}]}]));
        localStorage.setItem('frontier.current', 'think');
    }""")
    page.reload()
    reasoning = page.locator("#messages details.reasoning")
    expect(reasoning).to_have_count(1)
    assert reasoning.get_attribute("open") is None  # folded
    expect(reasoning.locator("summary")).to_have_text("Reasoning")
    expect(page.locator(ASSISTANT).last.locator(".content")).to_have_text("Because.")


def test_every_control_has_a_label_and_the_keyboard_reaches_it(page: Page) -> None:
    _open(page)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !(el.textContent || '').trim() && el.id !== 'import')
        .map(el => el.id || el.outerHTML)""")
    assert unnamed == []
    for _ in range(20):  # Tab order reaches the message box; Enter there sends
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "message":
            break
    assert page.evaluate("document.activeElement.id") == "message"


def test_a_narrow_window_has_no_sideways_scroll(page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    _open(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_visible()


def test_the_stack_page_shows_models_load_and_throughput(page: Page, stack: Stack) -> None:
    page.goto("/ui/stack")
    expect(page.locator("#models tr", has_text=DEFAULT_MODEL)).to_have_count(1)
    expect(page.locator("#status")).to_have_text("ok")
    expect(page.locator("#in-flight")).to_have_text("0")
    httpx.post(f"{stack.url}/v1/chat/completions", timeout=120, headers={"Authorization": f"Bearer {stack.key}"},
               json={"model": DEFAULT_MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": "Hi"}]})
    page.wait_for_function("() => parseFloat(document.getElementById('throughput').textContent) > 0")
    expect(page.locator("#ttft")).to_contain_text("ms")
    expect(page.locator("#requests")).not_to_have_text("0")  # generations only, not the page's own polling
