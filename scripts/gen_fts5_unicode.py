"""Writes rust/src/fts5_unicode.rs: how SQLite's FTS5 `unicode61` tokenizer (remove_diacritics=1) treats
each code point beyond ASCII, read from this Python's SQLite (the oracle): which are separators, which are
dropped inside a token (combining diacritics), and what the others fold to. Run from the repository root:

    python scripts/gen_fts5_unicode.py && cargo fmt
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

OUT = Path("rust/src/fts5_unicode.rs")


def ranges(code_points: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted code points as inclusive ranges."""
    found: list[list[int]] = []
    for cp in code_points:
        if found and found[-1][1] == cp - 1:
            found[-1][1] = cp
        else:
            found.append([cp, cp])
    return [(a, b) for a, b in found]


def main() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    code_points = [cp for cp in range(0x80, 0x110000) if not 0xD800 <= cp < 0xE000]
    # each code point between two ASCII letters: one token "a<fold>b" if it is a token character (or a
    # diacritic, dropped inside a token), two tokens if it separates
    conn.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", ((cp, f"a{chr(cp)}b") for cp in code_points))
    tokens: dict[int, list[str]] = {}
    for doc, term in conn.execute("SELECT doc, term FROM v"):
        tokens.setdefault(doc, []).append(term)
    separators = [cp for cp in code_points if len(tokens[cp]) != 1]
    dropped = [cp for cp in code_points if tokens[cp] == ["ab"]]
    folds = {
        cp: tokens[cp][0][1:-1]
        for cp in code_points
        if len(tokens[cp]) == 1 and tokens[cp][0] != "ab" and tokens[cp][0][1:-1] != chr(cp)
    }
    assert all(len(f) == 1 for f in folds.values())

    def table(name: str, doc: str, rows: list[tuple[int, int]]) -> str:
        body = "\n".join(f"    (0x{a:X}, 0x{b:X})," for a, b in rows)
        return f"/// {doc}\npub const {name}: &[(u32, u32)] = &[\n{body}\n];\n"

    OUT.write_text(
        "//! How SQLite's FTS5 `unicode61` tokenizer (remove_diacritics=1) treats the code points beyond\n"
        f"//! ASCII, read from SQLite {sqlite3.sqlite_version} by `scripts/gen_fts5_unicode.py`\n"
        "//! (generated: do not edit).\n\n"
        + table("SEPARATORS", "Inclusive ranges of the code points that end a token.", ranges(separators))
        + "\n"
        + table(
            "DROPPED",
            "Inclusive ranges of the diacritics dropped inside a token (separators before one).",
            ranges(dropped),
        )
        + "\n"
        + table(
            "FOLDS",
            "(code point, what it folds to) for the token characters that fold to another, sorted.",
            [(cp, ord(f)) for cp, f in sorted(folds.items())],
        )
    )


if __name__ == "__main__":
    main()
