"""agent-runtime: a validated tool-calling agent runtime for open models served by vLLM."""
