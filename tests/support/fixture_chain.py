"""The stigmer-server double that knows the Go-workflow double's fixtures.

The fixtures' executions name a session and an agent; the server resolves them through one
agent instance to one agent, as stigmer-server would. One place for those ids, so every
suite (integration, smoke, faults, the fleet benchmark) serves the same chain.
"""

from __future__ import annotations

from typing import Any

from tests.support import stigmer_workflow as go_workflow
from tests.support.stigmer_server import StigmerServer

_SPEC = go_workflow.load_execution("execution_with_session")["spec"]
SESSION_ID: str = str(_SPEC["sessionId"])
AGENT_ID: str = str(_SPEC["agentId"])
AGENT_INSTANCE_ID = "ain-01kfx8p0b2d4f6h8k0m2p4r6t8"
INSTRUCTIONS = "You are a careful assistant that writes the files it is asked for."


def chain_server(*, instructions: str = INSTRUCTIONS, **options: Any) -> StigmerServer:
    """A StigmerServer (not started) serving session -> agent instance -> agent."""
    return StigmerServer(
        sessions={SESSION_ID: {"agent_instance_id": AGENT_INSTANCE_ID}},
        agent_instances={AGENT_INSTANCE_ID: {"agent_id": AGENT_ID}},
        agents={AGENT_ID: {"name": "file-writer", "instructions": instructions}},
        **options,
    )
