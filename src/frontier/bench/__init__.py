"""`frontier bench`: a load generator and report for any OpenAI- or Ollama-compatible endpoint.

Modules: `record` (what one request measured), `stats` (pure percentiles and per-level aggregates),
`workload` (seeded synthetic prompts of an exact token length), `clients` (one streaming client per API),
`runner` (concurrency sweep, warm-up, multi-turn, interleaved comparison), `report` (table, JSON, ratios),
`chart` (PNG), `perf_check` (platform facts and tuning recommendations).
"""
