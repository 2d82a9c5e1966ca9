"""Is a port free to listen on, and if not, who holds it (when the OS tells)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class PortOwner:
    pid: int | None  # None when the OS does not say (another user's process without privileges)
    name: str = ""
    cmdline: str = ""

    def describe(self) -> str:
        if self.pid is None:
            return "another process (the OS does not say which; try `ss -ltnp` or `lsof -i` as root)"
        who = self.cmdline or self.name or "?"
        return f"pid {self.pid} ({who})"


def port_free(host: str, port: int) -> bool:
    """Whether a server could bind host:port now. SO_REUSEADDR as uvicorn sets it, so a port with only
    TIME_WAIT connections left counts as free, exactly as it is for the server that will bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_owner(port: int) -> PortOwner:
    """The process listening on `port`, as far as the OS tells this user."""
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return PortOwner(None)
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return PortOwner(None)
            try:
                proc = psutil.Process(conn.pid)
                return PortOwner(conn.pid, proc.name(), " ".join(proc.cmdline())[:200])
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return PortOwner(conn.pid)
    return PortOwner(None)


def conflict_message(variable: str, host: str, port: int, owner: PortOwner) -> str:
    return (
        f"{variable}={port} is taken on {host}: held by {owner.describe()}. "
        f"Stop that process, or choose another port (e.g. {variable}={port + 1} in .env or the environment)."
    )
