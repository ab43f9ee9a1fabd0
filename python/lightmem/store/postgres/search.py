"""Search in PostgreSQL: by meaning over the HNSW index (or exactly, for a small scope), and by keywords
with BM25 computed over the full-text index.

Vector search: pgvector 0.6 filters the index's candidates after the scan (no iterative scan), so a scope
that is a small part of the store is searched exactly (its units read through the scope index and
sorted by distance) and a large one through the index, asking it for more candidates (`hnsw.ef_search`)
until `limit` of them are in scope.

Keyword search: SQLite's FTS5 BM25 (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), at least
1e-6), computed in SQL from the tsvectors of the matching units and buffered messages of the scope
(English stemming and stop words of PostgreSQL's `english` configuration). It differs from FTS5's in
three ways: N (documents) and n (documents with the term) count the scope's units and messages, not the
whole store's; a document's length is its number of distinct lexemes (stop words left out), and the
average length is that of the matching documents, not of all. As on SQLite, only the query's rarest
words within `keyword_budget.POSTINGS_BUDGET` matches are scored (counted in the scope, units and
buffer, where SQLite counts the whole store's units).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from lightmem.store import keyword_budget
from lightmem.store.filters import SearchFilters
from lightmem.store.postgres.connection import Connection
from lightmem.store.postgres.schema import TEXT_CONFIG
from lightmem.store.postgres.sql import ITEM_COLUMNS, VectorParam, vector_param
from lightmem.store.rows import take

_MAX_EF_SEARCH = 1000
"""pgvector's largest `hnsw.ef_search`; a scope still short of hits after it is searched exactly."""
_K1 = 1.2
_B = 0.75

Hits = list[tuple[Sequence[Any], float]]


def ranked(
    conn: Connection,
    query: np.ndarray,
    condition: tuple[str, list[Any]],
    filters: Optional[SearchFilters],
    limit: int,
    *,
    oversample: int,
    exact_scan_max: int,
) -> Hits:
    """The `limit` best (row of `ITEM_COLUMNS`, cosine) of the units meeting the SQL `condition` and the
    metadata part of `filters`."""
    where, params = condition
    checked = filters is not None and bool(filters.metadata)  # rows are checked in Python: read them all
    bounded = f"SELECT COUNT(*) FROM (SELECT 1 FROM lightmem_units WHERE {where} LIMIT %s) AS s"
    count_row = conn.execute(bounded, [*params, exact_scan_max + 1]).fetchone()
    in_scope = int(count_row[0]) if count_row else 0
    if in_scope == 0:
        return []
    vector = vector_param(query)
    if in_scope > exact_scan_max and not checked:
        hits = _index_search(conn, vector, where, params, limit, oversample)
        if hits is not None:
            return hits
    # `+ 0`: an order the HNSW index cannot give, so that every row of the condition is ranked
    select = (
        f"SELECT rowid AS hit, vector <=> %s::vector AS distance FROM lightmem_units WHERE {where} "
        "ORDER BY (vector <=> %s::vector) + 0, rowid LIMIT %s"
    )
    args = [vector, *params, vector, None if checked else limit]  # LIMIT NULL: no limit
    rows = conn.execute(_best_rows(select), args).fetchall()
    return take(((row, float(row[-1])) for row in rows), filters, limit)


def _best_rows(select: str) -> str:
    """The item columns and cosine of the rows a ranking query `select` (hit, distance) gives, in its
    order: the columns are computed for those rows only, not for every row ranked."""
    return (
        f"SELECT {ITEM_COLUMNS}, 1 - ranked.distance FROM ({select}) AS ranked "
        "JOIN lightmem_units ON lightmem_units.rowid = ranked.hit ORDER BY ranked.distance, ranked.hit"
    )


def _index_search(
    conn: Connection, vector: VectorParam, where: str, params: list[Any], limit: int, oversample: int
) -> Optional[Hits]:
    """The `limit` best units through the HNSW index, widening its search until `limit` are in scope;
    None if even the widest search finds fewer (the caller then searches exactly)."""
    ef = max(40, limit * oversample)
    while True:
        ef = min(ef, _MAX_EF_SEARCH)
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(int(ef))])
        select = (
            f"SELECT rowid AS hit, vector <=> %s::vector AS distance FROM lightmem_units WHERE {where} "
            "ORDER BY vector <=> %s::vector LIMIT %s"
        )
        rows = conn.execute(_best_rows(select), [vector, *params, vector, limit]).fetchall()
        if len(rows) >= limit:
            return [(row, float(row[-1])) for row in rows]
        if ef >= _MAX_EF_SEARCH:
            return None
        ef *= 4


def tsquery_text(keywords: Sequence[str]) -> str:
    """`to_tsquery` input matching any of `keywords`: each one quoted (its words then form a phrase,
    as FTS5's quoted terms), joined by OR. A parameter, never SQL text."""
    quoted = ("'" + keyword.replace("\\", "\\\\").replace("'", "''") + "'" for keyword in keywords)
    return " | ".join(quoted)


