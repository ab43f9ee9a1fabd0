"""Sleep-time consolidation: the offline pass that merges duplicates and resolves conflicts.

A pass looks only at the units not consolidated yet and at their nearest neighbours in the index, so
its cost grows with what is new, never with the whole store:

1. candidates: each new unit's `consolidate_neighbors` nearest units of its exact scope; the Rust kernel
   (`cluster_knn`, union-find over that kNN graph) groups units at least `conflict_similarity` apart;
2. duplicates (same normalised text, or at least `duplicate_similarity` apart and MinHash text Jaccard
   of at least `DUPLICATE_JACCARD`) are settled without the LLM: the oldest copy stays;
3. the remaining clusters go to the LLM, `batch_size` clusters of one scope per call, numbered memory by
   memory; the answer lists the units that change (the others are kept), and each decision stands or
   falls on its own: one naming a unit that is not in its request, or contradicting another, is dropped;
4. each cluster's changes (re-embedded texts, deletions, and the consolidated marks) are applied in one
   short transaction, with every change recorded in history; the store refuses a change of a unit
   outside the cluster's scope.

Scopes are consolidated one after the other and independently: no LLM request shows the memories of
two scopes, and an unexpected error in one scope is logged and counted (`scopes_failed`) while the
others go on. An answer with nothing usable (not JSON, too many items, every item invalid) is asked for
once more with a note saying what was wrong. A second answer no better is the model's answer all the
same (asking again, unchanged, would cost as much for the same answer): its clusters are settled
without LLM decisions (their duplicates merged, every other memory kept as it is, the members marked
consolidated) and counted in `clusters_unjudged`; such a cluster is asked again only when a new unit
joins it. An LLM error (unreachable, timed out, retries exhausted) is transient, and a unit changed by
the user meanwhile is news: both change nothing for their clusters, whose new units stay
unconsolidated and are looked at again by the next pass. A second pass with nothing new does nothing.
`SleepScheduler` runs passes in a background thread when the memory is idle.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Optional

import numpy as np
from tqdm import tqdm  # type: ignore[import-untyped]

from lightmem._core import cluster_knn, minhash_signatures, minhash_similarity
from lightmem.after_fork import reset_in_child
from lightmem.config import LightMemConfig
from lightmem.counted_llm import CountedLLM, pass_counts
from lightmem.embedding import Embedder
from lightmem.limits import check_int
from lightmem.llm import LLM, Completion, LLMError
from lightmem.prompts import (
    CONSOLIDATE_ANSWER_FORM,
    RETRY_CHANGES_CUT_OFF,
    RETRY_NO_CHANGES,
    RETRY_NO_VALID_CHANGE,
    RETRY_TOO_MANY_CHANGES,
    ClusterMember,
    Decision,
    InvalidLLMOutput,
    TooManyItems,
    build_consolidate_request,
    build_retry_request,
    consolidate_answer_format,
    read_consolidate_answer,
)
from lightmem.store import Change, MemoryStore, UpdateEvent, VersionConflict
from lightmem.text_keys import embedding_text, text_hash
from lightmem.types import MemoryItem, Scope

logger = logging.getLogger("lightmem")

DUPLICATE_JACCARD = 0.8
"""MinHash estimate of the Jaccard similarity of two texts' word shingles at or above which two units at
least `duplicate_similarity` apart are near-exact duplicates."""
DUPLICATE_SHINGLE = 2
"""Words per MinHash shingle: bigrams tell "flight at 5pm" from "flight at 7pm" in short texts."""
DUPLICATE_PERMUTATIONS = 128
"""MinHash signature length: the Jaccard estimate's standard error is at most 0.5 / sqrt(128) = 0.044."""
_NUMBER = re.compile(r"\d+")
MARK_CHUNK = 1000
"""Units without any candidate are marked consolidated this many per transaction."""


