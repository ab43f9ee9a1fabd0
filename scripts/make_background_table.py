"""Writes python/lightmem/data/background_words.tsv.gz, the pruner's background word frequencies.

Source: the English "small" list of the `wordfreq` package (3.1.1; code Apache-2.0, data CC-BY-SA 4.0,
by Robyn Speer and contributors), stored in its cBpack format: bucket i holds the words whose frequency
is 10 ** (-i / 100). Run once with wordfreq's wheel unpacked; lightmem itself does not depend on wordfreq.

    python scripts/make_background_table.py path/to/wordfreq/data/small_en.msgpack.gz
"""

import gzip
import sys
from pathlib import Path

import msgpack

OUT = Path(__file__).resolve().parents[1] / "python" / "lightmem" / "data" / "background_words.tsv.gz"


def main(source: str) -> None:
    with gzip.open(source) as f:
        header, *buckets = msgpack.load(f, raw=False)
    assert header == {"format": "cB", "version": 1}, header
    lines = [f"{word}\t{-centibels / 100:.2f}" for centibels, words in enumerate(buckets) for word in words]
    with gzip.open(OUT, "wt", encoding="utf-8", compresslevel=9) as out:
        out.write("# word\tlog10 frequency (wordfreq 3.1.1 small_en, CC-BY-SA 4.0)\n")
        out.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} words to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
