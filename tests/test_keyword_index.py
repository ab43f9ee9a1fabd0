"""The keyword index of the SQLite store (`lightmem._core.KeywordIndex`, `store.sqlite_keyword_index`):
its tokens against SQLite's FTS5 (the oracle), its ranking against a plain BM25 in Python, and the store's
keyword search against the FTS5 path it replaced (same ids, same order), with every writer's changes."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightmem._core import KernelInputError, KeywordIndex, fts5_tokens
from lightmem.conversations import load_conversations
from lightmem.retrieval import MIN_KEYWORD_SCORE, keywords
from lightmem.store import SQLiteStore
from lightmem.store.buffer_search import by_fts5_keywords
from lightmem.store.changes import Change
from lightmem.store.sqlite_keywords import _fts5_search, keyword_match
from lightmem.types import MemoryItem, Scope
from stores import ALICE, BOB, DIM, unit_vectors, units

LOCOMO_FILES = sorted((Path(__file__).resolve().parents[2] / "shared/data/locomo").glob("*.json"))
"""LoCoMo beside the repository (../shared), as the team keeps it."""

# Porter's suffixes (every step's), so that random words reach every rule
SUFFIXES = (
    "s ss sses ies eed ed ing at bl iz y ational tional enci anci izer logi bli alli entli eli ousli ization "
    "ation ator alism iveness fulness ousness aliti iviti biliti icate ative alize iciti ical ful ness al "
    "ance ence er ic able ible ant ement ment ent ion ou ism ate iti ous ive ize e ll"
).split()
LETTERS = "abcdefghijklmnopqrstuvwxyzAEIOUY"
ACCENTED = "àáâäãåçèéêëìíîïñòóôöõùúûüýÿÀÉÎÖÜÇŁłßøæœŒÆİıµſǅ"
SYMBOLS = " \t\n.,;:'\"-_*^()[]{}!?/\\@#$%&+=<>|~`0123456789²½×÷€…—–“”‘’\u00a0\u200d🧘😀中文字"
CORPUS_WORDS = (
    "tea coffee chess garden painting hiking running runner runs ran sister brother café naïve "
    "Caroline Melanie adoption adopted adopting counseling counselor support group 2023 May June "
    "school pottery camping camped beach museum violin guitar novel novels book books reading"
).split()


@st.composite
def words(draw: st.DrawFn) -> str:
    stem = draw(st.text(alphabet=LETTERS + ACCENTED, min_size=0, max_size=8))
    return stem + draw(st.sampled_from(SUFFIXES))


texts = st.lists(
    st.one_of(words(), st.text(alphabet=SYMBOLS, min_size=1, max_size=3), st.text(min_size=1, max_size=4)),
    max_size=12,
).map(" ".join)


@pytest.fixture(scope="module")
def fts5() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'porter unicode61')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    yield conn
    conn.close()


def fts5_oracle(conn: sqlite3.Connection, text: str) -> list[str]:
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (text,))
    return [term for (term,) in conn.execute("SELECT term FROM v ORDER BY offset")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_tokens_are_fts5s(fts5: sqlite3.Connection, text: str) -> None:
    assert fts5_tokens(text) == fts5_oracle(fts5, text)


def test_tokens_of_long_words_and_every_script_are_fts5s(fts5: sqlite3.Connection) -> None:
    samples = [
        "running" * 9 + "s",  # past 64 bytes: not stemmed
        "x" * 10_000,
        "Ǆemal İstanbul ΆΈΉ Ωμέγα Привет Ёлка ﬁne ＡＢＣ１２３ 𐐀𐐨 ℌ ⅷ ⓐ",
        "e\u0301te\u0301 \u0301abc a\u0345b",
        "".join(chr(c) for c in range(0x80, 0x3000, 7)),
    ]
    for text in samples:
        assert fts5_tokens(text) == fts5_oracle(fts5, text)


# --- the index's ranking against a plain BM25 -------------------------------------------------------

Ids = tuple[Optional[str], Optional[str], Optional[str]]
scope_ids = st.tuples(st.sampled_from(["u1", "u2", None]), st.sampled_from(["a1", None]), st.none())


def bm25_oracle(
    documents: dict[int, tuple[str, Ids]], chosen: Sequence[str], scope: Ids, min_score: float
) -> list[tuple[int, float]]:
    """FTS5's bm25() as its documentation gives it (k1 1.2, b 0.75; a row's length counts the 3 scope
    tokens), summed over `chosen` in order, for the documents of `scope`, best first, ties by rowid."""
    tokens = {rowid: fts5_tokens(text) for rowid, (text, _) in documents.items()}
    count = len(documents)
    average = sum(len(t) + 3 for t in tokens.values()) / count if count else 0.0
    scores: dict[int, float] = {}
    for word in chosen:
        (term,) = fts5_tokens(word)
        holding = sum(term in t for t in tokens.values())
        idf = math.log((count - holding + 0.5) / (holding + 0.5))
        idf = idf if idf > 0 else 1e-6
        for rowid, doc_tokens in tokens.items():
            ids = documents[rowid][1]
            if term not in doc_tokens or not all(w is None or w == i for w, i in zip(scope, ids)):
                continue
            frequency = Counter(doc_tokens)[term]
            length = len(doc_tokens) + 3
            scores[rowid] = scores.get(rowid, 0.0) + idf * (
                (frequency * 2.2) / (frequency + 1.2 * (1 - 0.75 + 0.75 * length / average))
            )
    ranked = [(r, s) for r, s in scores.items() if s >= min_score]
    return sorted(ranked, key=lambda hit: (-hit[1], hit[0]))


@settings(max_examples=150, deadline=None)
@given(
    changes=st.lists(
        st.tuples(
            st.integers(1, 30),
            st.one_of(st.none(), st.lists(st.sampled_from(CORPUS_WORDS), max_size=8).map(" ".join)),
            scope_ids,
        ),
        max_size=60,
    ),
    query=st.lists(st.sampled_from([*CORPUS_WORDS, "absent", "!!"]), min_size=1, max_size=4, unique=True),
    scope=scope_ids,
    min_score=st.sampled_from([0.0, 0.5, 1.0]),
    limit=st.one_of(st.none(), st.integers(1, 5)),
)
def test_index_ranks_as_plain_bm25(
    changes: list[tuple[int, Optional[str], Ids]],
    query: list[str],
    scope: Ids,
    min_score: float,
    limit: Optional[int],
) -> None:
    index = KeywordIndex()
    documents: dict[int, tuple[str, Ids]] = {}
    for rowid, text, ids in changes:
        index.apply([(rowid, text, *ids)])
        if text is None:
            documents.pop(rowid, None)
        else:
            documents[rowid] = (text, ids)
    assert len(index) == len(documents)
    matches = index.matches(query)
    expected_matches = [
        sum(fts5_tokens(w)[0] in fts5_tokens(t) for t, _ in documents.values()) if fts5_tokens(w) else 0
        for w in query
    ]
    assert matches == expected_matches
    chosen = [w for w in query if fts5_tokens(w)]
    hits = index.search(chosen, *scope, min_score, limit)
    expected = bm25_oracle(documents, chosen, scope, min_score)[:limit]
    assert [rowid for rowid, _ in hits] == [rowid for rowid, _ in expected]
    assert [score for _, score in hits] == pytest.approx([score for _, score in expected], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    documents=st.lists(st.lists(st.sampled_from(CORPUS_WORDS), max_size=6).map(" ".join), max_size=12),
    extra=st.lists(st.lists(st.sampled_from(CORPUS_WORDS), max_size=6).map(" ".join), min_size=1, max_size=5),
    query=st.lists(st.sampled_from([*CORPUS_WORDS, "absent"]), min_size=1, max_size=4, unique=True),
)
def test_texts_score_as_documents_beside_the_index(
    documents: list[str], extra: list[str], query: list[str]
) -> None:
    index = KeywordIndex()
    index.apply([(rowid, text, "u1", None, None) for rowid, text in enumerate(documents)])
    scores = index.score_texts(query, extra)
    everything: dict[int, tuple[str, Ids]] = {r: (t, ("u1", None, None)) for r, t in enumerate(documents)}
    everything.update({1000 + i: (t, ("texts", None, None)) for i, t in enumerate(extra)})
    expected = dict(bm25_oracle(everything, query, ("texts", None, None), -math.inf))
    assert [s is not None for s in scores] == [1000 + i in expected for i in range(len(extra))]
    assert [s for s in scores if s is not None] == pytest.approx(
        [expected[1000 + i] for i, s in enumerate(scores) if s is not None], rel=1e-12
    )
    # a search of the index with the texts counted in as documents scores as the oracle too
    hits = index.search(query, "u1", None, None, -math.inf, None, extra)
    in_index = bm25_oracle(everything, query, ("u1", None, None), -math.inf)
    assert [r for r, _ in hits] == [r for r, _ in in_index]
    assert [s for _, s in hits] == pytest.approx([s for _, s in in_index], rel=1e-12)


def test_index_refuses_a_phrase_and_reports_its_size() -> None:
    index = KeywordIndex()
    index.apply([(1, "tea time", "alice", None, None), (2, "x", None, None, "r")])
    assert index.matches(["tea-time"]) is None
    with pytest.raises(KernelInputError, match="several tokens"):
        index.search(["tea time"], "alice", None, None, 0.0)
    assert index.search(["tea"], "bob", None, None, 0.0) == []  # an id no unit has
    assert 0 < index.nbytes < 10_000


# --- the store's keyword search against the FTS5 path -------------------------------------------------


def fts5_ranking(store: SQLiteStore, words: Sequence[str], scope: Scope, limit: int) -> list[MemoryItem]:
    """The FTS5 path's ranking (what `keyword_search` returned before the keyword index)."""
    terms = list(dict.fromkeys(w.strip() for w in words if w.strip()))
    return _fts5_search(store._db.conn(), terms, scope, limit, None, MIN_KEYWORD_SCORE)


