// The chat page: conversations kept in this browser, answers streamed from /v1/chat/completions, a Stop that
// aborts the request (the server cancels the generation when the client leaves), speed of each answer.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const STORE = "frontier.conversations", CURRENT = "frontier.current", SETTINGS = "frontier.settings";
  const state = { conversations: [], current: null, controller: null, models: [] };

  // --- storage ------------------------------------------------------------------------------------
  function load() {
    try { state.conversations = JSON.parse(localStorage.getItem(STORE) || "[]"); } catch (_) { state.conversations = []; }
    if (!Array.isArray(state.conversations)) state.conversations = [];
    state.current = state.conversations.find((c) => c.id === localStorage.getItem(CURRENT)) || null;
    let settings = {};
    try { settings = JSON.parse(localStorage.getItem(SETTINGS) || "{}"); } catch (_) { /* defaults */ }
    for (const [field, id] of [["system", "system"], ["temperature", "temperature"], ["top_p", "top-p"],
                               ["max_tokens", "max-tokens"]]) {
      if (settings[field] !== undefined) $(id).value = settings[field];
    }
  }
  function save() {
    localStorage.setItem(STORE, JSON.stringify(state.conversations));
    if (state.current) localStorage.setItem(CURRENT, state.current.id);
  }
  function saveSettings() {
    localStorage.setItem(SETTINGS, JSON.stringify({ system: $("system").value, temperature: $("temperature").value,
      top_p: $("top-p").value, max_tokens: $("max-tokens").value }));
  }
  function newConversation() {
    const c = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: "New chat",
                model: $("model").value, created: Date.now(), messages: [] };
    state.conversations.unshift(c);
    state.current = c;
    save();
    return c;
  }

  // --- rendering ----------------------------------------------------------------------------------
  function statsText(m) {
    if (!m.stats) return m.stopped ? "stopped" : "";
    const s = m.stats, parts = [s.tokens + " tokens"];
    if (s.tokensPerSecond) parts.push(s.tokensPerSecond.toFixed(1) + " tok/s");
    if (s.ttftMs !== null && s.ttftMs !== undefined) parts.push("TTFT " + Math.round(s.ttftMs) + " ms");
    if (m.stopped) parts.push("stopped");
    return parts.join(" · ");
  }
  function renderMessage(li, m) {
    li.className = "message " + (m.error ? "error" : m.role);
    li.replaceChildren();
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = m.role === "user" ? "You: " : "Assistant: ";
    li.append(who);
    if (m.role === "user") {
      li.append(document.createTextNode(m.content));
      return;
    }
    if (m.reasoning) {
      const details = document.createElement("details");
      details.className = "reasoning";
      const summary = document.createElement("summary");
      summary.textContent = "Reasoning";
      details.append(summary, document.createTextNode(m.reasoning));
      li.append(details);
    }
    const body = document.createElement("div");
    body.className = "content";
    body.innerHTML = Markdown.render(m.content); // escaped by the renderer: only its own tags
    li.append(body);
    if (m.error) {
      const err = document.createElement("p");
      err.textContent = m.error;
      li.append(err);
    }
    const stats = document.createElement("div");
    stats.className = "stats";
    stats.textContent = statsText(m);
    li.append(stats);
  }
  function renderMessages() {
    const list = $("messages");
    list.replaceChildren();
    for (const m of state.current ? state.current.messages : []) {
      const li = document.createElement("li");
      renderMessage(li, m);
      list.append(li);
    }
    list.scrollTop = list.scrollHeight;
  }
  function renderConversations() {
    const list = $("conversations");
    list.replaceChildren();
    for (const c of state.conversations) {
      const li = document.createElement("li");
      li.setAttribute("aria-current", String(c === state.current));
      const open = document.createElement("button");
      open.type = "button"; open.className = "open"; open.textContent = c.title;
      open.addEventListener("click", () => { state.current = c; save(); selectModel(c.model); renderAll(); });
      const del = document.createElement("button");
      del.type = "button"; del.textContent = "×"; del.setAttribute("aria-label", "Delete " + c.title);
      del.addEventListener("click", () => {
        state.conversations = state.conversations.filter((x) => x !== c);
        if (state.current === c) state.current = state.conversations[0] || null;
        save(); renderAll();
      });
      li.append(open, del);
      list.append(li);
    }
  }
  function renderAll() { renderConversations(); renderMessages(); }

  // --- models -------------------------------------------------------------------------------------
  function selectModel(id) {
    if (id && state.models.some((m) => m.id === id)) $("model").value = id;
  }
  async function loadModels() {
    try {
      const body = await Frontier.json("/v1/models");
      state.models = body.data || [];
      const select = $("model"), keep = select.value || (state.current && state.current.model);
      select.replaceChildren();
      for (const m of state.models) {
        const option = document.createElement("option");
        option.value = m.id;
        option.textContent = m.id + (m.loaded ? " (loaded)" : "");
        select.append(option);
      }
      const loaded = state.models.find((m) => m.loaded);
      select.value = keep && state.models.some((m) => m.id === keep) ? keep : (loaded || state.models[0] || {}).id || "";
      if (!state.models.length) $("model-state").textContent = "no models in the models folder";
      Frontier.showAlert("");
    } catch (err) {
      Frontier.showAlert(err.message);
      if (err.status === 401 && !Frontier.key()) Frontier.askKey(loadModels);
    }
  }
  async function onModelChange() {
    const model = $("model").value;
    if (state.current) { state.current.model = model; save(); }
    $("model-state").textContent = "Loading " + model + "…";
    try {
      await Frontier.call("/frontier/models/load", { method: "POST", headers: { "Content-Type": "application/json" },
                                                       body: JSON.stringify({ model }) });
      $("model-state").textContent = model + " loaded";
      loadModels();
    } catch (err) {
      if (err.status === 404) { $("model-state").textContent = ""; return; } // no model management here
      $("model-state").textContent = "";
      Frontier.showAlert("Could not load " + model + ": " + err.message);
    }
  }

  // --- generation ---------------------------------------------------------------------------------
  function requestMessages(conversation) {
    const out = [];
    const system = $("system").value.trim();
    if (system) out.push({ role: "system", content: system });
    for (const m of conversation.messages) {
      if (m.error || (m.role === "assistant" && !m.content)) continue;
      out.push({ role: m.role, content: m.content });
    }
    return out;
  }
  // Models that think inline put it between <think> tags; servers that parse it send reasoning_content.
  function splitThinking(m) {
    const raw = m.raw;
    const open = raw.indexOf("<think>");
    if (open < 0) { m.content = raw; return; }
    const close = raw.indexOf("</think>", open);
    m.reasoning = (m.reasoningField || "") + raw.slice(open + 7, close < 0 ? undefined : close).trim();
    m.content = (raw.slice(0, open) + (close < 0 ? "" : raw.slice(close + 8))).trim();
  }
  function setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
    $("message").setAttribute("aria-busy", String(busy));
  }
  async function* sseEvents(response) {
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
        if (data === "[DONE]") return;
        if (data) yield JSON.parse(data);
      }
    }
  }
  async function send(text) {
    const conversation = state.current || newConversation();
    conversation.model = $("model").value;
    if (conversation.title === "New chat") conversation.title = text.slice(0, 40);
    conversation.messages.push({ role: "user", content: text });
    const body = { model: conversation.model, messages: requestMessages(conversation), stream: true,
                   stream_options: { include_usage: true }, temperature: Number($("temperature").value),
                   top_p: Number($("top-p").value), max_tokens: Number($("max-tokens").value) };
    const m = { role: "assistant", content: "", raw: "", reasoningField: "" };
    conversation.messages.push(m);
    save(); renderAll();
    const li = $("messages").lastElementChild;
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    const started = performance.now();
    let first = null, pieces = 0, usage = null, pending = false;
    const paint = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; renderMessage(li, m); li.parentElement.scrollTop = 1e9; });
    };
    try {
      const response = await Frontier.call("/v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
        signal: controller.signal });
      for await (const chunk of sseEvents(response)) {
        if (chunk.error) throw new Frontier.ApiError(chunk.error.message || String(chunk.error), 500);
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (!delta) continue;
        const thought = delta.reasoning_content || delta.reasoning || "";
        if (delta.content || thought) {
          if (first === null) first = performance.now();
          pieces++;
          m.raw += delta.content || "";
          m.reasoningField += thought;
          m.reasoning = m.reasoningField;
          splitThinking(m);
          paint();
        }
      }
    } catch (err) {
      if (err.name === "AbortError") m.stopped = true;
      else {
        m.error = err.message;
        if (err.status === 401) Frontier.showAlert(err.message);
      }
    } finally {
      const ended = performance.now();
      const tokens = usage ? usage.completion_tokens : pieces;
      const decodeSeconds = first === null ? 0 : (ended - first) / 1000;
      m.stats = first === null ? null : { tokens, ttftMs: first - started,
        tokensPerSecond: decodeSeconds > 0 && tokens > 1 ? (tokens - 1) / decodeSeconds : null };
      delete m.raw; delete m.reasoningField;
      state.controller = null;
      setBusy(false);
      save();
      renderMessage(li, m);
      li.dataset.done = "true";
      $("message").focus();
    }
  }
  function stop() { if (state.controller) state.controller.abort(); }

  // --- export / import ----------------------------------------------------------------------------
  function exportAll() {
    const blob = new Blob([JSON.stringify({ version: 1, conversations: state.conversations }, null, 2)],
                          { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "frontier-conversations.json";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  async function importFile(file) {
    try {
      const parsed = JSON.parse(await file.text());
      const list = Array.isArray(parsed) ? parsed : parsed.conversations;
      if (!Array.isArray(list)) throw new Error("no conversations in it");
      const known = new Set(state.conversations.map((c) => c.id));
      let added = 0;
      for (const c of list) {
        if (!c || !Array.isArray(c.messages)) continue;
        const messages = c.messages.filter((m) => m && (m.role === "user" || m.role === "assistant")
                                                   && typeof m.content === "string");
        const id = c.id && !known.has(c.id) ? String(c.id) : "c" + Math.random().toString(36).slice(2, 10);
        known.add(id);
        state.conversations.push({ id, title: String(c.title || "Imported chat"), model: String(c.model || ""),
                                   created: Number(c.created) || Date.now(), messages });
        added++;
      }
      save(); renderAll();
      Frontier.showAlert(added ? "" : "That file holds no conversations.");
    } catch (err) {
      Frontier.showAlert("Could not import " + file.name + ": " + err.message);
    }
  }

  // --- wiring -------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    load();
    renderAll();
    loadModels();
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("message").value.trim();
      if (!text || state.controller) return;
      $("message").value = "";
      send(text);
    });
    $("message").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
    });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.controller) stop(); });
    $("stop").addEventListener("click", stop);
    $("new-chat").addEventListener("click", () => { newConversation(); renderAll(); $("message").focus(); });
    $("model").addEventListener("change", onModelChange);
    $("key-button").addEventListener("click", () => Frontier.askKey(loadModels));
    $("export").addEventListener("click", exportAll);
    $("import").addEventListener("change", (e) => { if (e.target.files[0]) importFile(e.target.files[0]); e.target.value = ""; });
    for (const id of ["system", "temperature", "top-p", "max-tokens"]) $(id).addEventListener("change", saveSettings);
  });
})();
