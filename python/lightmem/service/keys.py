"""The API keys of `lightmem serve`: who may touch which scopes.

The operator lists the keys in a JSON file, by the SHA-256 of each key (never the key itself):

    {"keys": [
      {"name": "alice-app", "sha256": "<64 hex digits>", "scopes": [{"user_id": "alice"}]},
      {"name": "ops", "sha256": "<64 hex digits>", "admin": true}
    ]}

A scoped key may touch a request's scope only when the request names every id of one of its scopes with
the same value (`{"user_id": "alice"}` allows user_id=alice with any agent or run, never a request
without user_id, which would match every user). An admin key may touch every scope and the store-wide
routes. Keys are random tokens (`new_key`), so one SHA-256 is enough to store them safely; a presented
key is hashed and compared with every stored hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from lightmem.mem0.filters import SCOPE_KEYS, scope_ids

KEY_PREFIX = "lmk_"
_ENTRY_FIELDS = ("name", "sha256", "scopes", "admin")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a key's name, whether it is an admin key, and the scopes it may touch."""

    name: str
    admin: bool
    scopes: tuple[Mapping[str, str], ...] = ()

    def allows(self, scope: Mapping[str, str]) -> bool:
        """Whether this caller may touch `scope` (trimmed scope ids, as `scope_ids` gives them)."""
        return self.admin or any(
            all(scope.get(name) == value for name, value in allowed.items()) for allowed in self.scopes
        )


LOCAL_CALLER = Caller("local (no API keys configured)", admin=True)
"""The caller of every request when the server has no keys: only ever served on 127.0.0.1."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]+)(?::[0-9]{1,5})?")
"""A Host header: a name, an IPv4 address or a bracketed IPv6 address, then an optional port."""


def is_loopback_host_header(value: str) -> bool:
    """Whether the Host header `value` names this machine only (see `is_loopback`); False for anything
    that is not a host with an optional port ('evil.example@127.0.0.1', '127.0.0.1/.evil.example')."""
    match = _HOST_HEADER.fullmatch(value)
    return match is not None and is_loopback(match.group(1).strip("[]").lower())


RELAY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via")
"""Headers that a proxy adds to the requests it relays (nginx's usual settings, Caddy, Traefik, Apache,
HAProxy, ngrok and Cloudflare tunnels add one of them at least): a keyless server refuses such a request,
since a proxy on this machine makes every client of the internet look local."""


def relay_header(headers: Mapping[str, str]) -> Optional[str]:
    """The first of `RELAY_HEADERS` that `headers` (lowercase names, as Starlette's) hold, or None."""
    return next((name for name in RELAY_HEADERS if name in headers), None)


def is_loopback_origin(value: str) -> bool:
    """Whether the Origin header `value` is a page of this machine (http(s) on a loopback host, see
    `is_loopback_host_header`); False for 'null' (a file or sandboxed page) and any other site."""
    scheme, separator, host = value.partition("://")
    return separator == "://" and scheme.lower() in ("http", "https") and is_loopback_host_header(host)


def new_key() -> str:
    """A fresh random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    """The SHA-256 of a key, as the keys file holds it (64 hex digits)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyRing:
    """The keys of a server, by digest; `identify` finds the caller of a presented key."""

    def __init__(self, entries: Mapping[str, Caller]) -> None:
        self._entries = [(bytes.fromhex(digest), caller) for digest, caller in entries.items()]

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        """The keys of the JSON file at `path` (at least one); ValueError naming the file and the entry at
        fault."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        if (
            not isinstance(document, dict)
            or set(document) != {"keys"}
            or not isinstance(document["keys"], list)
        ):
            raise ValueError(f'{path}: must be a JSON object {{"keys": [...]}}')
        entries: dict[str, Caller] = {}
        for index, entry in enumerate(document["keys"]):
            digest, caller = _entry(entry, f"{path}: keys[{index}]")
            if digest in entries:
                raise ValueError(f"{path}: keys[{index}] has the same sha256 as {entries[digest].name!r}")
            entries[digest] = caller
        if not entries:
            raise ValueError(
                f"{path}: lists no keys, so no one could use the server (without --keys it serves this "
                "machine only, unauthenticated): add a key (`lightmem serve --new-key`)"
            )
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, key: str) -> Optional[Caller]:
        """The caller whose key is `key`, or None. Every stored digest is compared, in constant time."""
        presented = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = None
        for digest, caller in self._entries:
            if hmac.compare_digest(presented, digest):
                found = caller
        return found


def _entry(entry: object, where: str) -> tuple[str, Caller]:
    """(digest, caller) of one entry of the keys file."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object with name, sha256 and scopes or admin")
    unknown = sorted(str(key) for key in entry if key not in _ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; the fields are {_ENTRY_FIELDS}")
    name, digest = entry.get("name"), entry.get("sha256")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: name must be a non-empty string")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ValueError(
            f"{where} ({name}): sha256 must be the 64 hex digits of the key's SHA-256 "
            "(`lightmem serve --new-key` prints a key and its sha256)"
        )
    admin = entry.get("admin", False)
    if not isinstance(admin, bool):
        raise ValueError(f"{where} ({name}): admin must be true or false")
    scopes = entry.get("scopes", [])
    if not isinstance(scopes, list) or not (admin or scopes):
        raise ValueError(f"{where} ({name}): a key needs a non-empty list of scopes, or admin: true")
    if admin and scopes:
        raise ValueError(
            f"{where} ({name}): an admin key touches every scope, so its scopes would limit nothing: "
            "give scopes or admin: true, not both"
        )
    allowed = tuple(_scope(scope, f"{where} ({name}): scopes[{i}]") for i, scope in enumerate(scopes))
    return digest.lower(), Caller(name.strip(), admin, allowed)


def _scope(scope: object, where: str) -> Mapping[str, str]:
    if not isinstance(scope, dict) or not scope or any(key not in SCOPE_KEYS for key in scope):
        raise ValueError(f"{where} must be an object of one or more of {', '.join(SCOPE_KEYS)}")
    values: dict[str, Any] = {key: value for key, value in scope.items() if isinstance(value, str)}
    if len(values) != len(scope):
        raise ValueError(f"{where}: scope ids must be strings")
    try:
        return scope_ids(**values)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