@dataclass(frozen=True)
class ConsolidationReport:
    """What one consolidation pass looked at, changed and cost."""

    scopes: int
    """Scopes that had unconsolidated units."""
    scopes_failed: int
    """Scopes whose consolidation stopped at an unexpected error (logged; the other scopes went on)."""
    units_examined: int
    """Unconsolidated units looked at."""
    clusters_found: int
    """Groups of at least two similar units (each holding at least one new unit)."""
    duplicates_merged: int
    """Units deleted as duplicates of an older unit, without an LLM call."""
    updated: int
    """Units whose text the LLM rewrote."""
    merged: int
    """Units the LLM merged into another unit (and removed)."""
    deleted: int
    """Units the LLM deleted as superseded or redundant."""
    decisions_dropped: int
    """The LLM's decisions dropped as invalid (logged), their memories kept: two decisions for one
    memory, a rewrite keeping less than half of the memory's words, and the other problems of
    `read_consolidate_answer` (a decision naming a memory outside its request is logged on its own)."""
    clusters_unjudged: int
    """Clusters kept as they were because the LLM gave no usable answer twice (logged): only their
    duplicates were merged, and they are asked again only when a new unit joins them."""
    clusters_deferred: int
    """Clusters left unconsolidated for the next pass because the LLM failed on them (unreachable, timed
    out, retries exhausted; logged)."""
    llm_calls: int
    llm_retries: int
    """Second requests, with a note, after an answer with nothing usable (counted in `llm_calls` too)."""
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    """Wall-clock time of the pass."""

    def as_dict(self) -> dict[str, float]:
        """The report as a plain dict."""
        return asdict(self)


@dataclass
class _Tally:
    """The counters of a pass in progress."""

    scopes: int = 0
    scopes_failed: int = 0
    units_examined: int = 0
    clusters_found: int = 0
    duplicates_merged: int = 0
    updated: int = 0
    merged: int = 0
    deleted: int = 0
    decisions_dropped: int = 0
    clusters_unjudged: int = 0
    clusters_deferred: int = 0
    llm_calls: int = 0
    llm_retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def report(self, seconds: float) -> ConsolidationReport:
        return ConsolidationReport(**asdict(self), seconds=seconds)


@dataclass
class _Cluster:
    """Similar units of one scope, oldest first, with the duplicates among them already settled."""

    members: list[MemoryItem]
    new_ids: frozenset[str]
    duplicate_of: dict[str, str] = field(default_factory=dict)
    """Ids of members deleted as duplicates -> the id of the older member kept in their place."""

    @property
    def survivors(self) -> list[MemoryItem]:
        """The members that are not duplicates, oldest first."""
        return [m for m in self.members if m.id not in self.duplicate_of]

    @property
    def needs_llm(self) -> bool:
        """Whether the LLM must judge it: two or more survivors, one of them new."""
        survivors = self.survivors
        return len(survivors) > 1 and any(m.id in self.new_ids for m in survivors)

    def request(self) -> list[ClusterMember]:
        """The survivors as the consolidation prompt shows them."""
        return [(m.id, m.text, _when(m)) for m in self.survivors]


