# Frontier on the CPU: the OpenAI-compatible server (default command) and, with `frontier proxy`, the
# Ollama-compatible layer. PyPI's mistralrs wheel is the CPU build of the engine.
#   docker build -t frontier:latest .
#   docker run --rm -p 127.0.0.1:8080:8080 -v "$PWD/models:/models" frontier:latest
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    MISTRAL_MODELS_PATH=/models \
    FRONTIER_STATE_DIR=/tmp/frontier \
    MISTRAL_HOST=0.0.0.0 \
    OLLAMA_API_HOST=0.0.0.0

# A fixed uid, so a bind-mounted models folder can be made writable for it (chown 10001 models/).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin frontier \
    && mkdir -p /models \
    && chown frontier:frontier /models

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && rm -rf /app/src

USER 10001
WORKDIR /home/frontier
EXPOSE 8080 11434
VOLUME ["/models"]

# The server's own /health: 200 only when the model is loaded and the engine answers. A large model loads for
# minutes, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('MISTRAL_API_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]

CMD ["frontier", "serve"]
