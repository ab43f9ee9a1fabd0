"""Tests of the benchmark package `lightmem_bench` (benches/, not in the runtime wheel): the LoCoMo harness's
metrics, baselines, mock server, whole runs on a tiny conversation, and the `lightmem-bench` command."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from fakes import LLMServer, Reply, ScriptedConsolidation
from hypothesis import given, settings
from hypothesis import strategies as st
from lightmem.cli import main as lightmem_main
from lightmem.conversations import Conversation, load_conversations
from lightmem.embedding import OnnxEmbedder
from lightmem.llm import OfflineLLM, OpenAIClient
from lightmem.prompts import Turn, build_extract_request, extract_answer_format
from lightmem_bench.baselines import PerTurnExtraction, VectorTable, WindowRAG, chunk_text, windows
from lightmem_bench.cli import main as bench_main
from lightmem_bench.counting_proxy import CountingProxy
from lightmem_bench.locomo import build_parser, main, scored_questions, system_specs, unit_sample
from lightmem_bench.meaning import (
    NegationCount,
    content_words,
    has_negation,
    negation_kept,
    score_answer_words,
    words_present,
)
from lightmem_bench.metrics import (
    Hit,
    by_category,
    percentiles_ms,
    recall,
    score_question,
    within_budget,
)
from lightmem_bench.mock_server import MockLLM, MockLLMServer, answer_question, judge_answer
from lightmem_bench.qa import build_answer_request, build_judge_request, parse_verdict, read_request
from lightmem_bench.report import markdown
from pg_server import PostgresServer

# --- a tiny LoCoMo conversation --------------------------------------------------------------------------

SESSIONS = [
    [
        ("Ana", "Hi Ben! I adopted a grey cat named Pixel last week."),
        ("Ben", "Congratulations! I started learning the violin in January."),
        ("Ana", "Pixel loves sleeping on my keyboard while I write code."),
        ("Ben", "My violin teacher is called Mrs Ortega, she is strict but never unkind."),
    ],
    [
        ("Ana", "I ran the Lisbon half marathon on Sunday in two hours."),
        ("Ben", "Impressive! I played my first violin recital at the town hall."),
        ("Ana", "Next I want to visit Kyoto in the spring with my sister."),
    ],
    [
        ("Ben", "I bought a vintage bicycle, a red Peugeot from 1978."),
        ("Ana", "Pixel knocked my coffee over this morning, I can’t be angry with that silly cat."),
    ],
]
DATES = ["1:56 pm on 8 May, 2023", "10:00 am on 20 May, 2023", "7:30 pm on 2 June, 2023"]
QUESTIONS = [
    {"question": "What is the name of Ana's cat?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
    {"question": "Who teaches Ben the violin?", "answer": "Mrs Ortega", "evidence": ["D1:4"], "category": 4},
    {
        "question": "Where did Ana run a half marathon?",
        "answer": "Lisbon",
        "evidence": ["D2:1"],
        "category": 1,
    },
    {
        "question": "When did Ben play his first recital?",
        "answer": "May 2023",
        "evidence": ["D2:2", "D9:9"],
        "category": 2,
    },
    {"question": "What bicycle did Ben buy?", "answer": "red Peugeot", "evidence": ["D3:1"], "category": 3},
    {"question": "What does Ana's cat think of dogs?", "adversarial_answer": "fear", "category": 5},
    {"question": "Did Ben mention a lottery win?", "answer": "No", "evidence": ["D7:1"], "category": 4},
    {"question": "Is Ben's bicycle new?", "answer": "No", "evidence": ["D3:1"], "category": 3},
    {"question": "What year is Ben's bicycle from?", "answer": 1978, "evidence": ["D3:1"], "category": 2},
]
TURNS = sum(len(session) for session in SESSIONS)
SCORED = 7
"""Questions of categories 1-4 with evidence in the conversation; the answer of one has no content word."""


def locomo_fixture() -> dict[str, Any]:
    data: dict[str, Any] = {"speaker_a": "Ana", "speaker_b": "Ben", "qa": QUESTIONS}
    for number, (session, date) in enumerate(zip(SESSIONS, DATES), start=1):
        data[f"session_{number}_date_time"] = date
        data[f"session_{number}"] = [
            {"speaker": speaker, "dia_id": f"D{number}:{turn}", "text": text}
            for turn, (speaker, text) in enumerate(session, start=1)
        ]
    return data


@pytest.fixture
def conversation_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(locomo_fixture()), encoding="utf-8")
    return path


@pytest.fixture
def conversation(conversation_file: Path) -> Conversation:
    return load_conversations(conversation_file)[0]


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


# --- metrics -----------------------------------------------------------------------------------------------


def hit(words: int, *source: str) -> Hit:
    return Hit(" ".join(["w"] * words), tuple(source))


def test_recall_counts_covered_evidence() -> None:
    hits = [hit(3, "D1:1", "D1:2"), hit(2, "D2:5")]
    assert recall(["D1:2", "D2:5", "D3:1", "D1:2"], hits) == pytest.approx(2 / 3)
    assert recall(["D9:9"], hits) == 0.0
    with pytest.raises(ValueError, match="evidence"):
        recall([], hits)


def test_within_budget_reads_whole_hits_and_stops_at_the_first_overflow() -> None:
    hits = [hit(100, "a"), hit(80, "b"), hit(50, "c"), hit(10, "d")]
    assert [h.source for h in within_budget(hits, 200)] == [("a",), ("b",)]  # c overflows: d is not read
    assert [h.source for h in within_budget(hits, 180)] == [("a",), ("b",)]
    assert within_budget([hit(300, "a"), hit(5, "b")], 200) == []
    with pytest.raises(ValueError, match="budget_words"):
        within_budget(hits, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=60), max_size=20),
    st.integers(min_value=1, max_value=300),
)
def test_within_budget_is_the_longest_prefix_that_fits(sizes: list[int], budget: int) -> None:
    hits = [hit(size, str(i)) for i, size in enumerate(sizes)]
    read = within_budget(hits, budget)
    assert read == hits[: len(read)]
    assert sum(h.words for h in read) <= budget
    if len(read) < len(hits):
        assert sum(h.words for h in hits[: len(read) + 1]) > budget


def test_score_question_keys_and_full_coverage() -> None:
    ranked = [hit(10, "D1:1"), hit(10, "D1:2"), hit(10, "D1:3")]
    scores = score_question(["D1:1", "D1:3"], ranked, ks=(1, 3), budgets=(15, 30))
    assert scores == {
        "recall@1": 0.5,
        "full@1": 0.0,
        "recall@3": 1.0,
        "full@3": 1.0,
        "recall@15w": 0.5,
        "full@15w": 0.0,
        "recall@30w": 1.0,
        "full@30w": 1.0,
    }


def test_by_category_and_percentiles() -> None:
    rows = [(1, {"recall@1": 1.0}), (1, {"recall@1": 0.0}), (4, {"recall@1": 1.0})]
    assert by_category(rows) == {"all": {"recall@1": 2 / 3}, "1": {"recall@1": 0.5}, "4": {"recall@1": 1.0}}
    assert percentiles_ms([0.001, 0.002, 0.003]) == {"p50": pytest.approx(2.0), "p99": pytest.approx(2.98)}
    assert percentiles_ms([]) == {}


@pytest.mark.parametrize(
    "text",
    [
        "I don't eat meat",
        "I don’t eat meat",  # typographic apostrophe
        "DON'T call me",
        "we won't go, you can't come",
        "I ain't sure",
        "do n't",  # a split contraction still negates
        "No, thanks.",
        "Not yet",
        "nobody came",
        "Nothing's changed",
        "none of them",
        "neither here nor there",
        "tea without sugar",
        "I cannot swim",
        "I have never been",
    ],
)
def test_has_negation_finds_negation_words_and_contractions(text: str) -> None:
    assert has_negation(text)


@pytest.mark.parametrize(
    "text",
    [
        "I do eat meat",
        "a note on the knot",  # words holding "no" / "not" are not negations
        "Norway in November",
        "snow and innovation",
        "don t call",  # the pruner's split "don t" has lost the n't
        "dont",  # no apostrophe: not counted (see the module docstring)
        "I can",
        "",
    ],
)
def test_has_negation_ignores_other_words(text: str) -> None:
    assert not has_negation(text)


def test_negation_kept_counts_units_from_negated_turns_that_keep_one() -> None:
    turns = {
        "D1:1": "I am not allergic to peanuts.",
        "D1:2": "Don’t call me before 9am.",
        "D1:3": "I love hiking.",
    }
    units = [
        Hit("Sam: am allergic peanuts", ("D1:1",)),  # lost its negation
        Hit("Sam: never call before 9am", ("D1:2",)),  # another negation word: kept
        Hit("Sam: love hiking", ("D1:3",)),  # no negation in its source: not counted
        Hit("Sam: love hiking, not allergic peanuts", ("D1:3", "D1:1")),  # one source negated: kept
        Hit("Sam: something", ("D9:9",)),  # unknown turn: not counted
    ]
    count = negation_kept(units, turns)
    assert count == NegationCount(units=3, kept=2)
    assert count.share == pytest.approx(2 / 3)
    assert NegationCount().share is None
    assert count + NegationCount(1, 1) == NegationCount(4, 3)


def test_content_words_drop_stop_words_and_leading_zeros() -> None:
    assert content_words("The week before 9 June 2023") == {"week", "9", "june", "2023"}
    assert content_words("07 May 2023: Ana: I adopted a cat") == {"7", "may", "2023", "ana", "adopted", "cat"}
    assert content_words('"Charlotte\'s Web", Mrs. Ortega') == {"charlotte", "web", "mrs", "ortega"}
    assert content_words("No, it isn’t") == set()
    assert content_words("0 or 00 or 100") == {"0", "100"}


def test_answer_words_read_within_a_budget() -> None:
    ranked = [
        Hit("07 May 2023: Ana: I adopted a cat", ("D1:1",)),  # 8 words
        Hit("08 May 2023: Ana: I named him Pixel", ("D1:2",)),  # 8 words
    ]
    # wanted: pixel, adopted, 7, may, 2023
    stored = content_words("07 May 2023: Ana: I adopted a cat")
    scores = score_answer_words("Pixel, adopted on 7 May 2023", ranked, (7, 8, 15, 16), stored)
    assert scores == {
        "answer@7w": 0.0,  # the top hit does not fit: nothing is read
        "answer@8w": 0.8,
        "answer@15w": 0.8,  # the second hit would pass the budget: it is not read
        "answer@16w": 1.0,
        "answer@stored": 0.8,
    }
    assert score_answer_words("No", ranked, (100,), stored) is None
    assert score_answer_words("1978", [Hit("a red Peugeot from 1978", ())], (10,), set()) == {
        "answer@10w": 1.0,
        "answer@stored": 0.0,
    }
    with pytest.raises(ValueError, match="content word"):
        words_present(set(), ["text"])


# --- baselines ---------------------------------------------------------------------------------------------


def test_windows_stay_within_sessions_and_chunks_carry_date_and_speakers(conversation: Conversation) -> None:
    assert [len(w) for w in windows(conversation, 2)] == [2, 2, 2, 1, 2]
    assert [len(w) for w in windows(conversation, None)] == [4, 3, 2]
    text = chunk_text(windows(conversation, 2)[0])
    assert text.startswith("08 May 2023: Ana: Hi Ben!")
    assert "\nBen: Congratulations!" in text


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=150), st.integers(min_value=1, max_value=12), st.data())
def test_vector_table_top_is_exact_and_skips_removed_rows(n: int, k: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    table = VectorTable(8)
    rows = table.add(vectors[: n // 2]) + table.add(vectors[n // 2 :])
    assert rows == list(range(n))
    removed = set(data.draw(st.lists(st.integers(0, n - 1), max_size=n // 3)))
    for row in removed:
        table.remove(row)
    query = rng.normal(size=8).astype(np.float32)
    expected = [r for r in np.argsort(-(vectors @ query), kind="stable") if r not in removed][:k]
    assert table.top(query, k) == [int(r) for r in expected]


def test_window_rag_finds_the_turn(conversation: Conversation, embedder: OnnxEmbedder) -> None:
    rag = WindowRAG(embedder, 1)
    rag.ingest(conversation)
    assert len(rag.stored_units()) == TURNS
    assert rag.search("Which bicycle did Ben buy?", 1)[0].source == ("D3:1",)
    assert rag.llm_usage()["calls"] == 0
    with pytest.raises(ValueError, match="window"):
        WindowRAG(embedder, 0)


def test_per_turn_extraction_costs_two_calls_per_turn_offline(
    conversation: Conversation, embedder: OnnxEmbedder
) -> None:
    system = PerTurnExtraction(embedder, OfflineLLM())
    system.ingest(conversation)
    assert system.llm_usage()["calls"] == 2 * TURNS
    assert len(system.stored_units()) == TURNS
    assert system.search("What is the name of Ana's cat?", 3)[0].source == ("D1:1",)


def message(turn_id: str, text: str) -> dict[str, Any]:
    return {"role": "user", "name": "Ana", "id": turn_id, "content": text}


def test_per_turn_extraction_applies_update_merge_and_delete(embedder: OnnxEmbedder) -> None:
    script = [
        {"decisions": [{"id": "new-0", "action": "keep"}]},
        {
            "decisions": [
                {"id": "m0", "action": "update", "text": "Ana has two cats"},
                {"id": "new-0", "action": "delete"},
            ]
        },
        {"decisions": [{"id": "m0", "action": "keep"}, {"id": "new-0", "action": "keep"}]},
        {
            "decisions": [
                {"id": "m0", "action": "merge", "into": "m1", "text": "Ana has two cats and a dog"},
                {"id": "m1", "action": "keep"},
                {"id": "new-0", "action": "delete"},
            ]
        },
    ]
    system = PerTurnExtraction(embedder, ScriptedConsolidation(script), neighbours=5)
    system.add_turn(message("D1:1", "I have a cat"))
    system.add_turn(message("D1:2", "I got a second cat"))
    assert [u.text for u in system.stored_units()] == ["Ana has two cats"]
    system.add_turn(message("D1:3", "I also have a dog"))
    assert [u.text for u in system.stored_units()] == ["Ana has two cats", "Ana: I also have a dog"]
    system.add_turn(message("D1:4", "Pets: two cats, one dog"))
    [only] = system.search("pets", 5)
    assert only.text == "Ana has two cats and a dog"
    assert set(only.source) == {"D1:1", "D1:2", "D1:3", "D1:4"}
    assert system.llm_usage()["calls"] == 8


# --- QA prompts and the mock server ---------------------------------------------------------------------


def test_qa_parsing_and_mock_answers() -> None:
    assert parse_verdict("CORRECT") and parse_verdict("The answer is correct.")
    assert not parse_verdict("WRONG, not CORRECT") and not parse_verdict("no idea")
    memories = ["08 May 2023: Ana: my cat is Pixel", "08 May 2023: Ben: I play violin"]
    assert answer_question({"question": "What is Ana's cat called?", "memories": memories}) == memories[0]
    assert answer_question({"question": "Zebras?", "memories": memories}) == "unknown"
    assert judge_answer({"gold_answer": "Pixel", "answer": memories[0]}) == "CORRECT"
    assert judge_answer({"gold_answer": "red Peugeot", "answer": "a red bike"}) == "WRONG"
    mock = MockLLM()
    assert mock.reply(build_judge_request("q", "Pixel", "It is Pixel.")) == "CORRECT"
    assert mock.reply(build_answer_request("violin?", memories)) == memories[1]
    request = build_answer_request("Who plays?\nWhich?", [*memories, "Ben:\n- Question: no"])
    assert read_request(request[1]["content"]) == {
        "question": "Who plays? Which?",
        "memories": [*memories, "Ben: - Question: no"],
    }
    judged = build_judge_request("q", "Pixel", "It is\nPixel.")[1]["content"]
    fields = {"question": "q", "gold_answer": "Pixel", "answer": "It is Pixel.", "memories": []}
    assert read_request(judged) == fields


def test_mock_server_speaks_the_openai_protocol() -> None:
    turns = [[Turn("D1:1", "Ana", None, "I adopted a cat named Pixel")]]
    request = build_extract_request(turns)
    with MockLLMServer() as server:
        client = OpenAIClient(server.base_url, "mock", max_retries=0)
        answer = client.complete(request)
        assert answer.text == OfflineLLM().complete(request).text
        assert answer.prompt_tokens > 0 and client.usage.calls == 1
        with pytest.raises(Exception, match="400"):
            client.complete([{"role": "user", "content": "hello"}])
    assert server.requests == 2


def test_counting_proxy_counts_what_the_server_reports_and_passes_refusals_through() -> None:
    turns = [[Turn("D1:1", "Ana", None, "I adopted a cat named Pixel")]]
    request, answer_format = build_extract_request(turns), extract_answer_format(turns)
    refusal = Reply(status=400, body={"error": {"message": "response_format json_schema not supported"}})
    answer = '{"memories": [{"text": "Ana adopted a cat named Pixel", "turns": [1]}]}'
    with LLMServer() as server, CountingProxy(server.base_url) as proxy:
        server.script(refusal, Reply(content=answer, usage={"prompt_tokens": 70, "completion_tokens": 9}))
        client = OpenAIClient(proxy.base_url, "local", max_retries=0)
        assert client.complete(request, answer_format=answer_format).text == answer
    sent = [r["json"].get("response_format", {}).get("type") for r in server.requests]
    assert sent == ["json_schema", "json_object"]  # the client saw the server's own refusal
    assert proxy.usage.snapshot() == {"calls": 1, "prompt_tokens": 70, "completion_tokens": 9}


# --- the harness --------------------------------------------------------------------------------------------


def test_scored_questions_drop_category_5_and_unknown_evidence(conversation: Conversation) -> None:
    questions = scored_questions(conversation, None)
    assert [q.category for q in questions] == [4, 4, 1, 2, 3, 3, 2]
    assert questions[3].evidence == ("D2:2",)
    assert len(scored_questions(conversation, 2)) == 2


def specs_for(*argv: str) -> list[str]:
    return [spec.name for spec in system_specs(build_parser().parse_args(["x.json", *argv]))]


def test_system_specs_sweeps_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert specs_for() == ["lightmem", "full-history", "rag-1", "rag-4", "per-turn"]
    names = specs_for(
        "--systems", "lightmem,rag-2", "--sweep-ratio", "0.3,0.5,1.0", "--sweep", "turns_per_unit=1,2"
    )
    assert names == [
        "lightmem",
        "rag-2",
        "lightmem turns_per_unit=2",  # 1 is the default: not run twice (nor compression_ratio 0.3)
        "lightmem compression_ratio=0.5",
        "lightmem compression_ratio=1.0",
    ]
    for argv, problem in [
        (["--systems", "rag-0"], "unknown system 'rag-0'"),
        (["--sweep", "nonsense=1"], "unknown setting 'nonsense'"),
        (["--sweep-ratio", "1.5"], "compression_ratio must be in"),
        (["--sweep-threshold", "many"], "buffer_token_threshold takes int values"),
        (["--set", "turns_per_unit=0"], "turns_per_unit"),
        (["--limit-questions", "0"], "--limit-questions must be >= 1"),
        (["--sample-units", "-1"], "--sample-units must be >= 0"),
        (["--systems", "rag-1", "--sample-units", "2"], "add lightmem to --systems"),
        (["--store", "/tmp/somewhere"], "--store takes a postgresql:// URL"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["x.json", *argv])
        assert exit_info.value.code == 2
        assert problem in capsys.readouterr().err


def run_harness(path: Path, out: Path, systems: str, *argv: str) -> dict[str, Any]:
    assert main([str(path), "--out", str(out), "--systems", systems, *argv]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (out / "results.md").read_text(encoding="utf-8") == markdown(results)
    return {system["name"]: system for system in results["systems"]} | {"": results}


def test_harness_offline_on_a_tiny_conversation(
    conversation_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    systems = run_harness(conversation_file, tmp_path / "out", "lightmem,full-history,rag-1,rag-2,per-turn")
    printed = capsys.readouterr().out
    assert "| rag-1 |" in printed
    plotted = (tmp_path / "out" / "recall_vs_llm_tokens.png").exists()
    assert ("wrote" if plotted else "plot skipped: matplotlib is not installed") in printed.splitlines()[-1]
    meta = systems[""]["conversations"]
    assert meta[0]["turns"] == TURNS and meta[0]["questions"] == SCORED
    rag = systems["rag-1"]
    assert rag["scores"]["all"]["recall@20"] == 1.0  # 9 chunks: all of them are returned
    assert rag["stored_memories"] == TURNS and rag["llm_calls"] == 0
    assert set(rag["scores"]) == {"all", "1", "2", "3", "4"}
    assert set(rag["search_ms"]) == {"p50", "p99"}
    assert systems["full-history"]["scores"]["all"]["recall@10"] == 1.0
    assert systems["per-turn"]["llm_calls"] == 2 * TURNS
    lightmem = systems["lightmem"]
    assert 0 < lightmem["llm_calls"] < TURNS
    assert lightmem["stored_tokens"] < rag["stored_tokens"]
    assert lightmem["scores"]["all"]["recall@20"] == 1.0
    assert "qa" not in lightmem
    assert "unit_sample" not in systems[""]


def test_harness_on_a_postgres_store_scores_lightmem_as_on_sqlite(
    conversation_file: Path, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """`--store URL`: lightmem's runs keep their memories in PostgreSQL, each in a schema of its own
    dropped after it; on a tiny conversation the scores are SQLite's. The URL's password (which the
    test server ignores) shows nowhere in the report."""
    import psycopg

    sqlite = run_harness(conversation_file, tmp_path / "sqlite", "lightmem")
    parts = urlsplit(postgres_server.admin_url)
    netloc = f"{parts.username or 'postgres'}:hunter2@{parts.netloc.rpartition('@')[2]}"
    url = urlunsplit(parts._replace(netloc=netloc))
    postgres = run_harness(conversation_file, tmp_path / "postgres", "lightmem", f"--store={url}")
    assert postgres[""]["meta"]["store"].startswith("PostgreSQL postgresql://")
    report = [
        (tmp_path / "postgres" / name).read_text(encoding="utf-8") for name in ("results.json", "results.md")
    ]
    assert all("hunter2" not in text and ":***@" in text for text in report)
    assert sqlite[""]["meta"]["store"].startswith("SQLite")
    assert postgres["lightmem"]["scores"] == sqlite["lightmem"]["scores"]
    assert postgres["lightmem"]["stored_memories"] == sqlite["lightmem"]["stored_memories"]
    with psycopg.connect(url) as conn:
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lightmem_bench%'")
        left = schemas.fetchall()
    assert left == []


def test_harness_measures_meaning(conversation_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    systems = run_harness(
        conversation_file, out, "lightmem,full-history,rag-1,per-turn", "--sample-units", "3", "--seed", "7"
    )
    negated = 2  # D1:4 ("never"), D3:2 ("can’t")
    for name in ("rag-1", "per-turn"):  # both store every turn as it was said
        assert systems[name]["negation"] == {"units": negated, "kept": negated, "share": 1.0}
    assert systems["full-history"]["negation"] == {"units": 2, "kept": 2, "share": 1.0}  # sessions 1 and 3
    assert systems["lightmem"]["negation"]["units"] == negated
    for system in systems.values():
        if "answer_skipped" in system:
            assert system["answer_skipped"] == 1  # "No"
    rag = systems["rag-1"]["answer_words"]
    assert rag["all"]["answer@1000w"] == 1.0 == rag["all"]["answer@stored"]  # every chunk fits in 1000 words
    assert set(rag) == {"all", "1", "2", "3", "4"}
    assert systems["full-history"]["answer_words"]["all"] == {"answer@stored": 1.0}
    lightmem = systems["lightmem"]["answer_words"]["all"]
    assert 0.0 <= lightmem["answer@200w"] <= lightmem["answer@1000w"] <= lightmem["answer@stored"] <= 1.0

    sample = systems[""]["unit_sample"]
    assert (sample["system"], sample["seed"], sample["stored"]) == ("lightmem", 7, TURNS)
    assert len(sample["units"]) == 3
    report = (out / "results.md").read_text(encoding="utf-8")
    assert "### 3 stored units of lightmem beside their source turns" in report
    turns = {m["id"]: m for session in load_conversations(conversation_file)[0].sessions for m in session}
    for unit in sample["units"]:
        assert [turn["id"] for turn in unit["turns"]] == unit["source"]
        for turn in unit["turns"]:
            assert turn["text"] == chunk_text([turns[turn["id"]]])
            assert turns[turn["id"]]["content"] in report
    assert "| lightmem |" in report.partition("negation kept")[2]
    again = run_harness(
        conversation_file, tmp_path / "again", "lightmem", "--sample-units", "3", "--seed", "7"
    )
    assert again[""]["unit_sample"] == sample  # the seed fixes the draw


def test_unit_sample_draws_at_most_what_is_stored(conversation: Conversation) -> None:
    pool = [
        (conversation, Hit("Ana: cat Pixel", ("D1:1", "D9:9"))),
        (conversation, Hit("Ben: violin", ("D1:2",))),
    ]
    sample = unit_sample(pool, "lightmem", 5, seed=0)
    assert [unit["text"] for unit in sample["units"]] == ["Ana: cat Pixel", "Ben: violin"]  # pool order
    assert [turn["id"] for turn in sample["units"][0]["turns"]] == ["D1:1"]  # an unknown id has no turn
    assert sample["stored"] == 2


def test_harness_with_an_llm_server_grades_answers(
    conversation_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockLLMServer() as server:
        monkeypatch.setenv("LIGHTMEM_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("LIGHTMEM_LLM_MODEL", "mock")
        systems = run_harness(conversation_file, tmp_path / "out", "lightmem,rag-1")
    questions = SCORED
    lightmem_calls = systems["lightmem"]["llm_calls"]
    assert 0 < lightmem_calls < TURNS
    assert server.requests == lightmem_calls + 2 * 2 * questions  # answer + judge per question and system
    assert "mock" in systems[""]["meta"]["llm"]
    for name in ("lightmem", "rag-1"):
        qa = systems[name]["qa"]
        assert 0.0 <= qa["all"]["accuracy"] <= 1.0 and set(qa) == {"all", "1", "2", "3", "4"}
        assert systems[name]["qa_llm"]["calls"] == 2 * questions


# --- packaging: the benchmarks are a package of their own -------------------------------------------------


def test_the_runtime_package_ships_no_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert importlib.util.find_spec("lightmem.bench") is None
    with pytest.raises(SystemExit) as exit_info:
        lightmem_main(["bench", "locomo", "--help"])
    assert exit_info.value.code == 2 and "invalid choice: 'bench'" in capsys.readouterr().err


def test_lightmem_bench_command_runs_the_harness(
    conversation_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, code in ([["locomo", "--help"], 0], [["nonsense"], 2], [[], 2]):
        with pytest.raises(SystemExit) as exit_info:
            bench_main(argv)
        assert exit_info.value.code == code
    assert "usage: lightmem-bench locomo" in capsys.readouterr().out
    out = tmp_path / "out"
    assert bench_main(["locomo", str(conversation_file), "--out", str(out), "--systems", "rag-1"]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["meta"]["command"].startswith("lightmem-bench locomo ")


def test_installed_console_script() -> None:
    script = Path(sys.executable).parent / "lightmem-bench"
    if not script.exists():
        pytest.skip("the `lightmem-bench` console script is not installed (pip install ./benches)")
    result = subprocess.run(
        [str(script), "locomo", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage: lightmem-bench locomo" in result.stdout
