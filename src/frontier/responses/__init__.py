"""The OpenAI Responses API (`/v1/responses`, what Codex speaks): typed wire models, pure translations to and
from the Engine protocol's types, stored responses for `previous_response_id`, thin routes."""
