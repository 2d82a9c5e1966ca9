"""The browser pages: a chat page (`/ui`) and a page for the running stack (`/ui/stack`), served from the
package with no build step and nothing fetched from elsewhere (the machine may be offline)."""

from frontier.ui.routes import UI_OPEN_PREFIX, build_ui_router

__all__ = ["UI_OPEN_PREFIX", "build_ui_router"]