def built(store: SQLiteStore) -> None:
    """Wait for the store's keyword index (built in the background, FTS5 answering meanwhile), so that
    the searches after it go through the index."""
    assert store._keywords.wait_built(timeout=60)


def ranked(items: Sequence[MemoryItem]) -> list[tuple[str, float]]:
    return [(item.id, round(item.score or 0.0, 9)) for item in items]


def test_keyword_search_ranks_as_fts5_on_a_conversation(tmp_path: Path) -> None:
    if not LOCOMO_FILES:
        pytest.skip("LoCoMo data not found in ../shared/data/locomo")
    (conversation, *_) = load_conversations(LOCOMO_FILES[0])
    turns = [f"{m.get('name') or m['role']}: {m['content']}" for s in conversation.sessions for m in s]
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units(*turns), unit_vectors(len(turns)))
        store.add(BOB, units(*turns[::3]), unit_vectors(len(turns[::3]), seed=1))
        built(store)
        for question in [q.question for q in conversation.questions][:120]:
            words = keywords(question)
            found = store.keyword_search(words, ALICE, 40, None, MIN_KEYWORD_SCORE)
            assert ranked(found) == ranked(fts5_ranking(store, words, ALICE, 40)), question


HOSTILE = [
    ['"', "tea"],
    ["tea*", "NEAR(tea", "AND", "OR", "NOT"],
    ["text:tea", "scope:u616c696365", "^tea", "tea)", "(", "'"],
    ["tea-time", "naïve café"],  # several tokens: FTS5 phrases
    ["Tea", "TEA", "teas", "tea"],
    ["x" * 5000, "\u200d", "🧘", "中文"],
    ["", "   ", "-", "..."],
]


