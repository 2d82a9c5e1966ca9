"""Who may reach what: the optional API key, CORS, and the warning for a server bound beyond loopback.

Both services (the OpenAI server and the Ollama API) install the same policy, each rendering a refusal in
its own dialect; the CLI sends the key through `auth_headers`. docs/security.md states the threat model.
"""

from frontier.security.auth import ApiKeyMiddleware, auth_headers, bearer_token, key_matches
from frontier.security.binding import exposure_warning, is_loopback_host
from frontier.security.policy import SecurityPolicy, install_cors, install_key_check

__all__ = [
    "ApiKeyMiddleware",
    "SecurityPolicy",
    "auth_headers",
    "bearer_token",
    "exposure_warning",
    "install_cors",
    "install_key_check",
    "is_loopback_host",
    "key_matches",
]
