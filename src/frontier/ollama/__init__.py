"""The Ollama-compatible API (`frontier proxy`): Ollama's API on OLLAMA_API_PORT in front of any
OpenAI-compatible upstream.

    wire        Ollama request bodies (pydantic)
    options     Ollama `options` -> OpenAI sampling fields
    names       model names: normalisation, the name map, resolution both ways
    translate   Ollama requests -> OpenAI requests (pure)
    responses   OpenAI answers and stream chunks -> Ollama objects and NDJSON lines (pure)
    context     `num_ctx` as a context budget (pure)
    metadata    what /api/tags, /api/show and /api/ps say about a served model
    clock       RFC3339 stamps, nanosecond durations, keep_alive
    upstream    the pooled aiohttp session and its two fault types
    api         the capability itself, HTTP-free
    streaming   NDJSON responses and cancellation when the client leaves
    app         HTTP glue: routes, body reading, error rendering (`create_app`)
    check_aider `frontier check aider`
"""
