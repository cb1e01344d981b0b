"""Accounts per replica: one `run` process keeping N accounts on one `rclone serve sftp`.

Issue 19 §1: 2,000 accounts, `workers: 8`, interval 60 s, files dropped now and then. It
reads the DEBUG `poll.finished` events and prints, against the issue's budgets: start-up
time to the first poll, the lag between an account's sweeps ÷ interval (p50, p99; target
p99 < 1.2), peak RSS (< 1 GB), average CPU (< 0.5 core), file-descriptor and thread counts
over time (no growth), drop-to-archive latency. Before that it measures what one SFTP
session costs on rclone and on sshd (connect + auth, memory and threads per open session),
the figures behind keeping sessions open, pooling them, or a mix (deploy/README.md).

    python -m bench.bench_accounts                       # 200 accounts, 3 minutes
    python -m bench.bench_accounts --accounts 2000 --minutes 10
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from bench._rclone import RcloneSftp, rclone_server
from bench._servers import (
    call_list,
    customer,
    emit,
    file_name,
    percentile,
    processes_cpu,
    settings_mapping,
)
from bench._sessions import session_costs

LAG_TARGET = 1.2  # p99 of the time between an account's sweeps ÷ interval
RSS_TARGET_MB = 1024
CPU_TARGET = 0.5  # cores, averaged once every account has been swept
SAMPLE_SECONDS = 5.0
STOP_TIMEOUT = 150.0


@dataclass
class Sample:
    at: float  # seconds since the service was started
    rss_mb: float
    threads: int
    fds: int
    cpu: float  # CPU seconds used so far


@dataclass
class Run:
    started: float  # wall clock (time.time()) when the process was started
    samples: list[Sample] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    dropped: int = 0
    exit_code: int | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--interval", type=int, default=60, help="poll_interval_seconds")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--drop-every", type=float, default=10.0, help="seconds between files")
    parser.add_argument("--sessions", type=int, default=200, help="0: skip the session costs")
    args = parser.parse_args()
    if args.sessions:
        for line in session_costs(args.sessions):
            emit(line)
    with tempfile.TemporaryDirectory(prefix="bench-accounts-") as tmp, rclone_server() as server:
        root = Path(tmp)
        names = [f"acct{i:04d}" for i in range(args.accounts)]
        # Every account keeps its session open, as `run` does when the server allows it.
        customers = [customer(n, server.source(n, args.accounts + 8)) for n in names]
        for entry in customers:  # each flow its own secret, as in production
            entry["flows"][0]["security_id"] = hashlib.sha256(entry["id"].encode()).hexdigest()
        for name in names:
            server.add_account(name)
        mapping = settings_mapping(
            f"sqlite:///{root / 'state.db'}",
            customers,
            outbox=root / "outbox",
            workers=args.workers,
            poll_interval_seconds=args.interval,
            log_format="json",
            log_level="DEBUG",
        )
        config = root / "config.yaml"
        config.write_text(yaml.safe_dump(mapping), encoding="utf-8")
        log = root / "service.log"
        run = _run(server, config, log, names, args)
        report(run, log, args)


def _run(
    server: RcloneSftp, config: Path, log: Path, names: list[str], args: argparse.Namespace
) -> Run:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = Run(started=time.time())
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
        )
        stop = threading.Event()
        sampler = threading.Thread(
            target=_sample, args=(process.pid, server.process.pid, run, stop), daemon=True
        )
        sampler.start()
        try:
            _drive(process, server, names, run, log, args)
        finally:
            stop.set()
            sampler.join()
            process.send_signal(signal.SIGTERM)
            try:
                run.exit_code = process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return run


def _drive(
    process: subprocess.Popen[bytes],
    server: RcloneSftp,
    names: list[str],
    run: Run,
    log: Path,
    args: argparse.Namespace,
) -> None:
    """Wait for the first poll, then drop files for ``--minutes`` and time their archiving."""
    deadline = time.monotonic() + 1800
    while b'"poll.finished"' not in _tail(log):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the service did not poll (exit {process.returncode}): {log}")
        time.sleep(0.5)
    pending: dict[Path, float] = {}
    rng = random.Random(19)
    end = time.monotonic() + args.minutes * 60
    next_drop = time.monotonic()
    index = 0
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode}): {log}")
        if time.monotonic() >= next_drop:
            index += 1
            account = server.accounts / rng.choice(names)
            name = file_name(index)
            temp = account / "Upload" / f".{name}.part"
            temp.write_bytes(call_list(index))
            temp.rename(account / "Upload" / name)
            pending[account / "Success" / name] = time.monotonic()
            run.dropped += 1
            next_drop += args.drop_every
        for path, dropped in list(pending.items()):
            if path.exists():
                run.latencies.append(time.monotonic() - dropped)
                del pending[path]
        time.sleep(0.5)


def _tail(path: Path, size: int = 1 << 16) -> bytes:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read()


def _sample(pid: int, server_pid: int, run: Run, stop: threading.Event) -> None:
    while not stop.wait(SAMPLE_SECONDS):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            cpu = processes_cpu([pid])
            server_cpu = processes_cpu([server_pid])
        except FileNotFoundError:
            return
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        run.samples.append(
            Sample(
                at=time.time() - run.started,
                rss_mb=int(fields["VmHWM"].split()[0]) / 1024,
                threads=int(fields["Threads"]),
                fds=fds,
                cpu=cpu,
            )
        )
        run.server_cpu.append(server_cpu)


def sweeps(log: Path) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each account's `poll.finished` times, and the first time of some service events,
    as seconds since the epoch."""
    by_account: dict[str, list[float]] = defaultdict(list)
    firsts: dict[str, float] = {}
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            name = event.get("event")
            at = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
            firsts.setdefault(name, at)
            if name == "poll.finished":
                by_account[event["customer"]].append(at)
    return by_account, firsts


