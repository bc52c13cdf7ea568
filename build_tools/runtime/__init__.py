"""Run the agent-runner image locally the way the Stigmer CLI does (`agent-runner-local`)."""
