"""Stored responses, for `previous_response_id`, GET and DELETE: one JSON file per response in the state folder
(so they survive a restart), the newest KEEP kept. Ids are checked against their own shape before they name a
file, so no request can reach a path outside the folder."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("frontier.responses")
KEEP = 1000
_ID = re.compile(r"resp_[0-9a-f]{32}")


class ResponseStore:
    """`folder` None keeps them in memory only (an app built without a state folder, in tests)."""

    def __init__(self, folder: Path | None, keep: int = KEEP) -> None:
        self.folder, self.keep = folder, keep
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._order: list[Path] = []  # stored files, oldest first: read from disk once, then kept in step
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self._order = sorted(folder.glob("resp_*.json"), key=lambda f: f.stat().st_mtime_ns)

    def _path(self, rid: str) -> Path | None:
        if not _ID.fullmatch(rid) or self.folder is None:
            return None
        return self.folder / f"{rid}.json"

    def put(self, rid: str, record: dict[str, Any]) -> None:
        """record: {"response": the response object, "conversation": every turn, as engine message dicts}."""
        with self._lock:
            path = self._path(rid)
            if path is None:
                self._memory[rid] = record
                while len(self._memory) > self.keep:
                    self._memory.pop(next(iter(self._memory)))
                return
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record))
            os.replace(tmp, path)  # whole or not at all, even if the process dies mid-write
            if path in self._order:
                self._order.remove(path)
            self._order.append(path)
            while len(self._order) > self.keep:
                self._order.pop(0).unlink(missing_ok=True)

    def get(self, rid: str) -> dict[str, Any] | None:
        if self.folder is None:
            return self._memory.get(rid)
        path = self._path(rid)
        if path is None or not path.is_file():
            return None
        try:
            record: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:  # a damaged file is a missing response, not a 500
            log.warning("stored response %s unreadable: %s", rid, exc)
            return None
        return record

    def delete(self, rid: str) -> bool:
        with self._lock:
            if self.folder is None:
                return self._memory.pop(rid, None) is not None
            path = self._path(rid)
            if path is None or not path.is_file():
                return False
            path.unlink()
            if path in self._order:
                self._order.remove(path)
            return True
