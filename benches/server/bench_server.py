#!/usr/bin/env python3
"""Loopback load runs against `cohort serve`, with wrk as the load generator.

In one run, on one machine:
  1. `cohort ingest` of a generated NDJSON file into a fresh store: the bulk
     rate the track API is compared with (events/s);
  2. `POST /track` with 100-event requests from 32 connections into a fresh
     project: acknowledged (durable) events/s, p50/p99 latency, and the
     write-ahead-log syncs the server made (group commit);
  3. the same with 1-event requests: requests/s;
  4. the member check `GET /segments/{name}/members/{id}` on the ingested
     store, from 32 connections: checks/s and p50/p99.

Needs wrk (Debian: apt-get install wrk). Prints a Markdown report.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def start_server(cohort, data, extra=()):
    log = open(os.path.join(data, "server.log"), "w")
    p = subprocess.Popen(
        [cohort, "serve", "--data", data, "--listen", "127.0.0.1:0",
         "--rate-limit", "100000000", "--burst", "100000000",
         "--max-writes-in-flight", "4096", *extra],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "RUST_LOG": "warn"})
    line = p.stdout.readline()
    m = re.search(r"http://(\S+)", line)
    if not m:
        p.kill()
        sys.exit(f"server did not start: {line!r}")
    return p, "http://" + m.group(1)


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=120) != 0:
        sys.exit("the server did not exit 0")


def new_project(cohort, data, name):
    run([cohort, "project", "create", "--data", data, name])
    return run([cohort, "project", "key", "create", "--data", data, name]).stdout.strip()


def wrk(url, script, env, seconds, connections, threads):
    out = run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", os.path.join(HERE, script), url], env={**os.environ, **env}).stdout
    m = re.search(r"RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) p50_us=(\d+) p99_us=(\d+) max_us=(\d+)", out)
    took = re.search(r"requests in ([\d.]+)(ms|s|m)\b", out)
    secs = float(took.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[took.group(2)]
    r = dict(zip(["requests", "non2xx", "errors", "p50_us", "p99_us", "max_us"], map(int, m.groups())))
    r["seconds"] = secs
    r["rps"] = r["requests"] / secs
    if r["non2xx"] or r["errors"]:
        print(out, file=sys.stderr)
    return r


def cpu_ticks():
    """(busy, total) jiffies of all cores, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def metric(base, name):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="the release cohort binary")
    ap.add_argument("--work", default="/var/tmp/cohort-serve-bench")
    ap.add_argument("--users", type=int, default=200000)
    ap.add_argument("--events", type=int, default=10000000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--segment", default="last(purchase) < now - 60d",
                    help="the filter of the member-check segment")
    ap.add_argument("--events-file", help="use this NDJSON file of events instead of generating one")
    ap.add_argument("--report", help="also write the Markdown report here")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    os.makedirs(a.work, exist_ok=True)
    events = a.events_file or os.path.join(a.work, f"events-{a.users}-{a.events}-{a.days}.ndjson")
    if not os.path.exists(events):
        print("generating", events, file=sys.stderr)
        run([a.cohort, "gen", "--users", str(a.users), "--events", str(a.events),
             "--days", str(a.days), "--out", events])
    lines = sum(1 for _ in open(events, "rb"))

    # 1. Bulk ingest.
    data = os.path.join(a.work, "data")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    key_m = new_project(a.cohort, data, "members")
    store = os.path.join(data, "projects", "members", "store")
    shutil.rmtree(store)
    t = time.monotonic()
    run([a.cohort, "ingest", "--system", "--db", store, events])
    ingest_s = time.monotonic() - t
    ingest_rate = lines / ingest_s
    print(f"ingest: {lines} events in {ingest_s:.1f} s = {ingest_rate:,.0f} events/s", file=sys.stderr)

    # Track bodies: client events (no `@` types), 100 and 1 per request.
    bodies100 = os.path.join(a.work, "bodies-100.txt")
    bodies1 = os.path.join(a.work, "bodies-1.txt")
    ids_file = os.path.join(a.work, "ids.txt")
    client = []
    ids = set()
    with open(events) as f:
        for line in f:
            if '"type":"@' in line:
                continue
            client.append(line.strip())
            if len(ids) < 50000:
                ids.add(json.loads(line)["subjectId"])
            if len(client) >= 400000:
                break
    with open(bodies100, "w") as f:
        for i in range(0, len(client), 100):
            f.write('{"events":[' + ",".join(client[i:i + 100]) + "]}\n")
    with open(bodies1, "w") as f:
        for e in client[:100000]:
            f.write('{"events":[' + e + "]}\n")
    with open(ids_file, "w") as f:
        for i in sorted(ids):
            f.write(urllib.request.quote(i, safe="") + "\n")

    key_t = new_project(a.cohort, data, "load")
    proc, base = start_server(a.cohort, data)
    try:
        url = base + "/v1/projects/load/track"
        syncs0 = metric(base, "cohort_wal_syncs")
        busy0, total0 = cpu_ticks()
        r100 = wrk(url, "track.lua", {"BODIES": bodies100, "KEY": key_t}, a.seconds, a.connections, a.threads)
        busy1, total1 = cpu_ticks()
        busy = (busy1 - busy0) / max(total1 - total0, 1)
        syncs = metric(base, "cohort_wal_syncs") - syncs0
        stored = metric(base, 'cohort_items_stored_total{kind="events"}')
        r1 = wrk(url, "track.lua", {"BODIES": bodies1, "KEY": key_t}, a.seconds, a.connections, a.threads)

        seg = urllib.request.Request(base + "/v1/projects/members/segments/bench", method="PUT",
                                     data=json.dumps({"filter": a.segment}).encode(),
                                     headers={"Authorization": "Bearer " + key_m, "Content-Type": "application/json"})
        urllib.request.urlopen(seg).read()
        count = json.loads(urllib.request.urlopen(urllib.request.Request(
            base + "/v1/projects/members/segments/bench/count",
            headers={"Authorization": "Bearer " + key_m})).read())["count"]
        rm = wrk(base, "member.lua", {"IDS": ids_file, "KEY": key_m,
                                      "PATH_PREFIX": "/v1/projects/members/segments/bench/members/"},
                 a.seconds, a.connections, a.threads)
    finally:
        stop_server(proc)

    cpu = open("/proc/cpuinfo").read()
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
    cores = os.cpu_count()
    ev100 = r100["rps"] * 100
    report = f"""Machine: {model}, {cores} cores; server and wrk ({a.threads} threads, {a.connections} connections) share them. Loopback, release build, {a.seconds} s per run.

| run | result | p50 | p99 |
|---|---:|---:|---:|
| `cohort ingest` of {lines:,} events (bulk, one process) | {ingest_rate:,.0f} events/s | | |
| `POST /track`, 100 events per request | {ev100:,.0f} events/s ({r100['rps']:,.0f} requests/s) = **{ev100 / ingest_rate:.2f}× ingest** | {r100['p50_us'] / 1000:.1f} ms | **{r100['p99_us'] / 1000:.1f} ms** |
| `POST /track`, 1 event per request | {r1['rps']:,.0f} requests/s | {r1['p50_us'] / 1000:.1f} ms | {r1['p99_us'] / 1000:.1f} ms |
| member check, segment of {count:,} users on the {lines:,}-event store | **{rm['rps']:,.0f} checks/s** | {rm['p50_us'] / 1000:.2f} ms | **{rm['p99_us'] / 1000:.2f} ms** |

Every `200` of `/track` is durable. Group commit: {r100['requests']:,} acknowledged 100-event requests made {syncs:,.0f} write-ahead-log syncs ({r100['requests'] / max(syncs, 1):.1f} requests per sync); the two cores were {busy:.0%} busy during the 100-event run (server and wrk); the server counted {stored:,.0f} events stored over both track runs. Non-2xx answers: {r100['non2xx'] + r1['non2xx'] + rm['non2xx']}, socket errors: {r100['errors'] + r1['errors'] + rm['errors']}.
"""
    print(report)
    if a.report:
        with open(a.report, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
