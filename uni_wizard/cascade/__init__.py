"""The model cascade: local-first providers (Ollama, OpenAI-compatible) behind pybreaker breakers, tenacity
retries for transient errors only, streaming with honest failover, metrics; and the clients built on it."""
