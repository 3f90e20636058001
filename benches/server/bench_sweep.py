#!/usr/bin/env python3
"""A wave of deadlines: N live (segment, subject) pairs falling due at one
instant, swept by `cohort serve` while track requests keep coming (issue 12).

The wave stands in for a midnight's birthdays: N users each have one
`app_open` event at T - 1 day, and the live segment `did(app_open, last 1d)`
holds them all until T, when every one of them leaves at the same instant.
(A birthday deadline is the same kind of entry in the same deadline index,
decided the same way; only the instant's origin differs, and a benchmark
cannot wait for a real midnight.)

On one machine, in one run:
  1. a project gets the N events (`cohort ingest`) and the live segment
     (`cohort segment save --live`: the backfill, timed);
  2. `cohort serve` starts; wrk sends 100-event track requests from a few
     connections for a while before T (the baseline), then from just before
     T for --seconds (the wave);
  3. meanwhile, the first and the last subject of the wave are probed with
     the member check, to time when the wave starts and ends being swept.

It runs twice on the same timeline: a control whose N users fall due ten
minutes after T, then the wave. Prints a Markdown report: track requests/s, p50,
p99 and max before T and from T on in both runs, and how long the sweep of
the wave took.

  python3 benches/server/bench_sweep.py --cohort target/release/cohort \\
      --bodies /var/tmp/cohort-serve-bench/bodies-100.txt --subjects 1000000
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import new_project, run, start_server, stop_server, wrk  # noqa: E402

DAY_MS = 86_400_000


def iso(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def member(base, key, subject):
    req = urllib.request.Request(f"{base}/v1/projects/sweep/segments/wave/members/{subject}",
                                 headers={"Authorization": "Bearer " + key})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())["member"]


def probe(base, key, first, last, out, stop):
    """Records when `first` and `last` stop being members (wall ms)."""
    while not stop.is_set() and ("last" not in out):
        now = time.time() * 1000
        try:
            if "first" not in out and not member(base, key, first):
                out["first"] = now
            if "first" in out and not member(base, key, last):
                out["last"] = time.time() * 1000
        except OSError:
            pass
        time.sleep(0.05)


def scenario(a, wave):
    """One run: N users whose deadlines all fall due at T (`wave`), or the
    same N users falling due ten minutes later (the control, same timeline).
    Returns (setup seconds, wrk before T, wrk from T on, probe marks, T)."""
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    data = os.path.join(a.work, "data")
    os.makedirs(data)
    key = new_project(a.cohort, data, "sweep")
    store = os.path.join(data, "projects", "sweep", "store")

    wave_at = int(time.time() * 1000) + a.lead * 1000
    wave_at -= wave_at % 1000
    # The control's users are members throughout too, and leave ten
    # minutes after T, when the load is over.
    created = iso(wave_at - DAY_MS if wave else wave_at - DAY_MS + 600_000)
    events = os.path.join(a.work, "wave.ndjson")
    with open(events, "w") as f:
        for i in range(a.subjects):
            f.write(f'{{"subjectType":"user","subjectId":"w{i}","type":"app_open","createdAt":"{created}","data":{{}}}}\n')
    t = time.time()
    run([a.cohort, "ingest", "--quiet", "--db", store, events])
    ingest_s = time.time() - t
    t = time.time()
    run([a.cohort, "segment", "save", "--db", store, "--live", "wave", "did(app_open, last 1d)"])
    backfill_s = time.time() - t
    os.remove(events)
    # With the wave, everyone leaves at the first instant after
    # T - 1 day + 1 day.
    leave_at = wave_at + 1
    if time.time() * 1000 > leave_at - (a.baseline + 10) * 1000:
        sys.exit(f"setup took too long for --lead {a.lead}: raise it")
    proc, base = start_server(a.cohort, data)
    try:
        assert member(base, key, "w0"), "w0 should be in the segment before T"
        wait = (leave_at - (a.baseline + 5) * 1000) / 1000 - time.time()
        time.sleep(max(wait, 0))
        load = lambda seconds: wrk(base + "/v1/projects/sweep/track", "track.lua",  # noqa: E731
                                   {"BODIES": a.bodies, "KEY": key}, seconds, a.connections, a.threads)
        before = load(a.baseline)
        time.sleep(max((leave_at - 2000) / 1000 - time.time(), 0))
        marks, stop = {}, threading.Event()
        prober = None
        if wave:
            prober = threading.Thread(target=probe, args=(base, key, "w0", f"w{a.subjects - 1}", marks, stop))
            prober.start()
        during = load(a.seconds)
        if prober:
            prober.join(timeout=600)
        stop.set()
    finally:
        stop_server(proc)
    shutil.rmtree(a.work, ignore_errors=True)
    return (ingest_s, backfill_s), before, during, marks, leave_at


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="the release cohort binary")
    ap.add_argument("--bodies", required=True, help="track request bodies, one per line")
    ap.add_argument("--work", default="/var/tmp/cohort-sweep-bench", help="scratch directory (wiped)")
    ap.add_argument("--subjects", type=int, default=1_000_000, help="pairs falling due at once")
    ap.add_argument("--lead", type=int, default=150,
                    help="seconds from a run's start to the wave (setup must end --baseline + 10 s before)")
    ap.add_argument("--baseline", type=int, default=15, help="seconds of load before the wave")
    ap.add_argument("--seconds", type=int, default=60, help="seconds of load from 2 s before the wave")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    control = scenario(a, wave=False)
    waved = scenario(a, wave=True)
    print(f"{a.subjects:,} users in the live segment `did(app_open, last 1d)`; with the wave, all of "
          f"them leave it at one instant T. Setup with the wave: ingest {waved[0][0]:.1f} s, backfill "
          f"(`segment save --live`) {waved[0][1]:.1f} s.\n")
    print(f"| run | window | requests/s (100 events each, {a.connections} connections) | p50 | p99 | max |")
    print("|---|---|---:|---:|---:|---:|")
    for run_name, r in [("control (due 10 min later)", control), ("wave at T", waved)]:
        for name, w in [(f"{a.baseline} s before T", r[1]), (f"{a.seconds} s from T - 2 s", r[2])]:
            print(f"| {run_name} | {name} | {w['rps']:,.0f} | {w['p50_us'] / 1000:.1f} ms "
                  f"| {w['p99_us'] / 1000:.1f} ms | {w['max_us'] / 1000:.1f} ms |")
    marks, leave_at = waved[3], waved[4]
    if "first" in marks and "last" in marks:
        print(f"\nThe wave: first exit seen {(marks['first'] - leave_at) / 1000:.2f} s after T, the last "
              f"{(marks['last'] - leave_at) / 1000:.1f} s after "
              f"({a.subjects / max((marks['last'] - leave_at) / 1000, 0.001):,.0f} pairs/s).")
    else:
        print(f"\nThe wave was not seen swept by the end of the load: {marks}")
    ratio = waved[2]["p99_us"] / max(control[2]["p99_us"], 1)
    errors = sum(r[i][k] for r in (control, waved) for i in (1, 2) for k in ("non2xx", "errors"))
    print(f"Write p99 from T on, with the wave / without: {ratio:.1f}x; non-2xx and errors: {errors}")


if __name__ == "__main__":
    main()
