"""Run every benchmark in bench/ (validate.py and bench_*.py), each in a process of its own.

A fresh process per benchmark keeps their figures apart: a peak RSS is that benchmark's
alone, and no benchmark runs on a heap or threads another one left behind.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(
        p.stem for p in here.glob("*.py") if p.stem == "validate" or p.stem.startswith("bench_")
    )
    failed = []
    for name in names:
        print(f"== bench.{name} ==", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
