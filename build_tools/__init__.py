"""Build, test and release toolchain for the agent-runner container image."""
