"""Frontier's domain exceptions. Each API surface renders them once, in its own dialect.

    FrontierError
    ├── ConfigError              invalid setting; stops start-up
    ├── InvalidRequestError      the caller sent something wrong (400)
    │   ├── ContextLengthError   the prompt does not fit the context (400)
    │   └── PayloadTooLargeError the request body is over FRONTIER_MAX_BODY_BYTES (413)
    ├── ModelNotFoundError       no such model (404)
    ├── OverloadedError          queue full (429 on the server, 503 on the Ollama API)
    │   └── DrainingError        shutting down, new requests refused (503)
    ├── EngineError              the engine failed while serving (500 before a stream, error event during one)
    │   ├── EngineUnavailableError  no model loaded / engine down (503)
    │   └── ModelLoadError       a model could not be loaded
    └── DownloadError            a fetch failed
        └── ChecksumError        the bytes did not match the expected digest
"""

from __future__ import annotations


class FrontierError(Exception):
    """Base of every error Frontier raises on purpose."""

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt as it was, without calling __init__ again: subclasses take other arguments than their message,
        # and an error crossing a process (a Ray Serve replica's refusal) must keep its words and fields.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(kind: type[FrontierError], args: tuple[object, ...], state: dict[str, object]) -> FrontierError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(FrontierError):
    pass


class InvalidRequestError(FrontierError):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class ContextLengthError(InvalidRequestError):
    def __init__(self, message: str, param: str | None = "messages", *, prompt_tokens: int = 0,
                 limit: int = 0) -> None:
        super().__init__(message, param=param, code="context_length_exceeded")
        self.prompt_tokens, self.limit = prompt_tokens, limit  # where known: each dialect words it its own way


class PayloadTooLargeError(InvalidRequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large (limit {limit} bytes, FRONTIER_MAX_BODY_BYTES)",
                         code="request_too_large")
        self.limit = limit


class ModelNotFoundError(FrontierError):
    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist")
        self.model = model


class OverloadedError(FrontierError):
    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DrainingError(OverloadedError):
    pass


class EngineError(FrontierError):
    pass


class EngineUnavailableError(EngineError):
    pass


class ModelLoadError(EngineError):
    pass


class DownloadError(FrontierError):
    pass


class ChecksumError(DownloadError):
    pass
