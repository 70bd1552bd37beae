"""The chat UI: Chainlit over the gateway's models and the retrieval collections.

A service of its own (``liftoff.ui.main:app``, port 8003 locally), talking to the gateway
and, when configured, the retrieval service over HTTP with the ``openai`` SDK; keys stay on
the server. ``config`` (settings), ``sources`` (the servers and their models),
``conversation`` (settings checks, history, the streamed answer), ``citations``, ``errors``
(what a person reads when a server is down or refuses), ``chat`` (Chainlit's callbacks) and
``main`` (the ASGI app, health checks, the same-origin rule).
"""
