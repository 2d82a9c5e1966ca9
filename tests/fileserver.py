"""A real HTTP file server on loopback for download tests, with switches for the faults under test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """A small HTTP/1.0 file server honouring `Range: bytes=N-`, with switches for the faults under test.

    drop_first_after: the first GET sends this many body bytes, then closes the connection.
    ignore_range: answers every GET with 200 and the whole file.
    gate_after: every GET sends this many bytes, sets `reached`, then waits for `gate` before the rest.
    """

    def __init__(self, files: dict[str, bytes], *, drop_first_after: int | None = None,
                 ignore_range: bool = False, gate_after: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.files = files
        self.drop_first_after = drop_first_after
        self.ignore_range = ignore_range
        self.gate_after = gate_after
        self.extra_headers = headers or {}
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests.append((self.path, self.headers.get("Range")))
                    first = len(server.requests) == 1
                data = server.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                range_header = self.headers.get("Range")
                if range_header and not server.ignore_range:
                    start = int(range_header.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                for key, value in server.extra_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    if first and server.drop_first_after is not None:
                        self.wfile.write(body[: server.drop_first_after])
                        return  # HTTP/1.0: returning closes the connection short of Content-Length
                    if server.gate_after is not None:
                        self.wfile.write(body[: server.gate_after])
                        server.reached.set()
                        server.gate.wait(30)
                        body = body[server.gate_after :]
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)