@pytest.mark.parametrize("words", HOSTILE)
def test_hostile_keywords_rank_as_fts5(tmp_path: Path, words: list[str]) -> None:
    texts = [
        "tea time with Caroline",
        "naïve café talk",
        "tea tea tea",
        "the scope u616c696365",
        "x" * 5000,
        "🧘 中文",
        '"quoted" NEAR(tea) AND teas',
    ]
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units(*texts), unit_vectors(len(texts)))
        store.add(BOB, units(*texts), unit_vectors(len(texts), seed=1))
        built(store)
        found = store.keyword_search(words, ALICE, 10)
        assert ranked(found) == ranked(
            _fts5_search(store._db.conn(), [w.strip() for w in words if w.strip()], ALICE, 10, None, 0.0)
        )
        assert all(item.user_id == "alice" for item in found)


def test_scopes_are_never_mixed(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("alice's secret garden"), unit_vectors(1))
        store.add(BOB, units("bob's secret garden", "secret plans"), unit_vectors(2, seed=1))
        store.add(
            Scope(user_id="alice", agent_id="a1"), units("secret of the agent"), unit_vectors(1, seed=2)
        )
        built(store)
        assert {i.text for i in store.keyword_search(["secret"], ALICE, 10)} == {
            "alice's secret garden",
            "secret of the agent",
        }
        assert [i.text for i in store.keyword_search(["secret"], Scope(agent_id="a1"), 10)] == [
            "secret of the agent"
        ]
        assert store.keyword_search(["secret"], Scope(user_id="carol"), 10) == []
        assert {i.user_id for i in store.keyword_search(["secret", "plans"], BOB, 10)} == {"bob"}


