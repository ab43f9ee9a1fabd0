"""LoCoMo benchmark: `python benches/locomo.py [FILES...] [--out DIR] ...` (see `--help`)."""

from lightmem_bench.locomo import main

if __name__ == "__main__":
    raise SystemExit(main())
