"""Tests of the `lightmem` command, run in-process with `main([...])` on real memories in tmp_path."""

from __future__ import annotations

import _thread
import contextlib
import gc
import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import lightmem
import pytest
from lightmem.cli import main
from lightmem.mem0 import Memory as Mem0Memory
from lightmem.memory import Memory

LOCOMO = {
    "speaker_a": "Ana",
    "speaker_b": "Ben",
    "session_1_date_time": "9:15 am on 3 March, 2024",
    "session_1": [
        {
            "speaker": "Ana",
            "dia_id": "D1:1",
            "text": "I just adopted a grey cat called Miso from the shelter.",
        },
        {
            "speaker": "Ben",
            "dia_id": "D1:2",
            "text": "Lovely! I am training for the Berlin marathon in September.",
        },
        {
            "speaker": "Ana",
            "dia_id": "D1:3",
            "text": "Good luck. I work as a pharmacist in Lyon, mostly nights.",
        },
    ],
    "session_2_date_time": "6:40 pm on 20 April, 2024",
    "session_2": [
        {"speaker": "Ben", "dia_id": "D2:1", "text": "How is Miso settling in?"},
        {
            "speaker": "Ana",
            "dia_id": "D2:2",
            "text": "Miso sleeps on my keyboard all day. I also moved to Grenoble.",
        },
    ],
    "qa": [{"question": "Where does Ana live?", "answer": "Grenoble", "evidence": ["D2:2"], "category": 1}],
}
JSONL_MESSAGES = [
    {
        "role": "user",
        "content": "My favourite food is ramen with extra garlic.",
        "timestamp": "2024-05-01T12:00:00Z",
    },
    {"role": "assistant", "content": "Noted, ramen with extra garlic.", "timestamp": "2024-05-01T12:00:30Z"},
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    locomo = tmp_path / "ana-ben.json"
    locomo.write_text(json.dumps(LOCOMO), encoding="utf-8")
    jsonl = tmp_path / "chat.jsonl"
    jsonl.write_text("\n".join(json.dumps(m) for m in JSONL_MESSAGES) + "\n", encoding="utf-8")
    return [locomo, jsonl]


def test_demo_prints_results_and_stats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo")
    assert code == 0, err
    assert "1 conversation(s), 41 turns ->" in out and "a temporary directory" in out
    assert "> Where does Maya live now?" in out
    assert "Denver" in out
    assert "source S" in out
    assert "memories " in out and "llm_calls " in out


def test_demo_json_with_path_then_read_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = str(tmp_path / "mem")
    report = run_json(capsys, "--path", path, "demo")
    assert report["ingest"]["turns"] == 41
    assert report["searches"][0]["query"] == "Where does Maya live now?"
    hits = [hit for s in report["searches"] for hit in s["results"]]
    assert hits and all(hit["user_id"] == "default" and hit["source"] for hit in hits)
    assert report["stats"]["memories"] > 0 and report["stats"]["pending_messages"] == 0

    items = run_json(capsys, "get-all", "--path", path)
    assert len(items) == report["stats"]["memories"]
    assert items[0]["event_time"].startswith("2024-03-02")
    assert len(run_json(capsys, "get-all", "--limit", "2", "--path", path)) == 2

    (best,) = run_json(capsys, "--path", path, "search", "Tom's dog", "--limit", "1")
    assert best["score"] > 0
    assert run_json(capsys, "--path", path, "--user", "nobody", "search", "Tom's dog") == []

    history = run_json(capsys, "--path", path, "history", items[0]["id"])
    assert history[0]["event"] == "ADD" and history[0]["new_text"] == items[0]["text"]
    code, out, _ = run(capsys, "--path", path, "history", items[0]["id"])
    assert code == 0 and "ADD" in out


def test_ingest_files_per_user(capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]) -> None:
    path = str(tmp_path / "mem")
    report = run_json(capsys, "--path", path, "ingest", "--user-per-file", *map(str, files))
    assert report["conversations"] == 2 and report["sessions"] == 3 and report["turns"] == 7
    assert report["memories_added"] > 0 and report["elapsed_s"] > 0

    code, out, err = run(capsys, "--path", path, "--user", "ana-ben", "search", "Where does Ana live?")
    assert code == 0, err
    assert "Grenoble" in out and "2024-04-20" in out and "D2:2" in out
    chat = run_json(capsys, "--path", path, "--user", "chat", "get-all")
    assert chat and all("ramen" in item["text"] for item in chat)
    stats = run_json(capsys, "--path", path, "stats")
    assert stats["memories"] == report["memories_added"] and stats["pending_messages"] == 0

    code, out, _ = run(capsys, "--path", path, "stats")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.startswith("the whole store")
    assert {"memories": str(stats["memories"]), "pending_messages": "0"}.items() <= dict(
        line.split() for line in rows
    ).items()


