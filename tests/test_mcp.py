"""`lightmem mcp`, spoken to with the MCP SDK's own client: over stdio (the real command in a subprocess,
scope fixed by the operator) and over streamable HTTP (the app on uvicorn on 127.0.0.1, scope from the
tool arguments)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="lightmem mcp needs the [mcp] extra (Python >= 3.10)")

import uvicorn  # noqa: E402
from fakes import HashEmbedder  # noqa: E402
from lightmem import cli  # noqa: E402
from lightmem.mem0 import Memory as Mem0Memory  # noqa: E402
from lightmem.service.mcp_server import build_server, http_app  # noqa: E402
from lightmem.service.serve import bind, uvicorn_config  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

TOOLS = ["add_memory", "delete_memory", "get_memories", "search_memories", "update_memory"]


async def call(client: Any, tool: str, **arguments: Any) -> Any:
    """The structured answer of a tool call; AssertionError with the message if the tool failed."""
    answer = await client.call_tool(tool, arguments)
    assert not answer.is_error, answer.content
    return answer.structured_content


async def failure(client: Any, tool: str, **arguments: Any) -> str:
    answer = await client.call_tool(tool, arguments)
    assert answer.is_error
    return str(answer.content[0].text)


def test_stdio_with_the_operators_scope(tmp_path: Path) -> None:
    command = ["-m", "lightmem.cli", "mcp", "--path", str(tmp_path / "m"), "--user", "alice"]

    async def session() -> None:
        async with mcp.Client(StdioServerParameters(command=sys.executable, args=command)) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert sorted(tools) == TOOLS
            for tool in tools.values():
                assert "Use it" in (tool.description or "") or "Use " in (tool.description or "")
                assert not {"user_id", "agent_id", "run_id"} & set(tool.input_schema["properties"])
            added = await call(client, "add_memory", text="Maya is allergic to peanuts.")
            memory_id = added["results"][0]["id"]
            hits = (await call(client, "search_memories", query="what is Maya allergic to?"))["results"]
            assert hits[0]["id"] == memory_id and hits[0]["user_id"] == "alice"
            await call(client, "update_memory", memory_id=memory_id, text="Maya is allergic to cashews.")
            listed = (await call(client, "get_memories"))["results"]
            assert [m["memory"] for m in listed] == ["Maya is allergic to cashews."]
            assert "scope is fixed" in await failure(client, "get_memories", user_id="bob")
            assert "no memory with id 'nope'" in await failure(client, "delete_memory", memory_id="nope")
            long_id = await failure(client, "delete_memory", memory_id="q" * 60_000)  # was told in full
            assert f"{'q' * 80!r}… (60,000 characters)" in long_id and len(long_id) < 300
            assert "Input should be a valid string" in await failure(
                client, "add_memory", text=5
            )  # the SDK's
            await call(client, "delete_memory", memory_id=memory_id)
            assert (await call(client, "get_memories"))["results"] == []

    asyncio.run(session())


@pytest.fixture
def mcp_over_http(tmp_path: Path) -> Iterator[str]:
    """`lightmem mcp --http`'s app on uvicorn in a thread, scope from the tool arguments; its URL."""
    memory = Mem0Memory(path=str(tmp_path / "m"), embedder=HashEmbedder())
    sock = bind("127.0.0.1", 0)
    app = http_app(build_server(memory), "127.0.0.1")
    server = uvicorn.Server(uvicorn_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    server.should_exit = True
    thread.join(timeout=30)
    memory.close()


def test_streamable_http_with_the_scope_in_each_call(mcp_over_http: str) -> None:
    async def session() -> None:
        async with mcp.Client(mcp_over_http) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert sorted(tools) == TOOLS
            assert "user_id" in tools["search_memories"].input_schema["properties"]
            assert "Always pass user_id" in (tools["add_memory"].description or "")
            await call(client, "add_memory", text="Tom runs the Paris marathon.", user_id="tom")
            await call(client, "add_memory", text="Lena's PIN is 1234.", user_id="lena")
            hits = (await call(client, "search_memories", query="Lena's PIN, the marathon", user_id="tom"))[
                "results"
            ]
            assert [h["memory"] for h in hits] == ["Tom runs the Paris marathon."]
            lena = (await call(client, "get_memories", user_id="lena"))["results"][0]["id"]
            assert "no memory with id" in await failure(
                client, "delete_memory", memory_id=lena, user_id="tom"
            )
            assert "give user_id" in await failure(client, "search_memories", query="PIN")

    asyncio.run(session())


def test_a_tool_that_stores_nothing_or_is_refused_says_so_in_its_own_terms(mcp_over_http: str) -> None:
    """add_memory of a blank text answered success with no memory (the model believed it stored), and a
    bad `limit` was reported as `top_k`, an argument the tools do not have."""

    async def session() -> None:
        async with mcp.Client(mcp_over_http) as client:
            for blank in ("", " \n\t", "\u200b"):
                said = await failure(client, "add_memory", text=blank, user_id="tom")
                assert "text must show some text" in said
            assert (await call(client, "get_memories", user_id="tom"))["results"] == []
            for tool, arguments in (("search_memories", {"query": "x"}), ("get_memories", {})):
                said = await failure(client, tool, **arguments, limit=-1, user_id="tom")
                assert "limit must be an integer from 0 to 1,000,000, got -1" in said and "top_k" not in said

    asyncio.run(session())


def test_mcp_over_http_refuses_requests_relayed_by_a_proxy(mcp_over_http: str) -> None:
    """It has no authentication; a reverse proxy on this machine (nginx's `proxy_pass` sends Host
    127.0.0.1:PORT, which the SDK's rebinding check accepts) let anyone call the tools."""
    import httpx

    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    for name in ("X-Forwarded-For", "X-Real-IP", "Forwarded", "Via"):
        answer = httpx.post(mcp_over_http, json=initialize, headers={**accept, name: "203.0.113.7"})
        assert answer.status_code == 403, (name, answer.text)
        assert f"came through a proxy (its {name.lower()} header)" in answer.json()["detail"]
    assert httpx.post(mcp_over_http, json=initialize, headers=accept).status_code != 403


def test_mcp_over_http_binds_this_machine_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["mcp", "--http", "--host", "0.0.0.0", "--path", str(tmp_path / "m")]) == 2
    assert "refusing to serve on 0.0.0.0" in capsys.readouterr().err


def test_mcp_over_http_binds_only_hosts_the_sdk_guards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """127.0.0.2 is this machine too, but the SDK's DNS-rebinding check is off there: a web page could
    rebind its name to it and call the tools."""
    assert cli.main(["mcp", "--http", "--host", "127.0.0.2", "--path", str(tmp_path / "m")]) == 2
    assert "refusing to serve MCP on 127.0.0.2" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