def consolidate(
    store: MemoryStore,
    llm: LLM,
    embedder: Embedder,
    config: LightMemConfig,
    scope: Optional[Scope] = None,
    *,
    batch_size: int = 8,
    max_cluster_size: int = 12,
    progress: bool = False,
    cancel: Optional[threading.Event] = None,
) -> ConsolidationReport:
    """One consolidation pass over the unconsolidated units (of `scope`, or of every scope).

    Each exact scope is consolidated on its own: an LLM request holds the clusters of one scope only, and
    an unexpected error in a scope is logged and counted in `scopes_failed` while the others go on.
    `batch_size`: clusters sent to the LLM per call. `max_cluster_size`: a larger group of similar units
    is split around its new units. `progress`: show a progress bar. `cancel`: when set, the pass stops
    at the next scope or cluster batch (what is left stays unconsolidated for the next pass).
    """
    check_int(batch_size, "batch_size", low=1)
    check_int(max_cluster_size, "max_cluster_size", low=2)
    start = time.perf_counter()
    tally = _Tally()
    by_scope: dict[tuple[Optional[str], ...], list[tuple[MemoryItem, np.ndarray]]] = defaultdict(list)
    for item, vector in store.unconsolidated(scope):
        by_scope[item.scope_key].append((item, vector))
    with tqdm(total=0, desc="consolidate", unit="cluster", disable=not progress) as bar:
        for key, units in by_scope.items():
            if cancel is not None and cancel.is_set():
                break
            unit_scope = Scope(*key)
            # the claim keeps other processes (and machines) from consolidating the scope meanwhile
            with store.claim("consolidate", unit_scope) as held, _scope_failures(unit_scope, tally):
                if not held:
                    continue  # another process consolidates it now
                tally.scopes += 1
                tally.units_examined += len(units)
                clusters, lonely = _find_clusters(store, config, unit_scope, units, max_cluster_size)
                _mark(store, unit_scope, lonely)
                tally.clusters_found += len(clusters)
                bar.total += len(clusters)
                bar.refresh()
                for batch in _batches(clusters, batch_size):
                    if cancel is not None and cancel.is_set():
                        break
                    counted = CountedLLM(llm, store, unit_scope)  # in the scope's lifetime counters
                    _settle_batch(store, counted, embedder, unit_scope, batch, tally)
                    bar.update(len(batch))
    return tally.report(time.perf_counter() - start)


@contextmanager
def _scope_failures(scope: Scope, tally: _Tally) -> Iterator[None]:
    """Log and count an unexpected error of one scope's consolidation instead of raising it, so that the
    other scopes go on (what the scope had left stays unconsolidated for the next pass)."""
    try:
        yield
    except Exception:
        logger.exception("consolidation of %s failed; the other scopes go on", scope)
        tally.scopes_failed += 1


# --- candidates -----------------------------------------------------------------------------------------


def _when(item: MemoryItem) -> datetime:
    """The time a unit's fact refers to: its event time, else when it was stored."""
    return item.event_time or item.created_at


def _age_key(item: MemoryItem) -> tuple[datetime, datetime, str]:
    """Sort key, oldest first: fact time, then storage time, then id (a total, deterministic order)."""
    return (_when(item), item.created_at, item.id)


def _find_clusters(
    store: MemoryStore,
    config: LightMemConfig,
    scope: Scope,
    units: Sequence[tuple[MemoryItem, np.ndarray]],
    max_size: int,
) -> tuple[list[_Cluster], list[MemoryItem]]:
    """The clusters around the new `units` of one exact scope, and the new units in none."""
    nodes, neighbors, similarities = _knn_graph(store, config, scope, units)
    duplicate = _duplicate_edges(nodes, neighbors, similarities, config.duplicate_similarity)
    similarities = np.where(duplicate, np.float32(1.0), similarities)
    linked = np.where(similarities >= config.conflict_similarity, neighbors, -1)
    groups = _groups(cluster_knn(linked, similarities, config.conflict_similarity))
    duplicate_of = _duplicate_map(
        nodes, _groups(cluster_knn(np.where(duplicate, neighbors, -1), similarities, -1.0))
    )
    new_ids = frozenset(item.id for item, _ in units)
    clusters = []
    for group in groups:
        members = sorted((nodes[i] for i in group), key=_age_key)
        cluster = _Cluster(
            members, new_ids, {m.id: duplicate_of[m.id] for m in members if m.id in duplicate_of}
        )
        clusters += _split(cluster, nodes, linked, max_size)
    clustered = {m.id for cluster in clusters for m in cluster.members}
    return clusters, [item for item, _ in units if item.id not in clustered]


