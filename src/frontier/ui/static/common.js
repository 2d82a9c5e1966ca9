// What both pages share: the API key (entered once, kept in this browser), calls to the server that turn
// every failure into one sentence a person can act on, and the alert banner.
"use strict";

const Frontier = (() => {
  const KEY = "frontier.apiKey";

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  function key() { return localStorage.getItem(KEY) || ""; }
  function setKey(value) {
    if (value) localStorage.setItem(KEY, value); else localStorage.removeItem(KEY);
  }
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (key()) h.Authorization = "Bearer " + key();
    return h;
  }

  // The message of an error body in any dialect Frontier speaks (OpenAI's object, Ollama's string).
  function errorText(body, status) {
    if (body && typeof body.error === "string") return body.error;
    if (body && body.error && body.error.message) return body.error.message;
    return "the server answered " + status;
  }

  async function failure(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON: say the status */ }
    if (response.status === 401) {
      const why = key() ? "The API key was refused" : "This server needs an API key";
      return new ApiError(why + " (" + errorText(body, 401) + "). Enter it with the API key button.", 401);
    }
    return new ApiError(errorText(body, response.status), response.status);
  }

  // fetch() that throws ApiError: a refused key, an error body, or a server that does not answer at all.
  async function call(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.headers);
    let response;
    try {
      response = await fetch(path, opts);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("The server at " + location.host + " is not answering: is Frontier running?", 0);
    }
    if (!response.ok) throw await failure(response);
    return response;
  }

  async function json(path, options) { return (await call(path, options)).json(); }

  function showAlert(message) {
    const el = document.getElementById("alert");
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  // The key dialog: opened by the API key button, and by any 401.
  function askKey(onSaved) {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    input.value = key();
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "save") {
        setKey(input.value.trim());
        if (onSaved) onSaved();
      }
    }, { once: true });
  }

  return { ApiError, key, setKey, call, json, showAlert, askKey };
})();