_BM25 = """
    WITH query AS (
        SELECT to_tsquery(%(config)s::regconfig, %(query)s) AS q,
               tsvector_to_array(to_tsvector(%(config)s::regconfig, %(words)s)) AS lexemes
    ), hits AS (
        SELECT rowid AS hit, words AS doc FROM lightmem_units, query
        WHERE NOT deleted AND {where} AND words @@ query.q
        UNION ALL
        SELECT -rowid, line_words FROM lightmem_pending, query WHERE {where} AND line_words @@ query.q
    ), docs AS (
        SELECT (SELECT COUNT(*) FROM lightmem_units WHERE NOT deleted AND {where})
             + (SELECT COUNT(*) FROM lightmem_pending WHERE {where}) AS n,
               (SELECT GREATEST(AVG(length(doc)), 1) FROM hits) AS avgdl
    ), tf AS (
        SELECT hit, length(doc) AS dl, entry.lexeme, COALESCE(array_length(entry.positions, 1), 1) AS tf
        FROM hits, unnest(doc) AS entry, query WHERE entry.lexeme = ANY(query.lexemes)
    ), df AS (
        SELECT lexeme, COUNT(DISTINCT hit) AS n FROM tf GROUP BY lexeme
    )
    SELECT hit, SUM(
        GREATEST(ln((docs.n - df.n + 0.5) / (df.n + 0.5)), 1e-6)
        * tf.tf * (%(k1)s + 1) / (tf.tf + %(k1)s * (1 - %(b)s + %(b)s * tf.dl / docs.avgdl))
    ) AS score
    FROM tf JOIN df USING (lexeme) CROSS JOIN docs GROUP BY hit
"""
"""BM25 (hit, score) of the units (hit: rowid) and buffered messages (hit: minus the rowid) of a scope
(its condition in place of `{where}`) matching the query; see the module's docstring."""


def bm25_sql(keywords: Sequence[str], scope_condition: tuple[str, list[Any]]) -> tuple[str, dict[str, Any]]:
    """`_BM25` for any of `keywords` within the scope of `scope_condition` (a condition with positional
    placeholders, rewritten to named ones), and its named parameters."""
    where, params = scope_condition
    names = [f"scope{i}" for i in range(len(params))]
    for name in names:
        where = where.replace("%s", f"%({name})s", 1)
    values = {"config": TEXT_CONFIG, "query": tsquery_text(keywords), "words": " ".join(keywords)}
    return _BM25.replace("{where}", where), {**values, "k1": _K1, "b": _B, **dict(zip(names, params))}


def within_budget(
    conn: Connection, keywords: Sequence[str], scope_condition: tuple[str, list[Any]]
) -> list[str]:
    """The rarest of `keywords` whose matches among the units and buffered messages of the scope add up
    to at most `keyword_budget.POSTINGS_BUDGET` (each word's counted up to the budget + 1 through the GIN
    indexes), as the SQLite store keeps them; words nothing matches are left out. BM25 in SQL costs tens
    of microseconds a matching unit: without the budget a word in 20k units took 0.8 s."""
    budget = keyword_budget.POSTINGS_BUDGET
    where, params = scope_condition
    count = (
        "SELECT COUNT(*) FROM ((SELECT 1 FROM lightmem_units WHERE NOT deleted AND {where} "
        "AND words @@ to_tsquery(%s::regconfig, %s) LIMIT %s) UNION ALL (SELECT 1 FROM lightmem_pending "
        "WHERE {where} AND line_words @@ to_tsquery(%s::regconfig, %s) LIMIT %s)) AS matches"
    ).replace("{where}", where)
    matches: dict[str, int] = {}
    for word in keywords:
        query = [TEXT_CONFIG, tsquery_text([word]), budget + 1]
        row = conn.execute(count, [*params, *query, *params, *query]).fetchone()
        matches[word] = int(row[0]) if row else 0
    return keyword_budget.rarest_within(matches, budget)


def bm25(
    conn: Connection, keywords: Sequence[str], scope_condition: tuple[str, list[Any]], min_score: float
) -> dict[int, float]:
    """The `bm25_sql` scores of the buffered messages scoring at least `min_score`, by pending rowid, over
    the words `within_budget`."""
    words = within_budget(conn, keywords, scope_condition)
    if not words:
        return {}
    sql, args = bm25_sql(words, scope_condition)
    rows = conn.execute(
        f"SELECT -hit, score FROM ({sql}) AS scored WHERE hit < 0 AND score >= %(min_score)s",
        {**args, "min_score": min_score},
    )
    return {int(hit): float(score) for hit, score in rows}


def keyword_units(
    conn: Connection,
    keywords: Sequence[str],
    scope_condition: tuple[str, list[Any]],
    live_condition: tuple[str, list[Any]],
    filters: Optional[SearchFilters],
    limit: int,
    min_score: float,
) -> Hits:
    """The `limit` best units by `bm25_sql` over the words `within_budget`, scoring at least `min_score`,
    that meet `live_condition` (scope and time bounds) and the metadata part of `filters`, best first;
    the item columns are built for those units only."""
    words = within_budget(conn, keywords, scope_condition)
    if not words:
        return []
    select, args = bm25_sql(words, scope_condition)
    where, params = live_condition
    names = [f"live{i}" for i in range(len(params))]
    for name in names:
        where = where.replace("%s", f"%({name})s", 1)
    checked = filters is not None and bool(filters.metadata)  # rows are checked in Python: read them all
    sql = (
        f"SELECT {ITEM_COLUMNS}, best.score FROM (SELECT hit, score FROM ({select}) AS scored "
        "JOIN lightmem_units ON lightmem_units.rowid = scored.hit "
        f"WHERE hit > 0 AND score >= %(min_score)s AND {where} "
        "ORDER BY score DESC, hit LIMIT %(limit)s) AS best "
        "JOIN lightmem_units ON lightmem_units.rowid = best.hit ORDER BY best.score DESC, best.hit"
    )
    values = {**args, **dict(zip(names, params)), "min_score": min_score, "limit": None if checked else limit}
    rows = conn.execute(sql, values).fetchall()
    return take(((row, float(row[-1])) for row in rows), filters, limit)