def _knn_graph(
    store: MemoryStore, config: LightMemConfig, scope: Scope, units: Sequence[tuple[MemoryItem, np.ndarray]]
) -> tuple[list[MemoryItem], np.ndarray, np.ndarray]:
    """Nodes (the new units first, then the older neighbours they bring in) and each node's kNN row
    (node indices padded with -1, cosine similarities); the rows of older neighbours are empty."""
    k = config.consolidate_neighbors
    nodes = [item for item, _ in units]
    index = {item.id: i for i, item in enumerate(nodes)}
    found = store.neighbors_batch(np.stack([vector for _, vector in units]), scope, k + 1, exact_scope=True)
    rows: list[list[tuple[int, float]]] = []
    for (item, _), hits in zip(units, found):
        row = []
        for other, similarity in hits:
            if other.id == item.id:
                continue
            if other.id not in index:
                index[other.id] = len(nodes)
                nodes.append(other)
            row.append((index[other.id], similarity))
        rows.append(row[:k])
    neighbors = np.full((len(nodes), k), -1, dtype=np.int64)
    similarities = np.zeros((len(nodes), k), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, (node, similarity) in enumerate(row):
            neighbors[i, j], similarities[i, j] = node, similarity
    return nodes, neighbors, similarities


def _duplicate_edges(
    nodes: Sequence[MemoryItem], neighbors: np.ndarray, similarities: np.ndarray, threshold: float
) -> np.ndarray:
    """Which kNN edges join near-exact duplicates: the same normalised text, or cosine similarity
    >= `threshold`, MinHash Jaccard of word bigrams >= `DUPLICATE_JACCARD` and the same numbers ("at
    5pm" is no duplicate of "at 7pm"); never two facts of different days (both event times known)."""
    valid = neighbors >= 0
    targets = np.where(valid, neighbors, 0)
    hashes = np.array([text_hash(node.text) for node in nodes])
    days = np.array([-1 if n.event_time is None else n.event_time.toordinal() for n in nodes], dtype=np.int64)
    same_day = (days[:, None] < 0) | (days[targets] < 0) | (days[:, None] == days[targets])
    close = valid & same_day & (similarities >= threshold)
    rows, cols = np.nonzero(close)
    if len(rows):
        pairs = np.stack([rows, neighbors[rows, cols]], axis=1).astype(np.int64)
        signatures = minhash_signatures(
            [node.text for node in nodes], num_perm=DUPLICATE_PERMUTATIONS, shingle=DUPLICATE_SHINGLE
        )
        numbers = [frozenset(_NUMBER.findall(node.text)) for node in nodes]
        same_numbers = np.array([numbers[i] == numbers[j] for i, j in pairs.tolist()], dtype=bool)
        close[rows, cols] = same_numbers & (minhash_similarity(signatures, pairs) >= DUPLICATE_JACCARD)
    edges: np.ndarray = close | (valid & same_day & (hashes[targets] == hashes[:, None]))
    return edges


def _groups(labels: np.ndarray) -> list[list[int]]:
    """Row indices grouped by cluster label, groups of at least two rows only, in label order."""
    members: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels.tolist()):
        if label >= 0:
            members[label].append(row)
    return [rows for _, rows in sorted(members.items()) if len(rows) > 1]


def _duplicate_map(nodes: Sequence[MemoryItem], duplicates: Sequence[Sequence[int]]) -> dict[str, str]:
    """For each group of duplicates: the id of every member but the oldest -> the oldest's id."""
    mapping = {}
    for rows in duplicates:
        kept, *rest = sorted((nodes[i] for i in rows), key=_age_key)
        mapping.update({item.id: kept.id for item in rest})
    return mapping


