#!/usr/bin/env python3
"""Track requests with and without live segments (issue 12), same run.

Starts `cohort serve` on a fresh data directory twice: once with a project
holding no live segment, once with one holding N live segments (the ten
benchmark segments of benches/compare/segments.toml with thresholds and
windows varied, N in all); drives both with wrk — 100-event track requests
from 32 connections — and reports requests/s and p50/p99 latency of each,
and the ratio of the p99s (goal: at most 2x).

  python3 benches/server/bench_live.py --cohort target/release/cohort \\
      --bodies /var/tmp/cohort-serve-bench/bodies-100.txt --live 100

The bodies file holds one track request per line (bench_server.py writes
one from generated events).
"""

import argparse
import json
import os
import shutil
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import new_project, start_server, stop_server, wrk  # noqa: E402

TEMPLATES = [
    "count(purchase, last {d}d) >= {n}",
    "did(add_to_cart, last {d}d) and not did(purchase, last {d}d)",
    "sum(purchase, data.amount, last {d}d) >= {n}0000",
    'count(purchase where data.amount >= {n}000 and data.category = "books", last {d}d) >= 1',
    "days(app_open, last {d}d) >= {n}",
    "seq(view_item -> add_to_cart -> purchase, within {n}d, last {d}d)",
    "first(*) >= now - {d}d",
    "last(purchase) < now - {d}d",
    'did(search where data.tags contains "games", last {d}d) or did(view_item where data.category in ("games", "toys"), last {d}d)',
    "count(@clicked, last {d}d) >= {n} and not did(purchase, last {d}d)",
]


def segments(count):
    out = []
    for i in range(count):
        t = TEMPLATES[i % len(TEMPLATES)]
        out.append(t.format(d=7 + 3 * (i // len(TEMPLATES)), n=1 + i // len(TEMPLATES)))
    return out


def one_run(a, live):
    data = os.path.join(a.work, f"data-live-{live}")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    key = new_project(a.cohort, data, "load")
    proc, base = start_server(a.cohort, data)
    try:
        for i, f in enumerate(segments(live)):
            req = urllib.request.Request(
                f"{base}/v1/projects/load/segments/s{i:03}", method="PUT",
                data=json.dumps({"filter": f, "live": True}).encode(),
                headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
        r = wrk(base + "/v1/projects/load/track", "track.lua", {"BODIES": a.bodies, "KEY": key},
                a.seconds, a.connections, a.threads)
    finally:
        stop_server(proc)
    shutil.rmtree(data, ignore_errors=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="the release cohort binary")
    ap.add_argument("--bodies", required=True, help="track request bodies, one per line")
    ap.add_argument("--work", default="/var/tmp/cohort-live-bench")
    ap.add_argument("--live", type=int, default=100, help="live segments in the second run")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    os.makedirs(a.work, exist_ok=True)
    without = one_run(a, 0)
    with_live = one_run(a, a.live)
    rows = [("no live segment", without), (f"{a.live} live segments", with_live)]
    print("| project | requests/s (100 events each) | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.1f} ms | {r['p99_us'] / 1000:.1f} ms |")
    print(f"\np99 ratio: {with_live['p99_us'] / max(without['p99_us'], 1):.1f}x (goal: at most 2x); "
          f"non-2xx: {without['non2xx'] + with_live['non2xx']}, errors: {without['errors'] + with_live['errors']}")


if __name__ == "__main__":
    main()