def test_stats_of_one_user_and_lifetime_counters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]
) -> None:
    path = str(tmp_path / "mem")
    report = run_json(capsys, "--path", path, "ingest", "--user-per-file", *map(str, files))
    whole = run_json(capsys, "--path", path, "stats")
    assert whole["user"] is None and whole["memories"] == report["memories_added"]
    # counters of the ingest process, read by this one; the offline backend ran, no model did
    assert whole["offline_extractions"] > 0 and whole["words_in"] > 0
    assert (whole["llm_calls"], whole["prompt_tokens"], whole["completion_tokens"]) == (0, 0, 0)

    nobody = run_json(capsys, "--path", path, "--user", "nobody", "stats")
    assert nobody == {**dict.fromkeys(whole, 0), "user": "nobody", "memories": 0}
    chat = run_json(capsys, "--path", path, "--user", "chat", "stats")
    assert 0 < chat["memories"] == len(run_json(capsys, "--path", path, "--user", "chat", "get-all"))
    assert 0 < chat["words_in"] < whole["words_in"]

    code, out, _ = run(capsys, "--path", path, "--user", "nobody", "stats")
    header, *rows = out.splitlines()
    assert code == 0 and header == "user 'nobody':"
    assert dict(line.split() for line in rows)["memories"] == "0"


def test_ingest_human_output_and_default_user(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]
) -> None:
    path = str(tmp_path / "mem")
    code, out, err = run(capsys, "ingest", str(files[1]), "--path", path)
    assert code == 0, err
    assert "1 conversation(s), 2 turns ->" in out and "turns/s" in out
    assert "stored for user 'default'" in out
    assert run_json(capsys, "--path", path, "get-all")[0]["user_id"] == "default"