def _split(
    cluster: _Cluster, nodes: Sequence[MemoryItem], linked: np.ndarray, max_size: int
) -> list[_Cluster]:
    """`cluster` itself if its survivors fit in a prompt, else stars: each new survivor (oldest first) with
    its most similar linked neighbours not taken yet, at most `max_size` survivors each. Each duplicate
    goes with the star holding the unit kept in its place; the duplicates of units in no star (old units,
    as every new survivor is in a star) form one more cluster with those units, which needs no LLM."""
    survivors = cluster.survivors
    if len(survivors) <= max_size:
        return [cluster]
    position = {node.id: i for i, node in enumerate(nodes)}
    alive = {m.id for m in survivors}
    taken: set[str] = set()
    stars: list[list[MemoryItem]] = []
    for center in (m for m in survivors if m.id in cluster.new_ids and m.id not in taken):
        row = [nodes[j] for j in linked[position[center.id]].tolist() if j >= 0]
        star = [center, *(m for m in row if m.id in alive and m.id not in taken)][:max_size]
        taken.update(m.id for m in star)
        stars.append(star)
    home = {m.id: star for star in stars for m in star}
    members = {m.id: m for m in cluster.members}
    rest: dict[str, MemoryItem] = {}
    for duplicate, kept in cluster.duplicate_of.items():
        if kept in home:
            home[kept].append(members[duplicate])
        else:
            rest.update({duplicate: members[duplicate], kept: members[kept]})
    if rest:
        stars.append(list(rest.values()))
    return [
        _Cluster(
            sorted(star, key=_age_key),
            cluster.new_ids,
            {m.id: cluster.duplicate_of[m.id] for m in star if m.id in cluster.duplicate_of},
        )
        for star in stars
    ]


# --- settling -------------------------------------------------------------------------------------------


def _batches(clusters: Sequence[_Cluster], batch_size: int) -> Iterator[list[_Cluster]]:
    """Clusters with nothing left to ask alone (applied at once), the others `batch_size` at a time."""
    settled = [c for c in clusters if not c.needs_llm]
    conflicts = [c for c in clusters if c.needs_llm]
    for cluster in settled:
        yield [cluster]
    for start in range(0, len(conflicts), batch_size):
        yield conflicts[start : start + batch_size]


def _settle_batch(
    store: MemoryStore,
    llm: LLM,
    embedder: Embedder,
    scope: Scope,
    batch: Sequence[_Cluster],
    tally: _Tally,
) -> None:
    """Ask the LLM about the batch's conflicts (if any), then apply each cluster in its own transaction.
    Every cluster of the batch is of the exact `scope`, which the store checks each change against.
    A batch the LLM failed on is deferred (nothing changes); an unjudged one is applied without LLM
    decisions (see `_judge`)."""
    judged = _judge(llm, batch, tally)
    if judged is None:
        tally.clusters_deferred += len(batch)
        return
    decisions, unjudged = judged
    new_texts = _new_texts(decisions)
    items = {m.id: m for cluster in batch for m in cluster.members}
    to_embed = [embedding_text(text, items[mid].event_time) for mid, text in new_texts]
    new_vectors = dict(zip((mid for mid, _ in new_texts), embedder.embed(to_embed))) if to_embed else {}
    for cluster in batch:
        ids = {m.id for m in cluster.members}
        applied = _apply_cluster(
            store, scope, cluster, [d for d in decisions if d.memory_id in ids], new_vectors, tally
        )
        if applied and unjudged and cluster.needs_llm:
            tally.clusters_unjudged += 1


