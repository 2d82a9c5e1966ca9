"""Pid files, port checks and the status formatting, without a stack."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil

from frontier.config import Settings
from frontier.service.ports import PortOwner, conflict_message, port_free, port_owner
from frontier.service.services import service_specs
from frontier.service.state import PidRecord, StateDir, process_of
from frontier.service.status import format_uptime


def test_pid_record_round_trips_and_names_this_live_process(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    me = psutil.Process()
    record = PidRecord(me.pid, me.create_time(), ["frontier", "serve"], "http://127.0.0.1:1")
    state.write("server", record)
    assert state.read("server") == record
    found = process_of(record)
    assert found is not None and found.pid == os.getpid()
    state.remove("server")
    assert state.read("server") is None


def test_unreadable_pid_file_reads_as_none(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.pid_file("proxy").write_text("not json")
    assert state.read("proxy") is None


def test_listening_port_is_taken_and_its_owner_is_this_process() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        owner = port_owner(port)
    assert owner.pid == os.getpid() and "python" in owner.describe().lower()
    assert port_free("127.0.0.1", port)


def test_conflict_message_names_variable_holder_and_a_fix() -> None:
    text = conflict_message("OLLAMA_API_PORT", "127.0.0.1", 11434, PortOwner(42, "ollama", "ollama serve"))
    assert text.startswith("OLLAMA_API_PORT=11434 is taken on 127.0.0.1: held by pid 42 (ollama serve)")
    assert "OLLAMA_API_PORT=11435" in text
    assert "the OS does not say which" in PortOwner(None).describe()


def test_service_urls_use_loopback_for_wildcard_binds() -> None:
    specs = service_specs(Settings(mistral_host="0.0.0.0", mistral_api_port=9001, ollama_api_port=9002))
    assert [s.url for s in specs] == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    assert [s.name for s in service_specs(Settings(), with_ollama=False)] == ["server"]
    # One process serves both APIs: one command, one pid file.
    both = service_specs(Settings())
    assert {s.process for s in both} == {"server"} and both[0].command == both[1].command
    assert both[0].command[-2:] == ["serve", "--ollama"]


def test_uptime_formatting() -> None:
    assert [format_uptime(x) for x in (None, 5, 125, 7325)] == ["-", "5s", "2m05s", "2h02m"]
