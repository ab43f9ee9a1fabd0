"""`lightmem serve`, for real: the app on uvicorn on 127.0.0.1 (in a thread, or `lightmem serve` in a
subprocess), spoken to with httpx. mem0's routes and payloads, API keys that confine each caller to its
scopes, hostile requests, a SIGTERM in the middle of a load, and a short version of the load bench."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="lightmem serve needs the [server] extra")
pytest.importorskip("uvicorn", reason="lightmem serve needs the [server] extra")
httpx = pytest.importorskip("httpx", reason="the HTTP tests speak httpx (the [test] extra)")

import uvicorn  # noqa: E402
from crash_worker import message_id_counts  # noqa: E402
from fakes import HashEmbedder, LLMServer, Reply  # noqa: E402
from lightmem import cli  # noqa: E402
from lightmem.limits import ECHO_CHARS, MAX_MESSAGE_CHARS  # noqa: E402
from lightmem.memory import Memory  # noqa: E402
from lightmem.service.http_api import Service, create_app  # noqa: E402
from lightmem.service.keys import KeyRing, key_digest, new_key  # noqa: E402
from lightmem.service.openapi import openapi_document  # noqa: E402
from lightmem.service.requests import MAX_BODY_BYTES  # noqa: E402
from lightmem.service.serve import bind, open_memory, uvicorn_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
from bench_service import lost_messages, run_load, user_keys, wait_for_url  # noqa: E402

KEYS = {name: new_key() for name in ("alice", "bob", "team", "bot", "admin")}
GRANTS: dict[str, dict[str, Any]] = {
    "alice": {"scopes": [{"user_id": "alice"}]},
    "bob": {"scopes": [{"user_id": "bob"}]},
    "team": {"scopes": [{"user_id": "carol"}, {"user_id": "dave"}]},
    "bot": {"scopes": [{"agent_id": "bot"}]},
    "admin": {"admin": True},
}


def keys_document(keys: dict[str, str]) -> dict[str, Any]:
    return {"keys": [{"name": n, "sha256": key_digest(k), **GRANTS.get(n, {})} for n, k in keys.items()]}


@dataclass
class Running:
    """A server in a thread of this process."""

    url: str
    path: Path
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def start(path: Path, keys: KeyRing, **options: Any) -> Running:
    """A server of the memory at `path` (with `options`: `lightmem.Memory`'s keyword arguments)."""
    service = Service(lambda: open_memory(str(path), embedder=HashEmbedder(), **options), keys)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(create_app(service)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < end and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    return Running(f"http://127.0.0.1:{sock.getsockname()[1]}", path, server, thread)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server with the keys of KEYS for the module's tests (each test uses its own users)."""
    tmp = tmp_path_factory.mktemp("served")
    (tmp / "keys.json").write_text(json.dumps(keys_document(KEYS)))
    running = start(tmp / "memory", KeyRing.load(tmp / "keys.json"))
    yield running
    running.stop()


def client(served: Running, key: str | None = None) -> httpx.Client:
    headers = {} if key is None else {"X-API-Key": KEYS[key]}
    return httpx.Client(base_url=served.url, headers=headers, timeout=30)


# --- mem0's routes -----------------------------------------------------------------------------------


def test_the_mem0_routes_take_and_give_mem0_payloads(served: Running) -> None:
    with client(served, "admin") as http:
        said = [{"role": "user", "content": "I moved to Lyon."}, {"role": "assistant", "content": "Noted."}]
        added = http.post("/memories", json={"messages": said, "user_id": "ann", "infer": False})
        assert added.status_code == 200, added.text
        assert [(r["memory"], r["event"]) for r in added.json()["results"]] == [
            ("I moved to Lyon.", "ADD"),
            ("Noted.", "ADD"),
        ]
        memory_id = added.json()["results"][0]["id"]
        listed = http.get("/memories", params={"user_id": "ann"}).json()["results"]
        assert [r["memory"] for r in listed] == ["I moved to Lyon.", "Noted."] and listed[0][
            "user_id"
        ] == "ann"
        found = http.post("/search", json={"query": "moved to Lyon", "filters": {"user_id": "ann"}}).json()
        assert found["results"][0]["id"] == memory_id and 0 < found["results"][0]["score"] <= 1
        assert http.get(f"/memories/{memory_id}").json()["memory"] == "I moved to Lyon."
        assert http.put(f"/memories/{memory_id}", json={"text": "Lives in Lyon."}).status_code == 200
        events = [h["event"] for h in http.get(f"/memories/{memory_id}/history").json()]
        assert events == ["ADD", "UPDATE"]
        assert http.delete(f"/memories/{memory_id}").json() == {"message": "Memory deleted successfully"}
        assert http.get(f"/memories/{memory_id}").status_code == 404
        # infer=True (the default): the buffer, found at once by search, made memories by /flush
        http.post("/memories", json={"messages": "My sister Lena runs marathons.", "user_id": "ann"})
        assert http.get("/stats", params={"user_id": "ann"}).json()["pending_messages"] == 1
        flushed = http.post("/flush", json={"user_id": "ann"}).json()["results"]
        assert [r["memory"] for r in flushed] and http.get("/stats", params={"user_id": "ann"}).json()[
            "pending_messages"
        ] == 0
        assert set(http.post("/consolidate", json={"user_id": "ann"}).json()) >= {"scopes", "llm_calls"}
        gone = http.delete("/memories", params={"user_id": "ann"})
        assert gone.json() == {"message": "All relevant memories deleted"}
        assert http.get("/memories", params={"user_id": "ann"}).json() == {"results": []}


def test_health_readiness_and_the_openapi_document(served: Running) -> None:
    with client(served) as http:  # no key needed
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/ready").json() == {"status": "ready"}
        document = http.get("/openapi.json").json()
    assert document == json.loads(json.dumps(openapi_document()))
    served_routes = {
        (route.path, method.lower())
        for route in served.server.config.app.routes  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == served_routes


def test_answers_on_a_kept_alive_connection_do_not_wait_for_acks(served: Running) -> None:
    """Regression: without TCP_NODELAY on the accepted sockets, every answer after the first on a
    connection took 40+ ms (its body waited for the client's delayed ACK of its headers)."""
    with client(served) as http:
        timings = []
        for _ in range(9):
            began = time.perf_counter()
            assert http.get("/health").status_code == 200
            timings.append(time.perf_counter() - began)
    assert sorted(timings)[4] < 0.035, timings


def test_idle_connections_outlive_the_clients_own_keep_alive() -> None:
    """Regression: uvicorn's default keep-alive (5 s) equals httpx's, so a client could send a request
    on a connection the server was closing: one add of the 60 s load bench failed with a read error."""
    assert uvicorn_config(create_app(Service(lambda: None, KeyRing({})))).timeout_keep_alive > (
        httpx.Limits().keepalive_expiry or 0
    )


def test_reset_needs_the_admin_key_and_deletes_everything(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text(json.dumps(keys_document(KEYS)))
    running = start(tmp_path / "memory", KeyRing.load(tmp_path / "keys.json"))
    try:
        with client(running, "alice") as alice, client(running, "admin") as admin:
            alice.post("/memories", json={"messages": "Has a dog", "infer": False})
            assert alice.post("/reset").status_code == 403
            assert alice.get("/memories").json()["results"]
            assert admin.post("/reset").json() == {"message": "All memories reset"}
            assert admin.get("/stats").json()["memories"] == 0
    finally:
        running.stop()


# --- API keys ------------------------------------------------------------------------------------------


def test_a_key_never_reads_nor_changes_another_scope(served: Running) -> None:
    with client(served, "alice") as alice, client(served, "bob") as bob:
        bobs = bob.post("/memories", json={"messages": "Bob's PIN is 4242", "infer": False}).json()
        bob_id = bobs["results"][0]["id"]  # no user_id: the key's one scope
        assert bob.get("/memories").json()["results"][0]["user_id"] == "bob"
        alice.post("/memories", json={"messages": "Alice likes tea", "user_id": "alice", "infer": False})
        bob_scope = {"user_id": "bob"}
        refused = [
            alice.post("/memories", json={"messages": "x", **bob_scope}),
            alice.get("/memories", params=bob_scope),
            alice.delete("/memories", params=bob_scope),
            alice.post("/search", json={"query": "PIN", **bob_scope}),
            alice.post("/search", json={"query": "PIN", "filters": bob_scope}),
            alice.post("/search", json={"query": "PIN", "filters": {"AND": [bob_scope]}}),
            alice.get(f"/memories/{bob_id}", params=bob_scope),
            alice.put(f"/memories/{bob_id}", params=bob_scope, json={"text": "hacked"}),
            alice.delete(f"/memories/{bob_id}", params=bob_scope),
            alice.get(f"/memories/{bob_id}/history", params=bob_scope),
            alice.post("/flush", json=bob_scope),
            alice.post("/consolidate", json=bob_scope),
            alice.get("/stats", params=bob_scope),
            alice.get("/memories", params={"agent_id": "any"}),  # no user_id: would match every user
        ]
        assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
        assert "may not touch the scope user_id='bob'" in refused[0].json()["detail"]
        # bob's id under alice's own scope is an unknown id, told apart from none
        for answer in (
            alice.get(f"/memories/{bob_id}"),
            alice.put(f"/memories/{bob_id}", json={"text": "hacked"}),
            alice.delete(f"/memories/{bob_id}"),
            alice.get(f"/memories/{bob_id}/history"),
        ):
            assert answer.status_code == 404 and "no memory with id" in answer.json()["detail"]
        scope_under_or = {"query": "PIN", "filters": {"OR": [{"user_id": "bob"}, {"user_id": "alice"}]}}
        assert alice.post("/search", json=scope_under_or).status_code == 400
        hits = alice.post("/search", json={"query": "Bob's PIN 4242", "threshold": 0}).json()["results"]
        assert [h["memory"] for h in hits] == ["Alice likes tea"]
        assert [r["memory"] for r in bob.get("/memories").json()["results"]] == ["Bob's PIN is 4242"]
        assert alice.get("/stats").json()["user_id"] == "alice"


def test_errors_repeat_a_long_id_cut_not_in_full(served: Running) -> None:
    """A 404 (and a 403 naming a scope) repeated a 60,000-character id in full: errors quote at most
    `ECHO_CHARS` characters of what the caller sent, with its length."""
    long_id = "q" * 60_000
    cut = f"{long_id[:ECHO_CHARS]!r}… (60,000 characters)"
    with client(served, "admin") as admin, client(served, "alice") as alice:
        answers = [
            admin.get(f"/memories/{long_id}", params={"user_id": "carol"}),
            admin.put(f"/memories/{long_id}", json={"text": "x"}),
            admin.delete(f"/memories/{long_id}"),
            admin.get(f"/memories/{long_id}/history"),
            alice.get("/memories", params={"user_id": long_id}),
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404, 403], [a.text[:200] for a in answers]
    for answer in answers:
        assert cut in answer.json()["detail"] and len(answer.text) < 300, answer.text[:300]


def test_keys_with_several_scopes_or_an_agent_scope(served: Running) -> None:
    with client(served, "team") as team, client(served, "bot") as bot:
        assert "name the scope" in team.get("/memories").json()["detail"]
        assert (
            team.post("/memories", json={"messages": "x", "user_id": "dave", "infer": False}).status_code
            == 200
        )
        assert team.get("/memories", params={"user_id": "carol"}).json() == {"results": []}
        assert team.get("/memories", params={"user_id": "erin"}).status_code == 403
        # an agent key: any user, with its agent id, never without it
        ok = bot.post("/memories", json={"messages": "y", "user_id": "u", "agent_id": "bot", "infer": False})
        assert ok.status_code == 200
        assert bot.get("/memories", params={"user_id": "u"}).status_code == 403
        assert len(bot.get("/memories", params={"user_id": "u", "agent_id": "bot"}).json()["results"]) == 1


def test_missing_and_wrong_keys_are_401_and_never_echoed(
    served: Running, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = new_key()
    with client(served) as http:
        assert http.get("/memories", params={"user_id": "alice"}).status_code == 401
        for headers in (
            {"X-API-Key": wrong},
            {"Authorization": f"Bearer {wrong}"},
            {"X-API-Key": "é".encode("latin-1")},
        ):
            answer = http.get("/memories", params={"user_id": "alice"}, headers=headers)
            assert answer.status_code == 401 and answer.json() == {"detail": "invalid API key"}
        bearer = {"Authorization": f"Bearer {KEYS['alice']}"}
        assert http.get("/memories", headers=bearer).status_code == 200
    assert not [r for r in caplog.records if wrong in r.getMessage() or KEYS["alice"] in r.getMessage()]


def test_the_keys_file_holds_hashes_and_bad_files_are_refused_by_name(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    for document, fragment in (
        ({"keys": [{"name": "a", "sha256": "ab", "scopes": [{"user_id": "a"}]}]}, "64 hex digits"),
        ({"keys": [{"name": "a", "sha256": "0" * 64}]}, "needs a non-empty list of scopes"),
        ({"keys": [{"name": "a", "sha256": "0" * 64, "scopes": [{"team": "x"}]}]}, "one or more of"),
        ({"keys": [{"name": "a", "sha256": "0" * 64, "admin": True, "key": "lmk_x"}]}, "unknown field"),
        ({"keys": [{"name": n, "sha256": "0" * 64, "admin": True} for n in "ab"]}, "same sha256"),
        ([], "must be a JSON object"),
        ({"keys": [{"name": "a", "sha256": "0" * 64, "scopes": [{"user_id": ""}]}]}, r"scopes\[0\]: user_id"),
        ({"keys": []}, "lists no keys"),  # an emptied keys file served every scope without authentication
        (  # the scopes read as a limit, and limited nothing
            {"keys": [{"name": "a", "sha256": "0" * 64, "admin": True, "scopes": [{"user_id": "a"}]}]},
            "give scopes or admin: true, not both",
        ),
    ):
        file.write_text(json.dumps(document))
        with pytest.raises(ValueError, match=fragment):
            KeyRing.load(file)
    file.write_bytes(b'\xff\xfe{"keys": []}')  # the error named neither the file nor JSON
    with pytest.raises(ValueError, match=f"{re.escape(str(file))}: not valid JSON"):
        KeyRing.load(file)


# --- hostile requests ------------------------------------------------------------------------------------


def test_without_keys_only_requests_addressed_to_this_machine_are_served(tmp_path: Path) -> None:
    """DNS rebinding: a web page whose name now resolves to 127.0.0.1 reaches a keyless server with its
    own name as Host; it was served (read, added, deleted every memory), it is refused now."""
    running = start(tmp_path / "m", KeyRing({}))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            port = running.url.rsplit(":", 1)[1]
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
                added = http.post(
                    "/memories",
                    json={"messages": "mine", "user_id": "me", "infer": False},
                    headers={"Host": host},
                )
                assert added.status_code == 200, (host, added.text)
            for host in (
                f"attacker.example:{port}",
                "attacker.example",
                f"127.0.0.1.attacker.example:{port}",
                "attacker.example@127.0.0.1",  # not a host name: the URL parser read 127.0.0.1 in them
                "localhost:80\\@attacker.example",
                "127.0.0.1/.attacker.example",
                "127.0.0.1#.attacker.example",
            ):
                rebound = {"Host": host, "Origin": "http://attacker.example"}
                answers = [
                    http.get("/memories", params={"user_id": "me"}, headers=rebound),
                    http.post("/memories", json={"messages": "theirs", "user_id": "me"}, headers=rebound),
                    http.delete("/memories", params={"user_id": "me"}, headers=rebound),
                ]
                assert [a.status_code for a in answers] == [403, 403, 403], host
                assert "only requests addressed to this machine" in answers[0].json()["detail"]
            assert http.get("/health", headers={"Host": "attacker.example"}).status_code == 200
            assert [
                r["memory"] for r in http.get("/memories", params={"user_id": "me"}).json()["results"]
            ] == ["mine"] * 3
    finally:
        running.stop()


def test_hostile_requests_get_clear_4xx_and_store_nothing(served: Running) -> None:
    with client(served, "admin") as http:
        scope = {"user_id": "mallory"}
        cases: list[tuple[httpx.Response, int, str]] = [
            (http.post("/memories", content=b"{not json", headers=_json), 400, "not valid JSON"),
            (http.post("/memories", content=b"[1, 2]", headers=_json), 400, "must be a JSON object"),
            (http.post("/memories", content=b"[" * 100_000, headers=_json), 400, "not valid JSON"),
            (http.post("/memories", content=b'{"messages": NaN}', headers=_json), 400, "NaN"),
            (
                http.post(
                    "/memories", content=b'{"user_id": "a", "user_id": "b", "messages": "x"}', headers=_json
                ),
                400,
                "the key 'user_id' appears twice in one object",
            ),
            (http.post("/memories", data={"messages": "x"}), 415, "Content-Type: application/json"),
            (
                http.post("/memories", content=b"\x1f\x8b", headers={**_json, "Content-Encoding": "gzip"}),
                415,
                "the body must be sent uncompressed, not with Content-Encoding 'gzip'",
            ),
            (
                http.post("/memories", json={"messages": "x", **scope, "secret": 1}),
                400,
                "unknown field(s) 'secret'",
            ),
            (http.post("/memories", json=scope), 400, "messages is required"),
            (http.post("/memories", json={"messages": 5, **scope}), 400, "messages must be a string"),
            (http.post("/memories", json={"messages": "x", "user_id": ["a"]}), 400, "user_id must be"),
            (http.post("/memories", json={"messages": "x", **scope, "infer": "yes"}), 400, "infer must be"),
            (
                http.post("/memories", json={"messages": "x", **scope, "metadata": [1]}),
                400,
                "metadata must be",
            ),
            (http.post("/memories", json={"messages": "x", "infer": False}), 400, "at least one of user_id"),
            (http.post("/search", json={"query": "x", **scope, "top_k": "5"}), 400, "top_k must be"),
            (http.post("/search", json={"query": "", **scope}), 400, "query must show some text"),
            (http.post("/search", json={"query": "x", **scope, "threshold": 2}), 400, "threshold must be"),
            (http.get("/memories", params={**scope, "top_k": "many"}), 400, "top_k must be an integer"),
            (http.get("/memories", params={**scope, "page": "2"}), 400, "unknown query parameter(s) 'page'"),
            (http.get("/memories?user_id=a&user_id=b"), 400, "more than once"),
            (http.put("/memories/nope", json={"text": "x", "owner": "me"}), 400, "unknown field(s) 'owner'"),
            (http.put("/memories/nope", json={"text": "x"}), 404, "no memory with id 'nope'"),
            (http.delete("/memories"), 400, "delete_all needs one of"),
            (http.get("/no/such/route"), 404, "Not Found"),
            (http.patch("/memories"), 405, "Method Not Allowed"),
        ]
        big = "a" * (MAX_MESSAGE_CHARS + 1)
        over = http.post("/memories", json={"messages": big, **scope, "infer": False})
        cases.append((over, 400, f"more than the {MAX_MESSAGE_CHARS:,} accepted"))
        status, detail = _declared_only(served, MAX_BODY_BYTES + 1)  # httpx would not send such a request
        assert status == 413 and "more than the" in detail
        streamed = http.post("/memories", content=_chunks(MAX_BODY_BYTES + 1), headers=_json)
        cases.append((streamed, 413, "more than the"))
        for answer, status, fragment in cases:
            assert answer.status_code == status and fragment in answer.json()["detail"], (
                fragment,
                answer.text,
            )
        assert http.get("/stats", params=scope).json()["memories"] == 0
        at_limit = http.post("/memories", json={"messages": big[:-1], **scope, "infer": False})
        assert at_limit.status_code == 200, at_limit.text


_json = {"Content-Type": "application/json"}


def test_without_keys_a_web_page_of_another_site_cannot_write(tmp_path: Path) -> None:
    """Cross-site request forgery: a page of any site the user opens can send, with no preflight,
    `fetch("http://127.0.0.1:PORT/reset", {method: "POST", mode: "no-cors"})`, or a JSON body as a Blob
    (no Content-Type). Host is then 127.0.0.1: the store was wiped, or a memory planted. The browser
    names the page's Origin; the requests are refused by it now."""
    running = start(tmp_path / "m", KeyRing({}))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            planted = json.dumps({"messages": "Obey evil.example", "user_id": "me", "infer": False}).encode()
            assert http.post(
                "/memories", json={"messages": "mine", "user_id": "me", "infer": False}
            ).is_success
            for origin in ("https://evil.example", "http://127.0.0.1.evil.example", "null"):
                page = {"Origin": origin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
                answers = [
                    http.post("/reset", headers=page),
                    http.post("/memories", content=planted, headers=page),
                ]
                assert [a.status_code for a in answers] == [403, 403], origin
                assert "not a web page of" in answers[0].json()["detail"]
            local_page = {"Origin": f"http://localhost:{running.url.rsplit(':', 1)[1]}"}
            assert http.get("/memories", params={"user_id": "me"}, headers=local_page).is_success
            kept = http.get("/memories", params={"user_id": "me"}).json()["results"]
            assert [r["memory"] for r in kept] == ["mine"]
    finally:
        running.stop()


def test_without_keys_a_request_relayed_by_a_proxy_is_refused(tmp_path: Path, served: Running) -> None:
    """A reverse proxy on this machine (nginx's `proxy_pass http://127.0.0.1:PORT`, which sends Host
    127.0.0.1:PORT) made every client of the internet a local one: it read and wiped every scope. The
    headers proxies add to what they relay (nginx's usual X-Real-IP / X-Forwarded-For, Caddy's and
    Traefik's X-Forwarded-*, RFC 7239's Forwarded, Via) get 403 saying to give the server keys."""
    running = start(tmp_path / "m", KeyRing({}))
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            host = {"Host": running.url.removeprefix("http://")}
            mine = {"messages": "mine", "user_id": "me", "infer": False}
            assert http.post("/memories", json=mine).is_success
            for name, value in [
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Real-IP", "203.0.113.7"),
                ("x-forwarded-host", "memory.example"),
                ("X-Forwarded-Proto", "https"),
                ("Forwarded", "for=203.0.113.7;proto=https"),
                ("Via", "1.1 caddy"),
            ]:
                relayed = {**host, name: value}
                answers = [
                    http.get("/memories", params={"user_id": "me"}, headers=relayed),
                    http.post("/reset", headers=relayed),
                ]
                assert [a.status_code for a in answers] == [403, 403], name
                detail = answers[0].json()["detail"]
                assert f"came through a proxy (its {name.lower()} header)" in detail and "--keys" in detail
            kept = http.get("/memories", params={"user_id": "me"}, headers=host).json()["results"]
            assert [r["memory"] for r in kept] == ["mine"]
    finally:
        running.stop()
    with client(served, "alice") as http:  # with keys, a proxy in front is fine: each caller is its key
        relayed = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"}
        assert http.get("/memories", params={"user_id": "alice"}, headers=relayed).status_code == 200


def _declared_only(served: Running, length: int) -> tuple[int, str]:
    """(status, detail) of a POST /memories that announces `length` bytes and sends two."""
    host, port = served.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("POST", "/memories")
        for name, value in {**_json, "X-API-Key": KEYS["admin"], "Content-Length": str(length)}.items():
            conn.putheader(name, value)
        conn.endheaders(b"{}")
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())["detail"]
    finally:
        conn.close()


def _chunks(size: int) -> Iterator[bytes]:
    """`size` bytes of a JSON body, sent in chunks without a Content-Length."""
    yield b'{"messages": "'
    sent = 14
    while sent < size:
        chunk = b"a" * min(256 * 1024, size - sent)
        sent += len(chunk)
        yield chunk


# --- the command -----------------------------------------------------------------------------------------


def test_an_llm_failure_is_a_502_that_shows_neither_the_llm_url_nor_its_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 502 quoted the LLM's URL and its answer ("org org-7Hq2 at gateway.corp.internal: quota
    exceeded") to any scoped client; they go to the server's log only."""
    upstream = b'{"error": {"message": "org org-7Hq2 at gateway.corp.internal: quota exceeded"}}'
    with LLMServer(Reply(status=400, body=upstream)) as llm:
        running = start(tmp_path / "memory", KeyRing({}), llm_base_url=llm.base_url, llm_model="m")
        try:
            with httpx.Client(base_url=running.url, timeout=30) as http, caplog.at_level("WARNING"):
                http.post("/memories", json={"messages": "I moved to Lyon last May.", "user_id": "ann"})
                failed = http.post("/flush", json={"user_id": "ann"})
                assert failed.status_code == 502, failed.text
                assert "HTTP 400" in failed.text and "buffered" in failed.text
                assert "org-7Hq2" not in failed.text and "127.0.0.1" not in failed.text
                assert "org-7Hq2" in caplog.text  # the operator still sees why
                assert http.get("/stats", params={"user_id": "ann"}).json()["pending_messages"] == 1
        finally:
            running.stop()


def test_an_add_past_the_threshold_answers_before_a_slow_llm_does(tmp_path: Path) -> None:
    """The POST /memories that filled a scope's buffer ran the extraction and answered only once the
    model had (a CPU-served one takes 30 s to minutes: HTTP clients timed out). Now the memories made
    later by the server's background thread are listed once the model answers."""
    turns = [
        {"role": "user", "content": "I moved to Lyon last May for a new job at the museum."},
        {"role": "user", "content": "My sister Lena visits me in Lyon every June with her kids."},
    ]
    with LLMServer(delay_s=2.0) as llm:
        running = start(
            tmp_path / "memory",
            KeyRing({}),
            llm_base_url=llm.base_url,
            llm_model="m",
            buffer_token_threshold=10,
        )
        try:
            with httpx.Client(base_url=running.url, timeout=30) as http:
                begin = time.monotonic()
                added = http.post("/memories", json={"messages": turns, "user_id": "ann"})
                assert time.monotonic() - begin < 1.0 and added.json() == {"results": []}, added.text
                hits = http.post("/search", json={"query": "Lyon", "user_id": "ann"}).json()["results"]
                assert any("moved to Lyon" in hit["memory"] for hit in hits)  # the buffer, searched at once
                end = time.monotonic() + 30
                while not http.get("/memories", params={"user_id": "ann"}).json()["results"]:
                    assert time.monotonic() < end, "no memory was extracted"
                    time.sleep(0.05)
                assert len(llm.requests) == 1
        finally:
            running.stop()


def test_import_lightmem_and_its_cli_load_no_server_stack() -> None:
    probe = "import sys, lightmem, lightmem.cli, lightmem.mem0; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    stack = {"starlette", "uvicorn", "mcp", "httpx", "anyio", "lightmem.service.http_api"}
    assert not stack & set(loaded.split())


def test_serve_refuses_other_addresses_without_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--path", str(tmp_path / "m"), "--host", "0.0.0.0"]) == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in capsys.readouterr().err
    assert cli.main(["serve", "--new-key"]) == 0
    key, digest = re.findall(r"(?m)^\w+: +(\S+)$", capsys.readouterr().out)
    assert key.startswith("lmk_") and digest == key_digest(key)


def test_an_empty_keys_setting_is_refused_not_taken_for_no_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`LIGHTMEM_KEYS=$KEYS_FILE` with the variable unset served without keys: the operator asked for
    keys and nothing said they were off (behind a local reverse proxy, every scope was open)."""
    taken = bind("127.0.0.1", 0)  # were the setting taken for 'no keys', the port in use would end it
    port = str(taken.getsockname()[1])
    try:
        command = ["serve", "--path", str(tmp_path / "m"), "--port", port]
        assert cli.main([*command, "--keys", ""]) == 2
        assert "--keys is empty: name the keys file" in capsys.readouterr().err
        monkeypatch.setenv("LIGHTMEM_KEYS", " ")
        assert cli.main(command) == 2
        assert "LIGHTMEM_KEYS is empty: name the keys file" in capsys.readouterr().err
    finally:
        taken.close()


def test_sigterm_keeps_every_acknowledged_message(tmp_path: Path) -> None:
    """`lightmem serve` in a subprocess, 4 clients adding as fast as they can; SIGTERM in the middle: the
    server finishes what it started, and every message it acknowledged is stored. No key is logged."""
    keys, _, document = user_keys(2)
    (tmp_path / "keys.json").write_text(json.dumps(document))
    command = [sys.executable, "-m", "lightmem.cli", "serve", "--path", str(tmp_path / "m"), "--port", "0"]
    command += ["--keys", str(tmp_path / "keys.json")]
    with open(tmp_path / "access.log", "w") as access_log:  # uvicorn's access log goes to stdout
        server = subprocess.Popen(command, stdout=access_log, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    url = wait_for_url(server, log)
    acknowledged: list[str] = []
    stop = threading.Event()

    def add(n: int) -> None:
        user = f"u{n % 2}"
        with httpx.Client(base_url=url, headers={"X-API-Key": keys[user]}, timeout=30) as http:
            for i in range(10_000):
                message = {"id": f"c{n}-{i}", "content": f"message {i} of client {n} about Paris"}
                try:
                    answer = http.post("/memories", json={"messages": [message], "infer": i % 3 == 0})
                except httpx.HTTPError:
                    return  # the server has gone
                if answer.status_code == 200:
                    acknowledged.append(message["id"])
                if stop.is_set():
                    return

    clients = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    while len(acknowledged) < 40:
        time.sleep(0.01)
    with httpx.Client(base_url=url, timeout=30) as http:  # a key sent as other APIs take it: refused...
        assert http.get("/memories", params={"user_id": "u0", "api_key": keys["u0"]}).status_code == 401
    began = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == -signal.SIGTERM  # uvicorn re-raises the signal once it is done
    assert time.monotonic() - began < 10
    stop.set()
    for thread in clients:
        thread.join(timeout=30)
    assert "Application shutdown complete" in "".join(log)  # the memory is closed before
    log += (tmp_path / "access.log").read_text().splitlines()
    assert len(log) > 40 and not [
        line for line in log for key in keys.values() if key in line
    ]  # ...not logged
    assert any("/memories?user_id=u0&api_key=*** HTTP/1.1" in line for line in log)  # ...nor logged
    pending, units = message_id_counts(tmp_path / "m", 384, users=("u0", "u1"))  # 384: the default model's
    stored = set(pending) | set(units)
    assert len(acknowledged) >= 40 and not [i for i in acknowledged if i not in stored]


def test_a_short_load_has_no_error_no_loss_no_leak(tmp_path: Path) -> None:
    """The load bench (benches/bench_service.py), 2 seconds: 50 clients of 10 users, add and search."""
    keys, _, document = user_keys(10)
    (tmp_path / "keys.json").write_text(json.dumps(document))
    running = start(tmp_path / "m", KeyRing.load(tmp_path / "keys.json"))
    try:
        report = asyncio.run(run_load(running.url, keys, seconds=2.0, clients=50))
    finally:
        running.stop()
    summary = report.summary()
    assert summary["errors"] == 0, report.errors[:5]
    assert summary["cross_key_leaks"] == 0, report.leaks[:5]
    assert summary["refused_as_expected"] > 0 and summary["messages_acknowledged"] > 0
    with Memory(tmp_path / "m", embedder=HashEmbedder()) as memory:
        assert lost_messages(memory, report.acknowledged) == []