def _judge(llm: LLM, batch: Sequence[_Cluster], tally: _Tally) -> Optional[tuple[list[Decision], bool]]:
    """The LLM's decisions on the batch's conflicts (none to ask: no decision), and whether the batch is
    unjudged: the model answered twice with nothing usable, so its clusters are settled without LLM
    decisions (duplicates merged, the other memories kept as they are, the members marked consolidated)
    rather than asked the same again by every later pass. None (logged) when the LLM failed
    (`LLMError`: unreachable, timed out, retries exhausted): the batch is deferred to the next pass."""
    requests = [cluster.request() for cluster in batch if cluster.needs_llm]
    if not requests:
        return [], False
    try:
        decisions = _ask(llm, requests, tally)
    except LLMError as err:
        logger.warning("consolidation of %d cluster(s) deferred, the LLM failed: %s", len(requests), err)
        return None
    if decisions is None:
        logger.warning(
            "consolidation: no usable answer twice for %d cluster(s); their memories are kept as they are "
            "(only duplicates merged) until a new unit joins them",
            len(requests),
        )
        return [], True
    return decisions, False


def _ask(llm: LLM, requests: Sequence[list[ClusterMember]], tally: _Tally) -> Optional[list[Decision]]:
    """The LLM's decisions on the clusters of `requests`, or None (logged) when the model answered twice
    with nothing usable; `LLMError` when the LLM fails. An unusable answer (not JSON, too many items,
    every item invalid) is asked for once more with a note saying what was wrong, never the same request
    twice; the decisions of a usable answer are kept item by item (see `read_consolidate_answer`)."""
    request = build_consolidate_request(requests)
    answer_format = consolidate_answer_format(requests)
    messages = request
    for attempt in (1, 2):
        completion = llm.complete(messages, answer_format=answer_format)
        counts = pass_counts(llm, completion)  # the offline backend's pass is no LLM call
        tally.llm_calls += counts.get("llm_calls", 0)
        tally.prompt_tokens += counts.get("prompt_tokens", 0)
        tally.completion_tokens += counts.get("completion_tokens", 0)
        decisions, why = _read_decisions(completion, requests, tally)
        if decisions is not None:
            return decisions
        logger.warning("consolidation: invalid LLM answer (attempt %d of 2): %s", attempt, why)
        if attempt == 1:
            tally.llm_retries += 1
            messages = build_retry_request(request, why, answer_form=CONSOLIDATE_ANSWER_FORM)
    return None


def _read_decisions(
    completion: Completion, requests: Sequence[list[ClusterMember]], tally: _Tally
) -> tuple[Optional[list[Decision]], str]:
    """The decisions of a usable answer (some valid change, or no item in error), else why it is not
    usable (one of the ``RETRY_*`` texts of consolidation). Dropped items are logged and counted either
    way."""
    try:
        answer = read_consolidate_answer(completion.text, requests)
    except TooManyItems as err:
        logger.warning("consolidation answer refused: %s", err)
        return None, RETRY_TOO_MANY_CHANGES
    except InvalidLLMOutput as err:
        logger.warning("consolidation answer unreadable: %s", err)
        return None, RETRY_CHANGES_CUT_OFF if completion.truncated else RETRY_NO_CHANGES
    for problem in answer.problems:
        logger.warning("dropped a consolidation decision: %s", problem)
    tally.decisions_dropped += len(answer.problems)
    if not answer.problems or any(decision.action != "keep" for decision in answer.decisions):
        return answer.decisions, ""
    return None, RETRY_CHANGES_CUT_OFF if completion.truncated else RETRY_NO_VALID_CHANGE


def _new_texts(decisions: Sequence[Decision]) -> list[tuple[str, str]]:
    """(memory id, new text) for every unit the decisions rewrite: updated units and merge targets."""
    texts: dict[str, str] = {}
    for decision in decisions:
        if decision.action == "update" and decision.text is not None:
            texts[decision.memory_id] = decision.text
        elif decision.action == "merge" and decision.into is not None and decision.text is not None:
            texts[decision.into] = decision.text
    return list(texts.items())


