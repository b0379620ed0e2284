"""Load benchmark of the collector: `python benchmarks/collector_load.py`.

Starts the real server (`mobilekit collect`, a child process on a free loopback port, on a
fresh SQLite file unless --db is given), then C concurrent clients post N distinct valid
reports over keep-alive connections; prints reports/s and request latency percentiles,
re-posts a sample to check that duplicates are answered and not stored, restarts the server
on the same database and checks that exactly N reports are there.

The clients speak plain HTTP/1.1 over asyncio streams (like wrk) so that on a small machine
the load generator costs far less CPU than the server it measures; every response status
and body is still checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import DeviceReport, golden_payloads


def make_reports(n: int, run: str) -> list[tuple[str, bytes]]:
    """n distinct reports (ids, canonical JSON), spread over models, devices and units."""
    base = golden_payloads()["report_android_xnnpack.json"]
    ios = golden_payloads()["report_ios_ane.json"]
    models = ["vlf_b0", "vlf_b2", "vtn_eff", "vtn_r50", "tsn_b0"]
    out = []
    for i in range(n):
        src = ios if i % 3 == 0 else base
        p = json.loads(json.dumps(src))
        p["report_id"] = f"load-{run}-{i:06d}"
        p["artifact"]["model"] = models[i % len(models)]
        scale = 1.0 + (i % len(models)) * 0.5 + (i % 7) * 0.01
        p["results"]["latency_ms"] = {k: round(v * scale, 3) for k, v in
                                      p["results"]["latency_ms"].items()}
        p["results"]["latencies_ms"] = None
        body = DeviceReport.model_validate(p).model_dump_json().encode()
        out.append((p["report_id"], body))
    return out


async def _client(host: str, port: int, token: str, jobs: list[tuple[str, bytes]], counter: list[int],
                  latencies: list[float], expect: int, errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /api/v1/reports HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n").encode()
    try:
        while True:
            i = counter[0]
            if i >= len(jobs):
                return
            counter[0] = i + 1
            rid, body = jobs[i]
            t0 = time.perf_counter()
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            resp = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            status = int(status_line.split()[1]) if status_line else 0
            if status != expect or json.loads(resp).get("id") != rid:
                errors.append(f"{rid}: HTTP {status} {resp[:200]!r}")
    finally:
        writer.close()


async def post_all(host: str, port: int, token: str, jobs: list[tuple[str, bytes]], concurrency: int,
                   expect: int) -> tuple[float, list[float], list[str]]:
    counter, latencies, errors = [0], [], []
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(host, port, token, jobs, counter, latencies, expect, errors)
                           for _ in range(concurrency)])
    return time.perf_counter() - t0, latencies, errors


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its live descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo += [c for c, (ppid, _) in stats.items() if ppid == p]
    return total


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/collector_load.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=20000, help="distinct reports to post (default 20000)")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp folder)")
    ap.add_argument("--workers", type=int, default=2,
                    help="server worker processes (default 2: one per core of the 2-core target machine)")
    ap.add_argument("--duplicates", type=int, default=1000, help="reports re-posted as duplicates")
    args = ap.parse_args(argv)

    try:
        import uvloop  # the client's own overhead matters on 2 cores
        uvloop.install()
    except ImportError:
        pass
    tmp = Path(tempfile.mkdtemp(prefix="mobilekit-loadtest-"))
    db = args.db or f"sqlite:///{tmp / 'collector.db'}"
    token = secrets.token_urlsafe(12)
    run = secrets.token_hex(4)
    jobs = make_reports(args.reports, run)
    server = CollectorProcess(db, token, extra_args=("--workers", str(args.workers), "--quiet"),
                              log_path=tmp / "server.log")
    out = sys.stdout
    print(f"collector on {server.url}  db {make_url(db).render_as_string(hide_password=True)}  workers {args.workers}  "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=out)
    with server:
        import httpx

        before = httpx.get(server.url + "/api/v1/reports", params={"limit": 0}).json()["total"]
        cpu0, client0 = tree_cpu_seconds(server.proc.pid), time.process_time()
        wall, lat, errors = asyncio.run(post_all(server.host, server.port, token, jobs,
                                                 args.concurrency, expect=201))
        server_cpu, client_cpu = tree_cpu_seconds(server.proc.pid) - cpu0, time.process_time() - client0
        print(f"posted {len(jobs)} reports with {args.concurrency} clients in {wall:.2f} s: "
              f"{len(jobs) / wall:,.0f} reports/s; request latency p50 {percentile(lat, 50) * 1e3:.1f} ms, "
              f"p99 {percentile(lat, 99) * 1e3:.1f} ms, max {max(lat) * 1e3:.1f} ms", file=out)
        print(f"CPU used: server {server_cpu:.2f} s ({server_cpu / len(jobs) * 1e6:.0f} us per report, "
              f"i.e. {len(jobs) / server_cpu:,.0f} reports per CPU-second), load generator {client_cpu:.2f} s; "
              f"wall x cores = {wall * (os.cpu_count() or 1):.1f} CPU-seconds available", file=out)
        dups = jobs[:args.duplicates]
        if dups:
            _, _, dup_errors = asyncio.run(post_all(server.host, server.port, token, dups,
                                                    args.concurrency, expect=200))
            errors += dup_errors
            print(f"re-posted {len(dups)} as duplicates: "
                  f"{'all answered 200 duplicate' if not dup_errors else f'{len(dup_errors)} wrong'}", file=out)
        print(f"load average {os.getloadavg()[0]:.2f}", file=out)
    with server:  # restart on the same database
        total = httpx.get(server.url + "/api/v1/reports", params={"limit": 0}).json()["total"]
    stored = total - before
    ok = stored == len(jobs) and not errors
    print(f"after restart: {stored} of this run's reports stored (expected exactly {len(jobs)})"
          f" -> {'OK' if ok else 'FAIL'}", file=out)
    for e in errors[:5]:
        print("  error:", e, file=out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
