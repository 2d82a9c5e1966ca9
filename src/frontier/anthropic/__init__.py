"""The Anthropic Messages API (`/v1/messages`, what Claude Code speaks): typed wire models, pure translations
to and from the Engine protocol's types, the error shape, and thin routes."""