def test_every_change_of_any_writer_is_seen(tmp_path: Path) -> None:
    """The index is built on the first search, then follows update, delete, delete_all, reset and
    apply_changes, whether made through this store, another store object, or another process."""
    with SQLiteStore(tmp_path, DIM) as store, SQLiteStore(tmp_path, DIM) as other:
        (kept, changed, dropped) = store.add(
            ALICE, units("kept tea", "changed tea", "dropped tea"), unit_vectors(3)
        )
        built(store)
        assert len(store.keyword_search(["tea"], ALICE, 10)) == 3
        other.update(changed.id, "now coffee", unit_vectors(1, seed=3)[0])
        other.delete(dropped.id)
        assert [i.id for i in store.keyword_search(["tea"], ALICE, 10)] == [kept.id]
        assert [i.text for i in store.keyword_search(["coffee"], ALICE, 10)] == ["now coffee"]
        store.apply_changes(
            [Change(kind="update", memory_id=kept.id, text="kept chess", vector=unit_vectors(1)[0])]
        )
        assert store.keyword_search(["tea"], ALICE, 10) == []
        script = textwrap.dedent(
            f"""
            import numpy as np
            from lightmem.store import SQLiteStore
            from lightmem.types import ExtractedUnit, Scope
            with SQLiteStore({str(tmp_path)!r}, {DIM}) as store:
                vector = np.ones((1, {DIM}), dtype=np.float32) / {DIM} ** 0.5
                store.add(Scope(user_id="alice"), [ExtractedUnit("written elsewhere", ("m1",))], vector)
            """
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        assert [i.text for i in store.keyword_search(["elsewhere"], ALICE, 10)] == ["written elsewhere"]
        other.delete_all(ALICE)
        assert store.keyword_search(["chess", "coffee", "elsewhere"], ALICE, 10) == []
        store.add(BOB, units("bob's tea"), unit_vectors(1))
        other.reset()
        assert store.keyword_search(["tea"], BOB, 10) == []


def test_filters_and_deleted_hits_still_give_limit_hits(tmp_path: Path) -> None:
    """The index may hold hits the read transaction no longer sees (deleted since) and time bounds
    leave out: more of its hits are then asked for until `limit` are found or none are left."""
    with SQLiteStore(tmp_path, DIM) as store:
        items = store.add(ALICE, units(*(f"tea note {i}" for i in range(30))), unit_vectors(30))
        built(store)
        for item in items[:20]:
            store._db.conn().execute(
                "UPDATE units SET deleted = 1 WHERE id = ?", (item.id,)
            )  # no seq: unseen
        store._db.conn().commit()
        found = store.keyword_search(["tea"], ALICE, 5)
        assert len(found) == 5 and {i.id for i in found} <= {i.id for i in items[20:]}


@pytest.mark.parametrize(
    "words", [["tea"], ["tea", "garden", "chess"], ["Caroline"], ["absent"], ["tea-time"]]
)
def test_buffered_messages_rank_as_fts5(tmp_path: Path, words: list[str]) -> None:
    """The buffer's keyword search scores with the units' index and the scope's messages as documents,
    and so does the units' search: with every buffered message in the searched scope, FTS5's statistics
    are the same, so are both rankings and scores."""
    messages = [
        {"role": "user", "name": "Caroline", "content": "tea in the garden", "id": "m1"},
        {"role": "assistant", "content": "chess and tea, tea", "id": "m2"},
        {"role": "user", "content": "nothing to see", "id": "m3"},
        {"role": "user", "name": "Mel", "content": "tea-time with Caroline", "id": "m4"},
    ]
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units("tea for two", "a garden of tea"), unit_vectors(2))
        store.add(BOB, units("tea elsewhere"), unit_vectors(1, seed=1))
        store.pending_add(ALICE, messages, [4, 5, 3, 3], unit_vectors(4, seed=2))
        built(store)
        found = store.pending_keyword_search(words, ALICE, 10)
        match = keyword_match(words, ALICE, True)
        assert match is not None
        expected = by_fts5_keywords(store._db.conn(), match, ALICE, 10, None, 0.0)
        assert ranked(found) == ranked(expected)
        assert [item.text for item in found] == [item.text for item in expected]
        assert store.pending_keyword_search(words, BOB, 10) == []
        # the units' scores count the buffered messages in too, as FTS5's did
        units_found = store.keyword_search(words, ALICE, 10)
        assert ranked(units_found) == ranked(_fts5_search(store._db.conn(), words, ALICE, 10, None, 0.0))


