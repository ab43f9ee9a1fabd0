#!/usr/bin/env bash
# Builds the wheel, installs it (not editable) into a fresh venv and runs every check:
# cargo fmt/clippy/test, ruff, the stub check, mypy, pytest against the installed wheel (and the benchmark
# package, benches/, installed beside it), and the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LIGHTMEM_TEST_VENV:-.test-venv}"

rm -rf "$venv" dist
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q -U pip
python -m pip install -q "maturin>=1.5,<2" ziglang ruff mypy

echo "== rust: fmt, clippy, unit tests"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo test --quiet

echo "== python: ruff"
ruff check python tests benches
ruff format --check python tests benches

echo "== build the manylinux2014 wheel (zig links against glibc 2.17) and install it into $venv"
maturin build --release --quiet --zig --compatibility manylinux2014 --out dist
wheel=$(ls dist/lightmem_rs-*.whl)
# [test] brings the postgres extra and pgserver (PostgreSQL 16 + pgvector) for the PostgreSQL store tests
python -m pip install -q "${wheel}[test]"
echo "== install the benchmarks' own package (benches/: lightmem_bench, the lightmem-bench command)"
python -m pip install -q ./benches
python -m mypy.stubtest lightmem._core
python -m mypy python/lightmem benches/lightmem_bench

echo "== pytest against the installed wheel"
# Run from tests/ so that `import lightmem` resolves to site-packages, never to the source tree.
(cd tests && python -m pytest -q -p no:cacheprovider .)

echo "== real LLM, opt-in: runs only where a compiled llama.cpp server is cached (scripts/real_llm.sh)"
bash scripts/real_llm.sh --turns 50 --systems lightmem --no-qa --check

echo "== demo"
lightmem demo --path "$(mktemp -d)/demo-memory" >/dev/null
echo "demo: ok"
