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
average length is that of the matching documents, not of all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

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
    ranking = (
        f"SELECT rowid AS hit, vector <=> %s::vector AS distance FROM lightmem_units WHERE {where} "
        f"ORDER BY (vector <=> %s::vector) + 0, rowid {'' if checked else 'LIMIT %s'}"
    )
    args = [vector, *params, vector, *([] if checked else [limit])]
    rows = conn.execute(_best_rows(ranking), args).fetchall()
    return take(((row, float(row[-1])) for row in rows), filters, limit)


def _best_rows(ranking: str) -> str:
    """The item columns and cosine of the rows a `ranking` query (hit, distance) gives, in its order:
    the columns are computed for those rows only, not for every row ranked."""
    return (
        f"SELECT {ITEM_COLUMNS}, 1 - ranked.distance FROM ({ranking}) AS ranked "
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
        conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        ranking = (
            f"SELECT rowid AS hit, vector <=> %s::vector AS distance FROM lightmem_units WHERE {where} "
            "ORDER BY vector <=> %s::vector LIMIT %s"
        )
        rows = conn.execute(_best_rows(ranking), [vector, *params, vector, limit]).fetchall()
        if len(rows) >= limit:
            return [(row, float(row[-1])) for row in rows]
        if ef >= _MAX_EF_SEARCH:
            return None
        ef *= 4


def tsquery(keywords: Sequence[str]) -> tuple[str, list[Any]]:
    """The full-text query matching any of `keywords` (each a phrase), and its parameters."""
    phrases = " || ".join([f"phraseto_tsquery('{TEXT_CONFIG}', %s)"] * len(keywords))
    return f"({phrases})", list(keywords)


def bm25_sql(keywords: Sequence[str], scope_condition: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """The query (hit, score) of the BM25 of every unit (hit: its rowid) and buffered message (hit: minus
    its rowid) of the scope that matches any of `keywords` (see the module's docstring), and its
    parameters."""
    where, params = scope_condition
    query, query_params = tsquery(keywords)
    sql = f"""
        WITH terms AS (
            SELECT tsvector_to_array(to_tsvector('{TEXT_CONFIG}', %s)) AS lexemes
        ), hits AS (
            SELECT rowid AS hit, words AS doc FROM lightmem_units
            WHERE NOT deleted AND {where} AND words @@ {query}
            UNION ALL
            SELECT -rowid, line_words FROM lightmem_pending WHERE {where} AND line_words @@ {query}
        ), docs AS (
            SELECT (SELECT COUNT(*) FROM lightmem_units WHERE NOT deleted AND {where})
                 + (SELECT COUNT(*) FROM lightmem_pending WHERE {where}) AS n,
                   (SELECT GREATEST(AVG(length(doc)), 1) FROM hits) AS avgdl
        ), tf AS (
            SELECT hit, length(doc) AS dl, entry.lexeme, COALESCE(array_length(entry.positions, 1), 1) AS tf
            FROM hits, unnest(doc) AS entry, terms WHERE entry.lexeme = ANY(terms.lexemes)
        ), df AS (
            SELECT lexeme, COUNT(DISTINCT hit) AS n FROM tf GROUP BY lexeme
        )
        SELECT hit, SUM(
            GREATEST(ln((docs.n - df.n + 0.5) / (df.n + 0.5)), 1e-6)
            * tf.tf * {_K1 + 1} / (tf.tf + {_K1} * (1 - {_B} + {_B} * tf.dl / docs.avgdl))
        ) AS score
        FROM tf JOIN df USING (lexeme) CROSS JOIN docs GROUP BY hit
    """
    return sql, [" ".join(keywords), *params, *query_params, *params, *query_params, *params, *params]


def bm25(
    conn: Connection, keywords: Sequence[str], scope_condition: tuple[str, list[Any]], min_score: float
) -> dict[int, float]:
    """The `bm25_sql` scores of the buffered messages scoring at least `min_score`, by pending rowid."""
    sql, args = bm25_sql(keywords, scope_condition)
    rows = conn.execute(
        f"SELECT -hit, score FROM ({sql}) AS scored WHERE hit < 0 AND score >= %s", [*args, min_score]
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
    """The `limit` best units by `bm25_sql` scoring at least `min_score` that meet `live_condition`
    (scope and time bounds) and the metadata part of `filters`, best first; the item columns are built
    for those units only."""
    scored, args = bm25_sql(keywords, scope_condition)
    where, params = live_condition
    checked = filters is not None and bool(filters.metadata)  # rows are checked in Python: read them all
    sql = (
        f"SELECT {ITEM_COLUMNS}, best.score FROM (SELECT hit, score FROM ({scored}) AS scored "
        f"JOIN lightmem_units ON lightmem_units.rowid = scored.hit WHERE hit > 0 AND score >= %s AND {where} "
        f"ORDER BY score DESC, hit {'' if checked else 'LIMIT %s'}) AS best "
        "JOIN lightmem_units ON lightmem_units.rowid = best.hit ORDER BY best.score DESC, best.hit"
    )
    rows = conn.execute(sql, [*args, min_score, *params, *([] if checked else [limit])]).fetchall()
    return take(((row, float(row[-1])) for row in rows), filters, limit)
