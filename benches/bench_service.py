"""Load test of `lightmem serve`: concurrent clients, each with its user's API key, add and search for a
while; reports the latency of each kind (p50, p99), errors, lost messages and cross-key leaks.

    .venv/bin/python benches/bench_service.py --seconds 60 --clients 50

Starts `lightmem serve` (the real embedder, the offline extractive LLM) in a subprocess on 127.0.0.1 with
one API key per user and an admin key, runs the clients in this process (httpx, one asyncio loop), then
flushes, stops the server with SIGTERM and opens the memory directory to check that every acknowledged
message is in exactly one memory. Each client's mix: 50% add (one message with a new id, `infer` on:
the short-term buffer, extraction when it is full), 45% search of its own user, 5% a search naming
another user with its own key, which must be refused (403).

A leak is any result of a search carrying another user's tag or id, or a 200 to a search of another
user. tests/test_service.py runs the same load for a few seconds against a server in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

import httpx
import numpy as np
from lightmem.memory import Memory
from lightmem.service.keys import key_digest, new_key

WORDS = (
    "Maya Tom Lena Paris Lyon Berlin marathon wedding dog cat ramen garlic guitar flight Tuesday birthday "
    "sister garden tomatoes bicycle museum painting train keyboard coffee bakery violin concert hiking snow"
).split()
ADD_SHARE, OWN_SEARCH_SHARE = 0.50, 0.45  # the rest: searches naming another user, to be refused


@dataclass
class LoadReport:
    """What the clients saw."""

    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    refused: int = 0
    acknowledged: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, Any]:
        """Counts, throughput and latency percentiles by kind of request."""
        kinds = {
            kind: {
                "requests": len(values),
                "p50_ms": round(float(np.percentile(values, 50)), 1),
                "p99_ms": round(float(np.percentile(values, 99)), 1),
            }
            for kind, values in sorted(self.latencies_ms.items())
        }
        total = sum(len(values) for values in self.latencies_ms.values())
        return {
            "seconds": round(self.seconds, 1),
            "requests": total,
            "requests_per_s": round(total / self.seconds, 1) if self.seconds else None,
            "by_kind": kinds,
            "errors": len(self.errors),
            "cross_key_leaks": len(self.leaks),
            "refused_as_expected": self.refused,
            "messages_acknowledged": sum(len(ids) for ids in self.acknowledged.values()),
        }


def user_keys(users: int) -> tuple[dict[str, str], str, dict[str, Any]]:
    """({user: key}, admin key, the keys file's document) for users u0, u1, ..."""
    keys = {f"u{n}": new_key() for n in range(users)}
    admin = new_key()
    entries = [{"name": u, "sha256": key_digest(k), "scopes": [{"user_id": u}]} for u, k in keys.items()]
    entries.append({"name": "admin", "sha256": key_digest(admin), "admin": True})
    return keys, admin, {"keys": entries}


def tag(user: str) -> str:
    """The word every message of `user` carries, to recognise a leaked one."""
    return f"tag{user}"


async def run_load(
    url: str, keys: Mapping[str, str], seconds: float, clients: int, seed: int = 0
) -> LoadReport:
    """`clients` concurrent clients for `seconds`, client n acting for user n mod len(keys)."""
    report = LoadReport()
    users = sorted(keys)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as http:
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(
            *(
                _client(
                    http, n, users[n % len(users)], keys, deadline, random.Random(seed * 1000 + n), report
                )
                for n in range(clients)
            )
        )
        report.seconds = time.monotonic() - start
    return report


async def _client(
    http: httpx.AsyncClient,
    n: int,
    user: str,
    keys: Mapping[str, str],
    deadline: float,
    rng: random.Random,
    report: LoadReport,
) -> None:
    headers = {"X-API-Key": keys[user]}
    others = [u for u in keys if u != user]
    sent = 0
    while time.monotonic() < deadline:
        roll = rng.random()
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 10)))
        if roll < ADD_SHARE:
            message_id = f"{user}-c{n}-{sent}"
            sent += 1
            message = {"id": message_id, "role": "user", "content": f"{tag(user)} {words}."}
            body: dict[str, Any] = {"messages": [message], "user_id": user}
            kind = "add"
        else:
            named = user if roll < ADD_SHARE + OWN_SEARCH_SHARE else rng.choice(others)
            body = {"query": words, "user_id": named, "top_k": 5, "threshold": 0.0}
            kind = "search" if named == user else "search other user"
        began = time.perf_counter()
        try:
            answer = await http.post("/memories" if kind == "add" else "/search", json=body, headers=headers)
        except httpx.HTTPError as err:
            report.errors.append(f"{kind}: {err!r}")
            continue
        report.latencies_ms[kind].append((time.perf_counter() - began) * 1000.0)
        _check(kind, user, body, answer, report)


