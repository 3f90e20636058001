#!/usr/bin/env python3
"""Ingest throughput on one NDJSON file: cohort vs DuckDB's read_json, same run.

    python3 benches/compare/ingest_duckdb.py FILE.ndjson[.gz] [--cohort PATH] [--runs N]

DuckDB reads the decompressed file with read_json (newline-delimited, typed
columns given, 2 threads) into a table. cohort ingests the same decompressed
file into a fresh store with `cohort ingest` (validation, dictionaries,
catalog, WAL synced at the end). Prints median wall time and events/s of each.
"""
import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--cohort", help="path to the cohort binary (release build)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--copies", type=int, default=5, help="repeat the file this many times (distinct ids)")
    args = ap.parse_args()

    import duckdb

    work = tempfile.mkdtemp(prefix="cohort-ingest-compare-")
    try:
        opener = gzip.open if args.file.endswith(".gz") else open
        with opener(args.file, "rt") as f:
            lines = f.read().splitlines()
        path = os.path.join(work, "events.ndjson")
        with open(path, "w") as out:
            for copy in range(args.copies):
                for line in lines:
                    out.write(line.replace('"subjectId":"', f'"subjectId":"{copy}-', 1) + "\n")
        events = len(lines) * args.copies
        size = os.path.getsize(path)
        print(f"input: {events:,} events, {size / 1e6:.1f} MB ({args.copies} copies of {args.file})")

        def duck():
            con = duckdb.connect(os.path.join(work, "duck.db"))
            con.execute("SET threads = 2")
            con.execute("DROP TABLE IF EXISTS events")
            con.execute(
                "CREATE TABLE events AS SELECT * FROM read_json(?, format='newline_delimited', columns={"
                "'subjectType': 'VARCHAR', 'subjectId': 'VARCHAR', 'type': 'VARCHAR', "
                "'createdAt': 'TIMESTAMPTZ', 'data': 'JSON'})",
                [path],
            )
            n = con.execute("SELECT count(*) FROM events").fetchone()[0]
            assert n == events, n
            con.close()

        rows = []
        t = median_time(duck, args.runs)
        rows.append(("duckdb read_json", t))
        if args.cohort:
            def cohort():
                db = os.path.join(work, "cohort-store")
                shutil.rmtree(db, ignore_errors=True)
                subprocess.run([args.cohort, "ingest", "--quiet", "--db", db, path], check=True, stdout=subprocess.DEVNULL)
            t = median_time(cohort, args.runs)
            rows.append(("cohort ingest", t))
        print(f"{'engine':<20} {'median s':>10} {'events/s':>14}")
        for name, t in rows:
            print(f"{name:<20} {t:>10.3f} {events / t:>14,.0f}")
        if len(rows) == 2:
            print(f"cohort / duckdb events/s ratio: {rows[0][1] / rows[1][1]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
