"""The retrieval service (``liftoff.retrieval.main:app``): question answering over your own
documents, exposed as OpenAI-compatible ``rag:<collection>`` models.

Documents are split into chunks (``chunking``), embedded through the gateway
(``gateway``) and kept in a store (``store``: SQLite + sqlite-vec, or Postgres + pgvector).
A question is rewritten into a search query, the nearest chunks are retrieved, and the
gateway answers from them with citations (``chain``).
"""
