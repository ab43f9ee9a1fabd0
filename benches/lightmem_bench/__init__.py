"""Benchmarks of lightmem, a package of their own (`lightmem-bench`, installed from the repository's
benches/ folder) so that the runtime wheel ships none of them: the LoCoMo harness
(`lightmem_bench.locomo`, run as `lightmem-bench locomo`), its baselines and metrics, and a
deterministic OpenAI-compatible mock server for offline runs of the real-LLM code paths."""
