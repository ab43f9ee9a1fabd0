"""The options of `lightmem serve` and `lightmem mcp` (argparse only: `lightmem --help` imports this,
never the server stack)."""

from __future__ import annotations

import argparse

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def port_number(text: str) -> int:
    """A TCP port (0: any free one), for argparse: its error names the value (`--port 99999` was an
    OverflowError traceback from the socket)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text!r}")
    return port


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """`lightmem serve`'s options."""
    parser.description = (
        "mem0's REST API over the memory at --path, with flush, consolidate, stats, /health, /ready and "
        "/openapi.json. Needs `pip install 'lightmem-rs[server]'`. (--user and --json are not used.)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument(
        "--keys",
        metavar="FILE",
        help="the API keys (JSON, by SHA-256); without: no auth, and 127.0.0.1 only (default $LIGHTMEM_KEYS)",
    )
    parser.add_argument("--threads", type=int, default=8, help="worker threads for memory calls (default 8)")
    parser.add_argument(
        "--new-key", action="store_true", help="print a new API key and its sha256, then exit"
    )


def add_mcp_arguments(parser: argparse.ArgumentParser) -> None:
    """`lightmem mcp`'s options (with the global --user: the fixed scope, if any)."""
    parser.description = (
        "An MCP server over the memory at --path: add_memory, search_memories, get_memories, "
        "update_memory, delete_memory. --user (and --agent, --run) fix the scope of every call; without "
        "them each call names its user_id. Needs `pip install 'lightmem-rs[mcp]'` (Python >= 3.10)."
    )
    parser.add_argument("--agent", metavar="AGENT", help="agent id of the fixed scope")
    parser.add_argument("--run", metavar="RUN", help="run id of the fixed scope")
    parser.add_argument(
        "--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"with --http: address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"with --http: port (default {DEFAULT_PORT})"
    )
