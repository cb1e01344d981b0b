"""Run every benchmark module in bench/ (validate.py and bench_*.py) that has a main()."""

from __future__ import annotations

import importlib
from pathlib import Path


def main() -> None:
    here = Path(__file__).parent
    names = sorted(
        p.stem for p in here.glob("*.py") if p.stem == "validate" or p.stem.startswith("bench_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "main", None)
        if callable(run):
            print(f"== bench.{name} ==", flush=True)
            run()


if __name__ == "__main__":
    main()
