"""`frontier bench`: a load generator and report for any OpenAI- or Ollama-compatible endpoint.

Modules: `record` (what one request measured), `stats` (pure percentiles and per-level aggregates),
`workload` (seeded synthetic prompts of an exact token length), `clients` (one streaming client per API),
`runner` (concurrency sweep, warm-up, multi-turn, interleaved comparison), `report` (table, JSON, ratios),
`chart` (PNG). (`frontier perf-check`, the machine diagnosis, is `frontier.engine.perf_check`: it reads the
engine's own device and setting choices.)
"""