def test_an_empty_user_or_path_is_refused_not_taken_for_the_default(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--user "$NAME"` with NAME unset searched, listed and stored the 'default' user's memories (while
    stats and consolidate refused it), `--path "$DIR"` wrote ./lightmem-data."""
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "mem")
    assert run(capsys, "--path", path, "--user", "default", "ingest", str(files[1]))[0] == 0
    for argv in (["search", "ramen"], ["get-all"], ["stats"], ["ingest", str(files[1])]):
        code, out, err = run(capsys, "--path", path, "--user", "", *argv)
        assert (code, out) == (2, ""), argv
        assert err == "lightmem: error: --user is empty: give a value, or leave --user out for 'default'\n"
    code, _, err = run(capsys, "--path", "", "--user", "u", "ingest", str(files[1]))
    assert code == 2 and "--path is empty" in err
    assert not (tmp_path / "lightmem-data").exists()


def test_bad_file_is_one_line_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"content": "ok"},\n {"content": ]', encoding="utf-8")
    path = tmp_path / "mem"
    code, out, err = run(capsys, "--path", str(path), "ingest", str(files[0]), str(bad))
    assert code == 2 and out == ""
    assert err == f"lightmem: error: {bad}: line 2 column 14: not valid JSON (Expecting value)\n"
    assert not path.exists(), "nothing may be ingested when one of the files is bad"

    code, _, err = run(capsys, "--path", str(path), "ingest", str(tmp_path / "missing.json"))
    assert code == 2 and err == f"lightmem: error: {tmp_path / 'missing.json'}: no such file or directory\n"

    code, _, err = run(capsys, "-v", "--path", str(path), "ingest", str(bad))
    assert code == 2 and "Traceback" in err and err.endswith("(Expecting value)\n")


def test_reading_a_missing_memory_says_how_to_create_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A directory without a memory (a typo's, the home directory) got an empty store from any read or
    worker command, and the worker ran on it."""
    missing, other = tmp_path / "nothing-here", tmp_path / "documents"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    commands = (
        ["search", "x"],
        ["get-all"],
        ["stats"],
        ["history", "abc"],
        ["consolidate"],
        ["worker", "--once"],
    )
    for path in (missing, other):
        for command in commands:
            code, out, err = run(capsys, "--path", str(path), *command)
            assert code == 2 and out == ""
            assert err.startswith(f"lightmem: error: no memory at {str(path)!r} (no memory.db there): add")
    assert not missing.exists() and [p.name for p in other.iterdir()] == ["notes.txt"]


def test_a_reader_that_leaves_early_is_no_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]
) -> None:
    """`lightmem get-all | head -1` printed 'lightmem: error: [Errno 32] Broken pipe' and exited 2."""
    path = str(tmp_path / "mem")
    run_json(capsys, "--path", path, "ingest", str(files[0]))
    command = [sys.executable, "-m", "lightmem.cli", "--path", path, "get-all"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes anything
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == b""


def test_default_path_comes_from_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTMEM_PATH", str(tmp_path / "from-env"))
    assert run_json(capsys, "ingest", str(files[1]))["turns"] == 2
    assert (tmp_path / "from-env").is_dir()


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_path_variable_is_an_error_not_the_default_directory(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    files: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    """`LIGHTMEM_PATH="$DIR"` with DIR unset read and wrote ./lightmem-data without a word (as an empty
    --path did), in the CLI and in the mem0 drop-in that `lightmem serve` and `lightmem mcp` open."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("LIGHTMEM_PATH", value)
    code, out, err = run(capsys, "ingest", str(files[1]))
    assert (code, out) == (2, "") and err.startswith("lightmem: error: LIGHTMEM_PATH is set but empty: "), err
    with pytest.raises(ValueError, match="LIGHTMEM_PATH is set but empty"):
        Mem0Memory()
    assert list((tmp_path / "cwd").iterdir()) == []  # no ./lightmem-data made
    assert run_json(capsys, "--path", str(tmp_path / "given"), "ingest", str(files[1]))["turns"] == 2


def test_unknown_history_id_and_consolidate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]
) -> None:
    path = str(tmp_path / "mem")
    run_json(capsys, "--path", path, "ingest", str(files[1]))
    code, _, err = run(capsys, "--path", path, "history", "no-such-id")
    assert code == 2
    assert err == "lightmem: error: no memory with id 'no-such-id' (`lightmem get-all` lists the ids)\n"
    code, _, err = run(capsys, "--path", path, "history", "q" * 60_000)  # was repeated in full
    assert code == 2 and f"{'q' * 80!r}… (60,000 characters) (`lightmem get-all`" in err and len(err) < 200

    code, out, err = run(capsys, "--path", path, "consolidate")
    if hasattr(Memory, "consolidate"):
        assert code == 0 and out, err
    else:
        assert (
            code == 2 and err == "lightmem: error: consolidate is not available in this version of lightmem\n"
        )


def test_history_honours_user(capsys: pytest.CaptureFixture[str], tmp_path: Path, files: list[Path]) -> None:
    """`--user bob history ID` showed the history of alice's memory."""
    path = str(tmp_path / "mem")
    run_json(capsys, "--path", path, "--user", "alice", "ingest", str(files[1]))
    (item, *_) = run_json(capsys, "--path", path, "--user", "alice", "get-all")
    code, _, err = run(capsys, "--path", path, "--user", "bob", "history", item["id"])
    assert code == 2 and "no memory with id" in err
    assert run_json(capsys, "--path", path, "--user", "alice", "history", item["id"])[0]["event"] == "ADD"
    assert run_json(capsys, "--path", path, "history", item["id"])[0]["event"] == "ADD"  # any user's


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["search"], ["search", "q", "--limit", "0"], ["frobnicate"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert "usage: lightmem" in capsys.readouterr().err
    for argv in (["serve", "--port", "99999"], ["mcp", "--http", "--port", "-1"], ["serve", "--port", "x"]):
        with pytest.raises(SystemExit) as info:  # 99999 and -1 were an OverflowError traceback
            main(argv)
        assert info.value.code == 2
        assert "must be a port number from 0 to 65535" in capsys.readouterr().err


def test_ctrl_c_exits_130(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    lines = (
        json.dumps({"content": f"Note {i}: the meeting room {i % 7} is booked by team {i % 13}."})
        for i in range(3000)
    )
    big.write_text("\n".join(lines), encoding="utf-8")
    timer = threading.Timer(0.5, _thread.interrupt_main)
    gc.disable()  # an interrupt landing in a gc callback (hypothesis installs one) would be swallowed
    timer.start()
    try:
        code, _, err = run(capsys, "--path", str(tmp_path / "mem"), "ingest", str(big))
    finally:
        timer.cancel()
        gc.enable()
    assert code == 130 and err.endswith("lightmem: interrupted\n")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"lightmem {lightmem.__version__}\n"


def _console_script() -> str:
    beside = Path(sys.executable).parent / "lightmem"
    script = str(beside) if beside.exists() else shutil.which("lightmem")
    if script is None:
        pytest.skip("the `lightmem` console script is not installed")
    return script


def test_installed_console_script() -> None:
    env = {**os.environ, "LIGHTMEM_PATH": ""}
    result = subprocess.run(
        [_console_script(), "demo"], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "> Where does Maya live now?" in result.stdout


def test_ingest_progress_bar_shows_on_a_terminal_of_zero_columns(tmp_path: Path, files: list[Path]) -> None:
    """A pty that reports no size (as `script` and some CI terminals make) still gets the progress bar."""
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [_console_script(), "--path", str(tmp_path / "mem"), "ingest", str(files[0])],
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=300,
            check=False,
        )
        os.close(terminal)
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once everything written to the pty is read
            while chunk := os.read(controller, 65536):
                drawn += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert b"ingest: 100%" in drawn and b"5/5" in drawn