def _apply_cluster(
    store: MemoryStore,
    scope: Scope,
    cluster: _Cluster,
    decisions: Sequence[Decision],
    new_vectors: Mapping[str, np.ndarray],
    tally: _Tally,
) -> bool:
    """Apply one cluster in one transaction: its duplicates, the LLM's decisions, the consolidated marks;
    whether it was applied.

    The newest unit of a cluster is never deleted: newer units may supersede older ones, not the reverse.
    Every change expects the version the pass read, so a unit changed meanwhile (by the user) defers the
    cluster to a later pass.
    """
    newest = cluster.survivors[-1].id
    decisions = [d for d in decisions if not (d.action == "delete" and d.memory_id == newest)]
    try:
        store.apply_changes(_cluster_changes(cluster, decisions, new_vectors), scope)
    except (KeyError, VersionConflict) as err:
        logger.warning("consolidation of a cluster deferred: %s", err)
        return False
    tally.duplicates_merged += len(cluster.duplicate_of)
    tally.updated += sum(d.action == "update" for d in decisions)
    tally.merged += sum(d.action == "merge" for d in decisions)
    tally.deleted += sum(d.action == "delete" for d in decisions)
    return True


def _cluster_changes(
    cluster: _Cluster, decisions: Sequence[Decision], new_vectors: Mapping[str, np.ndarray]
) -> list[Change]:
    """The updates (new texts, and the source ids taken over from absorbed units), the deletions, then the
    consolidated marks of one cluster, each expecting the member's version as the pass read it."""
    rewrites: dict[str, tuple[Optional[str], UpdateEvent, Optional[str]]] = {}  # id -> text, event, reason
    removals = {mid: f"duplicate of {kept}" for mid, kept in cluster.duplicate_of.items()}  # id -> reason
    for d in decisions:
        if d.action == "update" and d.text is not None:
            rewrites.setdefault(d.memory_id, (d.text, "UPDATE", d.reason))
        elif d.action == "merge" and d.into is not None and d.text is not None:
            rewrites[d.into] = (
                d.text,
                "MERGE",
                f"merged {d.memory_id}" + (f": {d.reason}" if d.reason else ""),
            )
            removals[d.memory_id] = f"merged into {d.into}"
        elif d.action == "delete":
            removals[d.memory_id] = d.reason or "superseded"
    sources = {mid: source for mid, source in _provenance(cluster, decisions).items() if mid not in removals}
    version = {m.id: m.version for m in cluster.members}
    changes = []
    for mid in dict.fromkeys([*rewrites, *sources]):
        text, event, reason = rewrites.get(mid, (None, "MERGE", "took over the sources of its duplicates"))
        vector = None if text is None else new_vectors[mid]
        changes.append(
            Change(
                kind="update",
                memory_id=mid,
                text=text,
                vector=vector,
                reason=reason,
                event=event,
                source=sources.get(mid),
                expected_version=version[mid],
            )
        )
    changes += [
        Change(kind="delete", memory_id=mid, reason=why, expected_version=version[mid])
        for mid, why in removals.items()
    ]
    kept = [m for m in cluster.members if m.id not in removals]
    return changes + [
        Change(kind="mark_consolidated", memory_id=m.id, expected_version=m.version) for m in kept
    ]


def _provenance(cluster: _Cluster, decisions: Sequence[Decision]) -> dict[str, tuple[str, ...]]:
    """The new source of each member that absorbs others (duplicates deleted in its favour, members the
    LLM merges into it, and what those absorbed): its own source ids, then theirs, oldest first, without
    repeats. Members whose source would not change are left out."""
    into = dict(cluster.duplicate_of)
    into.update({d.memory_id: d.into for d in decisions if d.action == "merge" and d.into is not None})
    absorbed: dict[str, list[MemoryItem]] = defaultdict(list)
    for member in cluster.members:
        target = into.get(member.id)
        while target in into:  # a kept duplicate merged by the LLM: its duplicates follow it
            target = into[target]
        if target is not None:
            absorbed[target].append(member)
    members = {m.id: m for m in cluster.members}
    sources = {}
    for target, others in absorbed.items():
        own = members[target].source
        source = tuple(dict.fromkeys([*own, *(s for other in others for s in other.source)]))
        if source != own:
            sources[target] = source
    return sources


