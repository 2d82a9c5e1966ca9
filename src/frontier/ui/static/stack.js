// The running stack, every 2 s: /health (status, in flight, queue), /v1/models, and /metrics, whose counters
// give the throughput of the last 10 s (the difference of two samples, as Prometheus' rate() does).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const samples = []; // [time in s, completion tokens so far]

  // Sum of every series of one metric in Prometheus' text format, or of those whose labels pass `keep`.
  function metric(text, name, keep) {
    let total = null;
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== " " && rest[0] !== "{") continue;
      if (keep && !keep(rest)) continue;
      const value = Number(line.trim().split(/\s+/).pop());
      if (!Number.isNaN(value)) total = (total || 0) + value;
    }
    return total;
  }

  function size(bytes) { return bytes ? (bytes / 2 ** 20).toFixed(0) + " MiB" : ""; }

  async function refresh() {
    try {
      const health = await fetch("/health").then((r) => r.json()).catch(() => {
        throw new Frontier.ApiError("The server at " + location.host + " is not answering: is Frontier running?", 0);
      });
      $("status").textContent = health.status + (health.reason ? ": " + health.reason : "");
      $("device").textContent = health.device || "";
      $("in-flight").textContent = health.in_flight;
      $("queued").textContent = health.queued;
      const models = (await Frontier.json("/v1/models")).data || [];
      const rows = models.map((m) => {
        const tr = document.createElement("tr");
        for (const v of [m.id, m.loaded ? "yes" : "no", m.engine || "", m.quantization || "", m.context_length || "",
                         size(m.size_bytes)]) {
          const td = document.createElement("td");
          td.textContent = v;
          tr.append(td);
        }
        return tr;
      });
      $("models").replaceChildren(...rows);
      const text = await (await Frontier.call("/metrics")).text();
      const now = performance.now() / 1000, tokens = metric(text, "frontier_completion_tokens_total") || 0;
      samples.push([now, tokens]);
      while (samples.length > 1 && now - samples[0][0] > 10.5) samples.shift();
      const [t0, n0] = samples[0];
      $("throughput").textContent = now - t0 > 1 ? ((tokens - n0) / (now - t0)).toFixed(1) : "…";
      const ttftSum = metric(text, "frontier_time_to_first_token_seconds_sum");
      const ttftCount = metric(text, "frontier_time_to_first_token_seconds_count");
      $("ttft").textContent = ttftCount ? Math.round((1000 * ttftSum) / ttftCount) + " ms" : "–";
      const threads = metric(text, "frontier_engine_cpu_threads");
      $("threads").textContent = threads === null ? "–" : threads;
      // Requests that named a model: generations, not this page's own polling.
      $("requests").textContent = metric(text, "frontier_requests_total", (labels) => !labels.includes('model="none"')) || 0;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      Frontier.showAlert("");
    } catch (err) {
      Frontier.showAlert(err.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-button").addEventListener("click", () => Frontier.askKey(refresh));
    refresh();
    setInterval(refresh, 2000);
  });
})();