def report(run: Run, log: Path, args: argparse.Namespace) -> None:
    by_account, firsts = sweeps(log)
    first_poll = firsts["poll.finished"] - run.started
    all_swept = max(times[0] for times in by_account.values()) - run.started
    started_event = firsts.get("service.started", float("nan")) - run.started
    emit(
        f"accounts: {args.accounts} accounts on one rclone serve sftp, workers {args.workers}, "
        f"interval {args.interval} s, {args.minutes:g} min: start-up to service.started "
        f"{started_event:.1f} s, to the first poll {first_poll:.1f} s, every account swept "
        f"once after {all_swept:.1f} s ({len(by_account)} of {args.accounts} accounts swept)"
    )
    ratios = [
        (b - a) / args.interval
        for times in by_account.values()
        for a, b in itertools.pairwise(times)
    ]
    if ratios:
        p50, p99, worst = percentile(ratios, 0.5), percentile(ratios, 0.99), max(ratios)
        late = sum(1 for r in ratios if r > LAG_TARGET)
        emit(
            f"accounts: lag between an account's sweeps ÷ interval over {len(ratios)} gaps: "
            f"p50 {p50:.2f}, p99 {p99:.2f}, max {worst:.2f}, {late} above {LAG_TARGET:g} "
            f"(target p99 < {LAG_TARGET:g}) {'OK' if p99 < LAG_TARGET else 'MISSED'}"
        )
    steady = [s for s in run.samples if s.at >= all_swept]
    peak = max(s.rss_mb for s in run.samples)
    emit(
        f"accounts: peak RSS {peak:.0f} MB (target < {RSS_TARGET_MB} MB) "
        f"{'OK' if peak < RSS_TARGET_MB else 'MISSED'}"
    )
    if len(steady) >= 2:
        a, b = steady[0], steady[-1]
        cores = (b.cpu - a.cpu) / (b.at - a.at)
        startup_cores = a.cpu / a.at
        emit(
            f"accounts: CPU {cores:.2f} core once every account was swept (target < "
            f"{CPU_TARGET:g}) {'OK' if cores < CPU_TARGET else 'MISSED'}; "
            f"{startup_cores:.2f} core during start-up; rclone "
            f"{_server_cores(run, steady):.2f} core"
        )
        thirds = [steady[0], steady[len(steady) // 3], steady[2 * len(steady) // 3], steady[-1]]
        threads = " → ".join(str(s.threads) for s in thirds)
        fds = " → ".join(str(s.fds) for s in thirds)
        grew = steady[-1].threads > steady[0].threads + 8 or steady[-1].fds > steady[0].fds + 8
        emit(
            f"accounts: threads {threads}, fds {fds} (at {', '.join(f'{s.at:.0f}' for s in thirds)}"
            f" s; target: no growth) {'MISSED' if grew else 'OK'}"
        )
    if run.latencies:
        emit(
            f"accounts: drop-to-archive latency over {len(run.latencies)} of {run.dropped} files: "
            f"p50 {percentile(run.latencies, 0.5):.1f} s, max {max(run.latencies):.1f} s "
            f"(interval {args.interval} s)"
        )
    emit(f"accounts: SIGTERM exit status {run.exit_code} (target 0)")


def _server_cores(run: Run, steady: list[Sample]) -> float:
    index = {id(s): i for i, s in enumerate(run.samples)}
    first, last = index[id(steady[0])], index[id(steady[-1])]
    return (run.server_cpu[last] - run.server_cpu[first]) / (steady[-1].at - steady[0].at)


if __name__ == "__main__":
    main()
