"""agent-runner: Temporal worker executing Stigmer AI agents."""

__version__ = "0.1.0"
