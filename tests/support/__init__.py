"""Reusable test helpers (fake Ollama, test Stigmer workflow, Temporal dev server)."""
