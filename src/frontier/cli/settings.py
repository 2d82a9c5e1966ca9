"""The settings a command runs with: an invalid environment is one clear line and exit status 2, the same from
every command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from frontier.config import Settings


def settings_or_exit() -> Settings:
    from frontier.config import load_settings  # imported here: some commands keep their start-up light
    from frontier.errors import ConfigError

    try:
        return load_settings()
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]error[/red]: {escape(str(exc))}")
        raise typer.Exit(2) from None
