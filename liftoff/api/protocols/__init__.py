"""The wire protocols the gateway speaks: OpenAI, Ollama, Vertex AI, and health."""