def test_searches_of_many_threads_while_another_writes(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units(*(f"tea note {i}" for i in range(50))), unit_vectors(50))
        built(store)
        errors: list[BaseException] = []

        def search() -> None:
            try:
                for _ in range(30):
                    found = store.keyword_search(["tea", "note"], ALICE, 5)
                    assert len(found) == 5 and all(item.user_id == "alice" for item in found)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(4)]
        for thread in threads:
            thread.start()
        for i in range(10):
            store.add(BOB, units(f"tea for bob {i}"), unit_vectors(1, seed=i))
            store.add(ALICE, units(f"new tea {i}"), unit_vectors(1, seed=i))
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(store.keyword_search(["tea"], ALICE, 100)) == 60


def test_the_first_search_does_not_wait_for_the_index(tmp_path: Path) -> None:
    """The first keyword search starts the index's build in the background and is answered by FTS5 (the
    same ranking); the searches after the build go through the index; closing the store during a build
    stops it."""
    texts = [f"note {i} about tea and chess" for i in range(300)]
    with SQLiteStore(tmp_path, DIM) as store:
        store.add(ALICE, units(*texts), unit_vectors(len(texts)))
        assert store._keywords.nbytes == 0
        first = store.keyword_search(["tea", "chess"], ALICE, 10)
        built(store)
        assert store._keywords.nbytes > 0
        assert ranked(store.keyword_search(["tea", "chess"], ALICE, 10)) == ranked(first)
    with SQLiteStore(tmp_path, DIM) as store:
        store.keyword_search(["tea"], ALICE, 10)  # starts a build that `close` stops or waits for
    assert not [t for t in threading.enumerate() if t.name == "lightmem-keyword-index"]