def _mark(store: MemoryStore, scope: Scope, items: Sequence[MemoryItem]) -> None:
    """Mark units of the exact `scope` consolidated (if unchanged since the pass read them), `MARK_CHUNK`
    per transaction."""
    for start in range(0, len(items), MARK_CHUNK):
        chunk = items[start : start + MARK_CHUNK]
        try:
            store.apply_changes(
                [Change(kind="mark_consolidated", memory_id=i.id, expected_version=i.version) for i in chunk],
                scope,
            )
        except (KeyError, VersionConflict) as err:
            logger.info("units changed during consolidation are looked at again next time: %s", err)


# --- scheduling -----------------------------------------------------------------------------------------


class SleepScheduler:
    """Runs `consolidate` passes, in a daemon thread once the memory has been idle (no `touch`) for
    `config.consolidate_idle_s` seconds when `config.consolidate` is "background", else only on `run_now`.

    Passes never overlap within a process, and each cluster is applied in its own short transaction, so
    adds and searches go on at normal speed during a pass. A background pass runs again only after new
    activity; its errors are logged (and kept in `last_error`), never raised into the agent. A process
    forked from this one runs passes only on `run_now` (the parent's thread goes on consolidating).
    """

    def __init__(self, store: MemoryStore, llm: LLM, embedder: Embedder, config: LightMemConfig) -> None:
        self._store = store
        self._llm = llm
        self._embedder = embedder
        self._config = config
        self._run_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._last_touch = time.monotonic()
        self._dirty = True  # units left unconsolidated by an earlier process are looked at too
        self.last_report: Optional[ConsolidationReport] = None
        """The report of the latest finished pass."""
        self.last_error: Optional[Exception] = None
        """The error of the latest failed background pass (cleared by a successful one)."""
        self._thread: Optional[threading.Thread] = None
        if config.consolidate == "background":
            self._thread = threading.Thread(target=self._loop, name="lightmem-sleep", daemon=True)
            self._thread.start()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """In a forked child: new locks (a pass of the parent's may have held the pass lock at the fork, for
        ever in the child); the parent's thread is not there."""
        stopping = self._stopping.is_set()
        self._run_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        if stopping:
            self._stopping.set()
        self._thread = None

    def touch(self) -> None:
        """Note activity (an add or a search): the idle time starts again. Cheap; never waits for a pass."""
        with self._wake:
            self._last_touch = time.monotonic()
            if not self._dirty:
                self._dirty = True
                self._wake.notify_all()

    def run_now(
        self,
        scope: Optional[Scope] = None,
        *,
        progress: bool = False,
        cancel: Optional[threading.Event] = None,
    ) -> ConsolidationReport:
        """Run a pass in the calling thread (once a background pass in progress ends); return its report.
        `cancel`: the event that stops it early (default: `stop`'s)."""
        with self._run_lock:
            report = consolidate(
                self._store,
                self._llm,
                self._embedder,
                self._config,
                scope,
                progress=progress,
                cancel=self._stopping if cancel is None else cancel,
            )
        self.last_report = report
        return report

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop the background thread (a pass in progress ends after its current cluster batch) and join it
        for at most `timeout` seconds; True if no thread is left running. Later passes do nothing."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is None:
            return True
        if self._thread is threading.current_thread():  # a memory collected by its own thread's GC
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                idle = time.monotonic() - self._last_touch
                due = self._dirty and idle >= self._config.consolidate_idle_s
                if not due:
                    self._wake.wait(max(self._config.consolidate_idle_s - idle, 0.0) if self._dirty else None)
                    continue
                self._dirty = False
            try:
                self.run_now()
                self.last_error = None
            except Exception as err:
                logger.exception("background consolidation failed (it will be retried after new activity)")
                self.last_error = err  # published after the log line, which watchers may look for
