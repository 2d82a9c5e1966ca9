"""Routes of the browser pages. The pages hold no data: they call the API from the browser with the key the
person enters, so they are open even when FRONTIER_API_KEY is set (the key check skips UI_OPEN_PREFIX)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

UI_OPEN_PREFIX = "/ui"

# Only the files listed here are served: a request names one of them, never a path on disk.
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_PAGES = {"": "chat.html", "stack": "stack.html"}
# Scripts and styles from this server only, no inline code, no framing: a model's answer rendered as markdown
# cannot run script even if the renderer let markup through.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _files() -> dict[str, bytes]:
    folder = resources.files("frontier.ui") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and "." + f.name.rsplit(".", 1)[-1]
            in _TYPES}


def _response(files: dict[str, bytes], name: str) -> Response:
    if name not in files:
        raise HTTPException(404, f"no UI file {name!r}")
    suffix = "." + name.rsplit(".", 1)[-1]
    return Response(files[name], media_type=_TYPES[suffix], headers=_HEADERS)


def build_ui_router() -> APIRouter:
    files = _files()  # read once: a few small files
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])  # HEAD: clients probe the root before they start
    async def root() -> RedirectResponse:
        return RedirectResponse(UI_OPEN_PREFIX)

    @router.get(UI_OPEN_PREFIX)
    async def chat() -> Response:
        return _response(files, _PAGES[""])

    @router.get(UI_OPEN_PREFIX + "/stack")
    async def stack() -> Response:
        return _response(files, _PAGES["stack"])

    @router.get(UI_OPEN_PREFIX + "/static/{name}")
    async def static(name: str) -> Response:
        return _response(files, name)

    return router
