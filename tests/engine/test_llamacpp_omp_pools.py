"""The llama.cpp engine keeps one OpenMP worker pool per loaded context (omp.py): its decodes, the template
opening's warm-up included, run on the scheduler thread, and an embedding request's encode on a thread that
ends with it. A second pool that outlives its work makes libgomp cut every barrier's spin once the process holds
more OpenMP threads than cores, and the decodes slow (docs/performance-tuning.md).

Counted in a fresh interpreter (this test process has many contexts of its own): the threads that are not
Python's and were not there before the engine loaded must be exactly the scheduler's one worker (2 threads)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import DEFAULT_MODEL, MODELS, REPO

SCRIPT = textwrap.dedent("""
    import asyncio, os, sys, threading, time
    os.environ.update(MISTRAL_MODELS_PATH=sys.argv[1], MISTRAL_MODEL_ID=sys.argv[2], MISTRAL_THREADS="2",
                      MISTRAL_ADAPTIVE_THREADS="false")
    from frontier.config import Settings
    from frontier.engine.device import DeviceChoice
    from frontier.engine.llamacpp import native
    from frontier.engine.llamacpp.engine import LlamaCppEngine
    from frontier.engine.protocol import EmbeddingRequest, GenerationRequest, SamplingParams
    from frontier.models.registry import configured_spec

    def native_threads():
        python = {t.native_id for t in threading.enumerate()}
        return {int(t) for t in os.listdir("/proc/self/task")} - python

    native._lib()
    before = native_threads()  # OpenBLAS's and the like, started at import

    async def chat(engine):
        request = GenerationRequest(model=engine.info.id, messages=[{"role": "user", "content": "Count to five."}],
                                    params=SamplingParams(temperature=0, max_tokens=12))
        return "".join([d.text async for d in engine.generate(request)])

    async def main():
        settings = Settings()
        engine = LlamaCppEngine(settings, DeviceChoice("cpu", "test"), configured_spec(settings))
        await engine.load()
        first = await chat(engine)
        for _ in range(3):
            got = await engine.embed(EmbeddingRequest(model=engine.info.id, inputs=["a guitar", "the sea"]))
            assert len(got.vectors) == 2
        second = await chat(engine)
        assert first and first == second, (first, second)
        for _ in range(40):  # an ended thread's pool workers leave a moment after it
            extra = native_threads() - before
            if len(extra) <= 1:
                break
            time.sleep(0.05)
        print("extra", len(extra))
        await engine.close()

    asyncio.run(main())
""")


def test_decodes_and_embeddings_leave_one_openmp_pool() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(MODELS), DEFAULT_MODEL], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "extra 1" in run.stdout.splitlines(), run.stdout  # the scheduler's one OpenMP worker, no more
