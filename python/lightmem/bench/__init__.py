"""Benchmarks of lightmem: the LoCoMo harness (`lightmem.bench.locomo.main`), its baselines and metrics,
and a deterministic OpenAI-compatible mock server for offline runs of the real-LLM code paths."""
