#!/usr/bin/env bash
# Builds lightmem into a local venv (once) and runs the offline demo: ingest a small conversation,
# search it, print the memories found and what it cost.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LIGHTMEM_DEMO_VENV:-.demo-venv}"
if [ ! -x "$venv/bin/lightmem" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q -U pip "maturin>=1.5,<2"
  "$venv/bin/maturin" build --release --quiet --out "$venv/dist"
  "$venv/bin/python" -m pip install -q "$venv"/dist/lightmem_rs-*.whl
fi
exec "$venv/bin/lightmem" demo "$@"
