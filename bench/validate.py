"""Judging a realistic 5 MiB call list, against merely reading it with pandas.read_csv."""

from __future__ import annotations

import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from sftp_watcher.calllist import Rules, judge_path

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 2, 8, 9, 0, tzinfo=IST)
ROWS = 70_000  # just under the 5 MiB default limit: tel1..tel3, three variables, a start time
REPEATS = 7
NAMES = ["Asha K", "Ravi Kumar", "Priya", "आशा", "राहुल", "Amit Singh"]
CITIES = ["Mumbai", "Delhi", "Pune", "Goa", "Chennai", "Surat"]


def mobile(rng: random.Random) -> str:
    return f"91{rng.choice('6789')}{rng.randrange(10**8, 10**9)}"


def write_call_list(path: Path, rows: int = ROWS, seed: int = 7) -> None:
    """tel1..tel3 (tel3 in half the rows), three flow variables, ISO start times, ~5% bad rows."""
    rng = random.Random(seed)
    lines = ["tel1,tel2,tel3,$flow.key.Name,City,Amount,starttime"]
    for i in range(rows):
        tels = [mobile(rng), mobile(rng), rng.choice(["", mobile(rng)])]
        start = NOW + timedelta(days=1 + i % 20, minutes=15 * (i % 40))
        bad = rng.random()
        if bad < 0.015:
            tels[0] = tels[0][2:]  # country code missing
        elif bad < 0.03:
            tels[1] = "9.19876E+11"
        elif bad < 0.04:
            tels[2] = "98765abc"
        elif bad < 0.05:
            start = start.replace(year=2025)
        cells = [*tels, rng.choice(NAMES), rng.choice(CITIES), str(rng.randrange(100, 1_000))]
        lines.append(",".join([*cells, start.strftime("%Y-%m-%dT%H:%M:%S")]))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def best_of_each(repeats: int, actions: list[Callable[[], object]]) -> list[float]:
    """Best wall time of each action, taking turns, so a busy machine slows both alike."""
    best = [float("inf")] * len(actions)
    for _ in range(repeats):
        for index, action in enumerate(actions):
            started = time.perf_counter()
            action()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def main() -> None:
    rules = Rules.permissive()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "C129113_o9vJavuB.csv"
        write_call_list(path)
        size = path.stat().st_size
        report = judge_path(path, rules, NOW)  # warm-up: metadata, automata, imports
        judged, read = best_of_each(
            REPEATS,
            [
                lambda: judge_path(path, rules, NOW),
                lambda: pd.read_csv(path, dtype=str, keep_default_na=False),
            ],
        )
        tracemalloc.start()
        judge_path(path, rules, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
    ratio = judged / read
    print(
        f"validate: {size / 2**20:.1f} MiB, {report.rows_total:,} rows "
        f"({report.outcome.value}, {report.rows_rejected:,} rejected): "
        f"judge {judged * 1000:.0f} ms / read_csv {read * 1000:.0f} ms = {ratio:.1f}x "
        f"(target <= 3x, best of {REPEATS}); "
        f"peak {peak / 2**20:.0f} MiB traced, {rss:.0f} MiB process (target < 300 MB)"
    )


if __name__ == "__main__":
    main()