def _check(kind: str, user: str, body: dict[str, Any], answer: httpx.Response, report: LoadReport) -> None:
    if kind == "search other user":
        if answer.status_code == 403:
            report.refused += 1
        elif answer.status_code == 200:
            report.leaks.append(f"{user}'s key searched {body['user_id']}: 200")
        else:
            report.errors.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
        return
    if answer.status_code != 200:
        report.errors.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
        return
    if kind == "add":
        report.acknowledged[user].append(body["messages"][0]["id"])
        return
    for hit in answer.json()["results"]:
        tags = set(re.findall(r"tagu\d+", hit["memory"]))
        if tags - {tag(user)} or hit.get("user_id", user) != user:
            report.leaks.append(f"{user}'s search returned {hit['memory'][:80]!r} of {hit.get('user_id')}")


def lost_messages(memory: Memory, acknowledged: Mapping[str, Sequence[str]]) -> list[str]:
    """The acknowledged message ids that no live memory of their user cites, or that several cite
    (after a flush of everything; with the offline LLM each message becomes exactly one memory)."""
    memory.flush()
    lost = []
    for user, ids in acknowledged.items():
        cited = [source for item in memory.get_all(user_id=user) for source in item.source]
        counts = {source: cited.count(source) for source in set(cited)}
        lost += [i for i in ids if counts.get(i) != 1]
    return lost


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8, help="the server's worker threads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lightmem-load-") as tmp:
        path = Path(tmp) / "memory"
        keys, admin, document = user_keys(args.users)
        keys_file = Path(tmp) / "keys.json"
        keys_file.write_text(json.dumps(document))
        command = [sys.executable, "-m", "lightmem.cli", "serve", "--path", str(path), "--port", "0"]
        command += ["--keys", str(keys_file), "--threads", str(args.threads)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = wait_for_url(server)
        load_before = os.getloadavg()
        report = asyncio.run(run_load(url, keys, args.seconds, args.clients))
        load_after = os.getloadavg()
        httpx.post(f"{url}/flush", headers={"X-API-Key": admin}, timeout=600).raise_for_status()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
        with Memory(path) as memory:
            lost = lost_messages(memory, report.acknowledged)
    result = report.summary()
    result.update(
        lost_messages=len(lost),
        server_exit_code=code,
        clients=args.clients,
        users=args.users,
        load_average_1min={"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
    )
    print(json.dumps(result, indent=2))
    for problem in (report.errors + report.leaks + lost)[:10]:
        print("problem:", problem, file=sys.stderr)
    return 1 if report.errors or report.leaks or lost or code not in (0, -signal.SIGTERM) else 0


def wait_for_url(
    server: subprocess.Popen[str], log: Optional[list[str]] = None, timeout_s: float = 60.0
) -> str:
    """The URL `lightmem serve` logs, once /ready answers 200; the rest of the server's log (stderr)
    is read on by a thread, into `log` if given."""
    assert server.stderr is not None
    url = None
    end = time.monotonic() + timeout_s
    while url is None:
        line = server.stderr.readline()
        if not line or time.monotonic() > end:
            raise RuntimeError(f"lightmem serve did not start (exit code {server.poll()})")
        found = re.search(r"lightmem serve: (http://\S+?),? ", line)
        url = found.group(1) if found else None
    drain = threading.Thread(target=_drain, args=(server.stderr, [] if log is None else log), daemon=True)
    drain.start()  # a full pipe would block the server
    while httpx.get(f"{url}/ready", timeout=timeout_s).status_code != 200:
        time.sleep(0.05)
    return url


def _drain(stream: IO[str], log: list[str]) -> None:
    for line in stream:
        if len(log) < 10_000:
            log.append(line)


if __name__ == "__main__":
    sys.exit(main())
