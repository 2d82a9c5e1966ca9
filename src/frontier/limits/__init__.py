"""Limits, admission and draining, shared by the server and the Ollama API.

    policy      the configured limits (`Limits`) and the pure checks on a request's size
    admission   the bounded wait for an engine slot, in front of any Engine (`LimitedEngine`)
    body        the request-body size limit, as ASGI middleware (`BodyLimitMiddleware`)
    drain       SIGTERM: finish in-flight requests, refuse new ones, then exit (`Drain`, `DrainingServer`)
"""

from frontier.limits.admission import Admission, LimitedEngine
from frontier.limits.body import BodyLimitMiddleware
from frontier.limits.drain import Drain, DrainingServer, DrainMiddleware
from frontier.limits.policy import Limits

__all__ = [
    "Admission",
    "BodyLimitMiddleware",
    "Drain",
    "DrainMiddleware",
    "DrainingServer",
    "LimitedEngine",
    "Limits",
]
