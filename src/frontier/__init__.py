"""Frontier: a self-hosted LLM serving stack on mistral.rs with OpenAI and Ollama APIs."""

__version__ = "0.1.0"
