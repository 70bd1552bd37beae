"""Benchmarks of the generation gateway; ``python -m benchmarks`` (``make bench``) runs them all.

- ``gateway_overhead``: the gateway in front of a fast canned OpenAI-compatible backend
  against that backend called directly: added latency, time-to-first-token overhead,
  throughput at 1, 16 and 64 streams, and the gateway's peak RSS.
- ``embedded_throughput``: tokens/s of the embedded Gemma 3 270M through the gateway
  against the llama.cpp engine called in-process.

Results go to ``benchmarks/results/*.json`` and a Markdown table, ``benchmarks/results/gateway.md``.
"""
