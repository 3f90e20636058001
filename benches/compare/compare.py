#!/usr/bin/env python3
"""cohort vs DuckDB vs ClickHouse (chDB) on the benchmark segments: ten over
events (s01-s10) and three over tags and user attributes (p01-p03).

    python3 benches/compare/compare.py --cohort target/release/cohort \
        [--users 200000] [--events 10000000] [--days 365] [--runs 15]

One run, one machine, one dataset:

1. `cohort gen --profiles` writes the NDJSON (deterministic for --seed); its
   event lines (the same bytes as without --profiles) and its track-request
   lines (tags, attributes) are split into two files.
2. Ingest, timed, of that same file: `cohort ingest --system` into a fresh
   store; DuckDB `read_json` (typed columns) into a table; chDB `INSERT …
   SELECT FROM file(…, JSONEachRow)` into a MergeTree table.
   Then, untimed in that table, the request lines: `cohort ingest` of the
   request file; for the peers, one row per tag or attribute change
   (kind, subject, key, value, ts, seq) loaded into `tags` and `attrs`.
3. Query tables: DuckDB's sorted by (type, ts); chDB's MergeTree is
   `ORDER BY (type, ts)` and OPTIMIZEd; `tags`/`attrs` by (key, subject, ts).
4. The segments of segments.toml, at now = the generator's end, users only:
   cohort through `cohort bench` (warm, in process); each peer with its best
   SQL below, timed as `SELECT count(*) FROM (segment)` after warm-up runs,
   with --threads threads everywhere. Members are fetched once per engine
   and must be identical, or the script fails.
5. A table: median warm ms per engine, cohort ÷ the faster peer, the batch
   time of all ten in one cohort pass, cohort's peak memory; and ingest
   events/s. Written as markdown to --report too.
6. Cold, as a batch job meets it (skip with --cold-runs 0): one fresh
   process per command, median of --cold-runs — `cohort eval --format
   count FILTER` against the DuckDB CLI (`duckdb -readonly FILE -c "SELECT
   count(*) FROM (segment)"`, pip package duckdb-cli) on the same table,
   which the CLI loads itself from the same file (timed: a whole process,
   like `cohort ingest`); a trivial command of each (`did(no_such_type)`
   against `SELECT 1`); and the first cohort command after the load,
   against a later one. `--cold-only` runs just this step on the store and
   file an earlier run left in --work.
"""
import argparse
import tomllib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# The ten segments (segments.toml) as SQL. {now} is the evaluation instant as
# a timestamp literal; every query returns the matching users' `subject`.
# Windows are inclusive at both ends (filter-language.md: now − D ≤ t ≤ now).
DUCKDB = {
    "s01_repeat_buyers": """
        SELECT subject FROM events
        WHERE type = 'purchase' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
        GROUP BY subject HAVING count(*) >= 2""",
    # One grouped pass over both types (faster than EXCEPT in both engines,
    # and EXCEPT is EXCEPT ALL by default in ClickHouse).
    "s02_abandoned_cart": """
        SELECT subject FROM events
        WHERE type IN ('add_to_cart', 'purchase') AND kind = 'user'
          AND ts BETWEEN {now} - INTERVAL 7 DAY AND {now}
        GROUP BY subject
        HAVING count_if(type = 'add_to_cart') > 0 AND count_if(type = 'purchase') = 0""",
    "s03_big_spenders": """
        SELECT subject FROM events
        WHERE type = 'purchase' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 90 DAY AND {now}
        GROUP BY subject HAVING sum(amount) >= 50000""",
    "s04_book_buyers": """
        SELECT DISTINCT subject FROM events
        WHERE type = 'purchase' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 180 DAY AND {now}
          AND amount >= 10000 AND category = 'books'""",
    "s05_engaged": """
        SELECT subject FROM events
        WHERE type = 'app_open' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
        GROUP BY subject HAVING count(DISTINCT CAST(ts AS DATE)) >= 10""",
    # Earliest next step after each view (ASOF), which is optimal per start.
    "s06_funnel": """
        WITH w AS (
            SELECT subject, type, ts FROM events
            WHERE type IN ('view_item', 'add_to_cart', 'purchase') AND kind = 'user'
              AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}),
        v AS (SELECT subject, ts FROM w WHERE type = 'view_item'),
        c AS (SELECT subject, ts FROM w WHERE type = 'add_to_cart'),
        p AS (SELECT subject, ts FROM w WHERE type = 'purchase'),
        vc AS (SELECT v.subject, v.ts AS t1, c.ts AS t2
               FROM v ASOF JOIN c ON v.subject = c.subject AND v.ts < c.ts),
        vcp AS (SELECT vc.subject, vc.t1, p.ts AS t3
                FROM vc ASOF JOIN p ON vc.subject = p.subject AND vc.t2 < p.ts)
        SELECT DISTINCT subject FROM vcp WHERE t3 - t1 <= INTERVAL 1 DAY""",
    "s07_new_users": """
        SELECT subject FROM events
        WHERE kind = 'user' AND ts <= {now}
        GROUP BY subject HAVING min(ts) >= {now} - INTERVAL 14 DAY""",
    "s08_lapsed_buyers": """
        SELECT subject FROM events
        WHERE type = 'purchase' AND kind = 'user' AND ts <= {now}
        GROUP BY subject HAVING max(ts) < {now} - INTERVAL 60 DAY""",
    "s09_games_interest": """
        SELECT DISTINCT subject FROM events
        WHERE type IN ('search', 'view_item') AND kind = 'user'
          AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
          AND ((type = 'search' AND list_contains(tags, 'games'))
               OR (type = 'view_item' AND category IN ('games', 'toys')))""",
    "s10_clickers_not_buying": """
        SELECT subject FROM events
        WHERE type IN ('@clicked', 'purchase') AND kind = 'user'
          AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
        GROUP BY subject
        HAVING count_if(type = '@clicked') >= 3 AND count_if(type = 'purchase') = 0""",
}

# ClickHouse spells count_if countIf and list_contains has.
CLICKHOUSE = {k: v.replace("count_if(", "countIf(").replace("list_contains(", "has(")
              for k, v in DUCKDB.items()}
CLICKHOUSE.update({
    "s05_engaged": """
        SELECT subject FROM events
        WHERE type = 'app_open' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
        GROUP BY subject HAVING uniqExact(toDate(ts)) >= 10""",
    # windowFunnel: a chain with strictly increasing times, last − first ≤ window (ms).
    "s06_funnel": """
        SELECT subject FROM events
        WHERE type IN ('view_item', 'add_to_cart', 'purchase') AND kind = 'user'
          AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
        GROUP BY subject
        HAVING windowFunnel(86400000, 'strict_increase')(toUInt64(toUnixTimestamp64Milli(ts)),
            type = 'view_item', type = 'add_to_cart', type = 'purchase') = 3""",
})

# The three profile segments (segments.toml, p01-p03) over the flat tables
# `tags` (kind, subject, key, value, ts, seq) and `attrs` (subject, attr,
# value, ts, seq) that split_requests() makes from the track requests. A
# key's value at now is its latest change at or before now, ties in arrival
# order (seq); a delete is a NULL value. arg_max of a one-field struct keeps
# a NULL (a delete) as the latest value instead of skipping it.
PROFILE_DUCKDB = {
    "p01_pro_plan": """
        SELECT subject FROM tags
        WHERE kind = 'user' AND key = 'plan' AND ts <= {now}
        GROUP BY subject
        HAVING arg_max({{'v': value}}, (ts, seq)).v = 'pro'""",
    "p02_stale_cart": """
        SELECT subject FROM tags
        WHERE kind = 'user' AND key = 'cart_at' AND ts <= {now}
        GROUP BY subject
        HAVING TRY_CAST(arg_max({{'v': value}}, (ts, seq)).v AS TIMESTAMPTZ)
               < CAST({now} AS TIMESTAMPTZ) - INTERVAL 3 HOUR""",
    # age: whole years from dob to the date of now in the user's zone (UTC
    # when unset), one fewer before this year's birthday.
    "p03_adult_kr_buyers": """
        WITH a AS (
            SELECT subject,
                   CAST(arg_max({{'v': value}}, (ts, seq)) FILTER (WHERE attr = 'dob') .v AS DATE) AS dob,
                   arg_max({{'v': value}}, (ts, seq)) FILTER (WHERE attr = 'timeZone') .v AS tz,
                   arg_max({{'v': value}}, (ts, seq)) FILTER (WHERE attr = 'country') .v AS country
            FROM attrs WHERE ts <= {now} AND attr IN ('dob', 'timeZone', 'country')
            GROUP BY subject),
        l AS (
            SELECT subject, dob, CAST(timezone(coalesce(tz, 'UTC'), CAST({now} AS TIMESTAMPTZ)) AS DATE) AS d
            FROM a WHERE country = 'KR' AND dob IS NOT NULL),
        b AS (
            SELECT subject FROM events
            WHERE type = 'purchase' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
            GROUP BY subject)
        SELECT l.subject FROM l JOIN b ON l.subject = b.subject
        WHERE dob <= d
          AND year(d) - year(dob) - CASE WHEN month(d) * 100 + day(d) < month(dob) * 100 + day(dob)
                                        THEN 1 ELSE 0 END >= 20""",
}


def profile_clickhouse(zones):
    """ClickHouse's profile SQL. Its date functions take a constant zone, so
    the user's local date is a multiIf over the zones the data holds."""
    local = "multiIf(" + ", ".join(f"tz = '{z}', toDate({{now}}, '{z}')" for z in zones) + \
        ", toDate({now}, 'UTC'))" if zones else "toDate({now}, 'UTC')"
    return {
        "p01_pro_plan": """
            SELECT subject FROM tags
            WHERE kind = 'user' AND key = 'plan' AND ts <= {now}
            GROUP BY subject
            HAVING argMax(tuple(value), (ts, seq)).1 = 'pro'""",
        "p02_stale_cart": """
            SELECT subject FROM tags
            WHERE kind = 'user' AND key = 'cart_at' AND ts <= {now}
            GROUP BY subject
            HAVING parseDateTime64BestEffortOrNull(argMax(tuple(value), (ts, seq)).1, 3, 'UTC')
                   < {now} - INTERVAL 3 HOUR""",
        "p03_adult_kr_buyers": """
            WITH a AS (
                SELECT subject,
                       toDateOrNull(argMaxIf(tuple(value), (ts, seq), attr = 'dob').1) AS dob,
                       argMaxIf(tuple(value), (ts, seq), attr = 'timeZone').1 AS tz,
                       argMaxIf(tuple(value), (ts, seq), attr = 'country').1 AS country
                FROM attrs WHERE ts <= {now} AND attr IN ('dob', 'timeZone', 'country')
                GROUP BY subject),
            l AS (
                SELECT subject, dob, LOCAL AS d FROM a WHERE country = 'KR' AND dob IS NOT NULL),
            b AS (
                SELECT subject FROM events
                WHERE type = 'purchase' AND kind = 'user' AND ts BETWEEN {now} - INTERVAL 30 DAY AND {now}
                GROUP BY subject)
            SELECT l.subject FROM l JOIN b ON l.subject = b.subject
            WHERE dob <= d
              AND toYear(d) - toYear(dob) - if(toMonth(d) * 100 + toDayOfMonth(d)
                                               < toMonth(dob) * 100 + toDayOfMonth(dob), 1, 0) >= 20""".replace(
            "LOCAL", local),
    }


# The data keys the segments read, typed, for both peers.
DUCK_COLUMNS = (
    "{subjectType: 'VARCHAR', subjectId: 'VARCHAR', type: 'VARCHAR', createdAt: 'TIMESTAMPTZ', "
    "data: 'STRUCT(amount DOUBLE, category VARCHAR, tags VARCHAR[])'}"
)
CH_STRUCTURE = (
    "subjectType String, subjectId String, type String, createdAt String, "
    "data Tuple(amount Nullable(Float64), category Nullable(String), tags Array(String))"
)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def warm_median(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        times.append(timed(fn)[1])
    return statistics.median(times) * 1000


class Duck:
    name = "DuckDB"

    def __init__(self, work, threads):
        import duckdb
        self.version = duckdb.__version__
        self.con = duckdb.connect(os.path.join(work, "duck.db"))
        self.con.execute(f"SET threads = {threads}")
        self.con.execute("SET TimeZone = 'UTC'")

    def ingest(self, path):
        self.con.execute("DROP TABLE IF EXISTS raw")
        self.con.execute(
            f"CREATE TABLE raw AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = {DUCK_COLUMNS})",
            [path])

    def prepare(self):
        self.con.execute("DROP TABLE IF EXISTS events")
        self.con.execute("""
            CREATE TABLE events AS
            SELECT subjectType AS kind, subjectId AS subject, type,
                   CAST(createdAt AS TIMESTAMP) AS ts,
                   data.amount AS amount, data.category AS category, data.tags AS tags
            FROM raw ORDER BY type, ts""")
        self.con.execute("DROP TABLE raw")
        self.con.execute("CHECKPOINT")

    def load_profiles(self, tags, attrs):
        for table, path, cols, order in (
                ("tags", tags, "kind VARCHAR, subject VARCHAR, key VARCHAR, value VARCHAR", "key, subject"),
                ("attrs", attrs, "subject VARCHAR, attr VARCHAR, value VARCHAR", "attr, subject")):
            names = [c.split()[0] for c in cols.split(", ")]
            columns = "{" + ", ".join(f"{n}: 'VARCHAR'" for n in names) + ", ts: 'TIMESTAMPTZ', seq: 'BIGINT'}"
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
            self.con.execute(f"""
                CREATE TABLE {table} AS
                SELECT {', '.join(names)}, CAST(ts AS TIMESTAMP) AS ts, seq
                FROM read_json(?, format = 'newline_delimited', columns = {columns})
                ORDER BY {order}, ts""", [path])
        self.con.execute("CHECKPOINT")

    def zones(self):
        return [r[0] for r in self.con.execute(
            "SELECT DISTINCT value FROM attrs WHERE attr = 'timeZone' AND value IS NOT NULL ORDER BY 1").fetchall()]

    def members(self, sql):
        return sorted(r[0] for r in self.con.execute(sql).fetchall())

    def count(self, sql):
        return self.con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]


class ClickHouse:
    name = "chDB"

    def __init__(self, work, threads):
        import chdb
        from chdb import session
        self.version = chdb.__version__
        self.threads = threads
        self.sess = session.Session(os.path.join(work, "chdb"))

    def q(self, sql, fmt="CSV"):
        return self.sess.query(sql + f" SETTINGS max_threads = {self.threads}", fmt)

    def ingest(self, path):
        self.sess.query("DROP TABLE IF EXISTS events")
        self.sess.query("""
            CREATE TABLE events (
                kind LowCardinality(String), subject String, type LowCardinality(String),
                ts DateTime64(3, 'UTC'), amount Nullable(Float64),
                category LowCardinality(Nullable(String)), tags Array(String))
            ENGINE = MergeTree ORDER BY (type, ts)""")
        self.q(f"""
            INSERT INTO events
            SELECT subjectType, subjectId, type, parseDateTime64BestEffort(createdAt, 3, 'UTC'),
                   data.amount, data.category, data.tags
            FROM file('{path}', 'JSONEachRow', '{CH_STRUCTURE}')""")

    def prepare(self):
        self.sess.query("OPTIMIZE TABLE events FINAL")

    def load_profiles(self, tags, attrs):
        for table, path, cols, order in (
                ("tags", tags, "kind LowCardinality(String), subject String, key LowCardinality(String)", "key, subject"),
                ("attrs", attrs, "subject String, attr LowCardinality(String)", "attr, subject")):
            self.sess.query(f"DROP TABLE IF EXISTS {table}")
            self.sess.query(f"""
                CREATE TABLE {table} ({cols}, value Nullable(String), ts DateTime64(3, 'UTC'), seq UInt64)
                ENGINE = MergeTree ORDER BY ({order}, ts)""")
            names = [c.split()[0] for c in cols.split(", ")]
            structure = ", ".join(f"{n} String" for n in names) + ", value Nullable(String), ts String, seq UInt64"
            self.q(f"""
                INSERT INTO {table}
                SELECT {', '.join(names)}, value, parseDateTime64BestEffort(ts, 3, 'UTC'), seq
                FROM file('{path}', 'JSONEachRow', '{structure}')""")
            self.sess.query(f"OPTIMIZE TABLE {table} FINAL")

    def members(self, sql):
        out = self.q(sql, "TabSeparated").bytes().decode()
        return sorted(line for line in out.splitlines() if line)

    def count(self, sql):
        return int(self.q(f"SELECT count() FROM ({sql})", "TabSeparated").bytes().decode().strip())


def split_requests(path, events, requests, tags, attrs):
    """Splits `cohort gen --profiles` output into its event lines (the same
    bytes `cohort gen` writes without --profiles) and its track-request
    lines, and flattens the requests into one row per tag or attribute
    change for the peers (seq: arrival order)."""
    seq = 0
    with open(path, "rb") as src, open(events, "wb") as ev, open(requests, "wb") as rq, \
            open(tags, "w") as tg, open(attrs, "w") as at:
        for line in src:
            if not (line.startswith(b'{"tags"') or line.startswith(b'{"userAttributes"')):
                ev.write(line)
                continue
            rq.write(line)
            req = json.loads(line)
            for item in req.get("tags", []):
                for key, value in item["tags"].items():
                    seq += 1
                    tg.write(json.dumps({"kind": item["subjectType"], "subject": item["subjectId"], "key": key,
                                         "value": None if value is None else
                                         value if isinstance(value, str) else json.dumps(value),
                                         "ts": item["createdAt"], "seq": seq}) + "\n")
            for item in req.get("userAttributes", []):
                for attr, value in item.items():
                    if attr in ("userId", "createdAt"):
                        continue
                    seq += 1
                    at.write(json.dumps({"subject": item["userId"], "attr": attr, "value": value,
                                         "ts": item["createdAt"], "seq": seq}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="the cohort binary (a release build)")
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--end", default="2026-01-01T00:00:00Z")
    ap.add_argument("--runs", type=int, default=15, help="timed runs per segment and engine")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/var/tmp/cohort-compare", help="scratch directory (wiped)")
    ap.add_argument("--history", action="store_true",
                    help="also time cohort on twice the days and events (same events per day)")
    ap.add_argument("--cold-runs", type=int, default=7,
                    help="fresh processes per command in the cold comparison (0: skip it)")
    ap.add_argument("--duckdb-cli", default="duckdb", help="the DuckDB CLI (pip install duckdb-cli)")
    ap.add_argument("--cold-only", action="store_true",
                    help="only the cold comparison, on the store and file an earlier run left in --work")
    ap.add_argument("--report", help="also write the markdown tables here")
    ap.add_argument("--json", help="also write every figure here as JSON")
    args = ap.parse_args()

    segments = list(DUCKDB)
    now = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    now_sql = f"TIMESTAMP '{now.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}'"
    ch_now_sql = f"toDateTime64('{now.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', 3, 'UTC')"

    data = os.path.join(args.work, "events.ndjson")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    store = os.path.join(args.work, "cohort-store")
    trivial = [args.cohort, "eval", "--db", store, "--now", args.end, "--format", "count", "did(no_such_type)"]
    if args.cold_only:
        cold = cold_step(args, env, store, now_sql, trivial, None)
        print(render_cold(cold))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"cold": cold}, f, indent=2)
        return

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)

    generated = os.path.join(args.work, "generated.ndjson")
    _, gen_s = timed(lambda: run([args.cohort, "gen", "--quiet", "--users", str(args.users),
                                  "--events", str(args.events), "--days", str(args.days), "--profiles",
                                  "--seed", str(args.seed), "--end", args.end, "--out", generated], env=env))
    requests = os.path.join(args.work, "requests.ndjson")
    tags_rows, attrs_rows = os.path.join(args.work, "tags.ndjson"), os.path.join(args.work, "attrs.ndjson")
    split_requests(generated, data, requests, tags_rows, attrs_rows)
    os.remove(generated)
    size = os.path.getsize(data)
    log(f"generated {args.events:,} events, {size / 1e6:.0f} MB, in {gen_s:.1f} s")
    # Write back the new file (and the deleted old stores) now, so that no
    # engine's ingest shares the disk with that writeback.
    os.sync()

    # Ingest: each engine reads the same file from the page cache.
    ingest = {}
    os.sync()
    _, ingest["cohort"] = timed(lambda: run([args.cohort, "ingest", "--system", "--quiet", "--db", store, data],
                                            env=env, stdout=subprocess.DEVNULL))
    # The first command after the load pays whatever the load left to do;
    # measured before the peers load, so that their background work (chDB
    # merges its parts after an insert) does not share its cores.
    _, first_after_load = timed(lambda: subprocess.run(trivial, check=True, env=env, stdout=subprocess.DEVNULL))
    # Tags and attributes: the request lines, after the events (not part
    # of the ingest comparison, which stays on the same event file as before).
    profile_load = {}
    _, profile_load["cohort"] = timed(lambda: run(
        [args.cohort, "ingest", "--quiet", "--db", store, requests], env=env, stdout=subprocess.DEVNULL))
    duck = Duck(args.work, args.threads)
    os.sync()
    _, ingest["DuckDB"] = timed(lambda: duck.ingest(data))
    ch = ClickHouse(args.work, args.threads)
    os.sync()
    _, ingest["chDB"] = timed(lambda: ch.ingest(data))
    for name, secs in ingest.items():
        log(f"ingest {name}: {secs:.1f} s, {args.events / secs:,.0f} events/s")
    duck.prepare()
    ch.prepare()
    _, profile_load["DuckDB"] = timed(lambda: duck.load_profiles(tags_rows, attrs_rows))
    _, profile_load["chDB"] = timed(lambda: ch.load_profiles(tags_rows, attrs_rows))
    log("profile load: " + ", ".join(f"{k} {v:.1f} s" for k, v in profile_load.items()))
    duck_profile, ch_profile = PROFILE_DUCKDB, profile_clickhouse(duck.zones())

    # cohort: warm timings and members from one process.
    members_dir = os.path.join(args.work, "cohort-members")
    out = run([args.cohort, "bench", "--db", store, "--now", args.end, "--json", "--runs", str(args.runs),
               "--threads", str(args.threads),
               "--segments", os.path.join(HERE, "segments.toml"), "--members", members_dir],
              env=env, stdout=subprocess.PIPE).stdout
    cohort = json.loads(out)
    cohort_ms = {r["name"]: r["medianMs"] for r in cohort["segments"]}

    rows = []
    mismatches = []
    for name in segments + list(PROFILE_DUCKDB):
        with open(os.path.join(members_dir, f"{name}.txt")) as f:
            expected = [line for line in f.read().splitlines() if line]
        row = {"segment": name, "members": len(expected), "cohort": cohort_ms[name]}
        for engine, table in ((duck, {**DUCKDB, **duck_profile}), (ch, {**CLICKHOUSE, **ch_profile})):
            sql = table[name].format(now=now_sql if engine is duck else ch_now_sql)
            got = engine.members(sql)
            if got != expected:
                extra = sorted(set(got) - set(expected))[:5]
                missing = sorted(set(expected) - set(got))[:5]
                mismatches.append(f"{name}: {engine.name} has {len(got)} members, cohort {len(expected)}; "
                                  f"only in {engine.name}: {extra}; only in cohort: {missing}")
            row[engine.name] = warm_median(lambda: engine.count(sql), args.runs)
            log(f"{name}: cohort {row['cohort']:.2f} ms, {engine.name} {row[engine.name]:.2f} ms")
        rows.append(row)

    history = history_step(args, env, store) if args.history else None
    cold = None
    if args.cold_runs > 0:
        duck.con.close()  # the CLI opens the file read-only, alone
        cold = cold_step(args, env, store, now_sql, trivial, first_after_load)
    append = append_step(args, env, store)
    report = render(args, rows, cohort, ingest, size, duck, ch, history, cold)
    report += ("\n\nTags and attributes (the generator's track-request lines, loaded after the events; "
               "not in the ingest table): " + ", ".join(f"{k} {v:.1f} s" for k, v in profile_load.items()) + ".")
    report += (f"\n\nAppending one more day ({append['events']:,} events) to the populated stores: "
               f"`cohort ingest` {append['cohort']:.2f} s ({append['events'] / append['cohort']:,.0f} events/s), "
               f"DuckDB `INSERT ... FROM read_json` {append['DuckDB']:.2f} s "
               f"({append['events'] / append['DuckDB']:,.0f} events/s): cohort "
               f"{append['DuckDB'] / append['cohort']:.2f}× DuckDB's rate.")
    print(report)
    if args.report:
        with open(args.report, "w") as f:
            f.write(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "cohort": cohort, "ingestSeconds": ingest, "bytes": size,
                       "profileLoadSeconds": profile_load,
                       "history": history, "cold": cold, "append": append, "mismatches": mismatches},
                      f, indent=2)
    if mismatches:
        print("\nMEMBERS DIFFER:\n" + "\n".join(mismatches), file=sys.stderr)
        sys.exit(1)
    print("\nAll three engines returned the same members for every segment.")


def render_cold(cold, ingest=None, events=None):
    t = cold["trivial"]
    lines = [f"Cold: one fresh process per command, median of {cold['runs']}; DuckDB CLI {cold['duckdbCli']} "
             "on its own copy of the same table, read-only.", "",
             "| command | cohort ms | DuckDB CLI ms | cohort ÷ DuckDB |", "|---|---:|---:|---:|",
             f"| trivial (`did(no_such_type)` / `SELECT 1`) | {t['cohort']:.0f} | {t['DuckDB']:.0f} | "
             f"{t['cohort'] / t['DuckDB']:.2f} |"]
    for r in cold["segments"]:
        lines.append(f"| {r['segment']} | {r['cohort']:.0f} | {r['DuckDB']:.0f} | {r['cohort'] / r['DuckDB']:.2f} |")
    lines.append("")
    if cold.get("firstAfterLoadMs") is not None:
        lines.append(f"The first cohort command after the load: {cold['firstAfterLoadMs']:.0f} ms "
                     f"({cold['firstAfterLoadMs'] / t['cohort']:.2f}× a later one).")
    load = cold["duckdbCliLoadSeconds"]
    line = f"The DuckDB CLI's load of the file into its sorted table, one process: {load:.1f} s"
    if ingest and events:
        line += (f" ({events / load:,.0f} events/s); `cohort ingest`, one process: {ingest['cohort']:.1f} s "
                 f"({events / ingest['cohort']:,.0f} events/s): cohort {load / ingest['cohort']:.2f}× DuckDB's rate")
    lines.append(line + ".")
    return "\n".join(lines)


def process_median(cmd, runs, env=None):
    """Median wall time (ms) of `runs` fresh processes, and the last output."""
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE).stdout.decode().strip()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def cold_step(args, env, store, now_sql, trivial, first_after_load):
    """One fresh process per command: cohort's CLI against DuckDB's, on the
    same segments; counts must agree."""
    with open(os.path.join(HERE, "segments.toml"), "rb") as f:
        filters = {k: v["filter"] for k, v in tomllib.load(f)["segments"].items()}
    # The CLI reads only files of its own storage version, so it loads its
    # own copy of the table from the same NDJSON, as the Python peer did.
    duck_file = os.path.join(args.work, "duck-cli.db")
    setup = f"SET threads = {args.threads}; SET TimeZone = 'UTC'; "
    for suffix in ("", ".wal"):
        if os.path.exists(duck_file + suffix):
            os.remove(duck_file + suffix)
    data = os.path.join(args.work, "events.ndjson")
    os.sync()
    _, load_s = timed(lambda: run([args.duckdb_cli, duck_file, "-c", setup + f"""
        CREATE TABLE events AS
        SELECT subjectType AS kind, subjectId AS subject, type, CAST(createdAt AS TIMESTAMP) AS ts,
               data.amount AS amount, data.category AS category, data.tags AS tags
        FROM read_json('{data}', format = 'newline_delimited', columns = {DUCK_COLUMNS})
        ORDER BY type, ts; CHECKPOINT;"""], stdout=subprocess.DEVNULL))
    log(f"DuckDB CLI load (one process, sorted table): {load_s:.1f} s")
    duck = [args.duckdb_cli, "-readonly", "-csv", "-noheader", duck_file, "-c"]
    version = subprocess.run([args.duckdb_cli, "--version"], check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    out = {"duckdbCli": version, "runs": args.cold_runs, "duckdbCliLoadSeconds": load_s,
           "firstAfterLoadMs": first_after_load * 1000 if first_after_load is not None else None,
           "segments": []}
    out["trivial"] = {
        "cohort": process_median(trivial, args.cold_runs, env)[0],
        "DuckDB": process_median(duck + ["SELECT 1"], args.cold_runs)[0],
    }
    log(f"cold trivial: cohort {out['trivial']['cohort']:.0f} ms, DuckDB CLI {out['trivial']['DuckDB']:.0f} ms")
    for name, sql in DUCKDB.items():
        c_ms, c_out = process_median([args.cohort, "eval", "--db", store, "--now", args.end, "--format", "count",
                                      filters[name]], args.cold_runs, env)
        d_ms, d_out = process_median(duck + [setup + f"SELECT count(*) FROM ({sql.format(now=now_sql)})"],
                                     args.cold_runs)
        if int(c_out.split()[0].replace(",", "")) != int(d_out):
            raise SystemExit(f"cold {name}: cohort counts {c_out!r}, DuckDB {d_out!r}")
        out["segments"].append({"segment": name, "cohort": c_ms, "DuckDB": d_ms})
        log(f"cold {name}: cohort {c_ms:.0f} ms, DuckDB CLI {d_ms:.0f} ms")
    return out


def append_step(args, env, store):
    """Append one more day (a tenth of the events, after the history ends)
    to the populated stores: `cohort ingest` (one process) against DuckDB's
    `INSERT ... FROM read_json` into its sorted table. Runs last: the day
    is past `--end`, and nothing is measured on the stores after it."""
    end = dt.datetime.fromisoformat(args.end.replace("Z", "+00:00"))
    day_end = (end + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = max(args.events // 10, 1)
    day = os.path.join(args.work, "day.ndjson")
    run([args.cohort, "gen", "--quiet", "--users", str(args.users), "--events", str(events), "--days", "1",
         "--seed", str(args.seed + 1), "--end", day_end, "--out", day], env=env)
    os.sync()
    _, cohort_s = timed(lambda: run([args.cohort, "ingest", "--system", "--quiet", "--db", store, day],
                                    env=env, stdout=subprocess.DEVNULL))
    import duckdb
    con = duckdb.connect(os.path.join(args.work, "duck.db"))
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET TimeZone = 'UTC'")
    os.sync()
    _, duck_s = timed(lambda: con.execute(f"""
        INSERT INTO events
        SELECT subjectType, subjectId, type, CAST(createdAt AS TIMESTAMP), data.amount, data.category, data.tags
        FROM read_json(?, format = 'newline_delimited', columns = {DUCK_COLUMNS})""", [day]))
    con.close()
    log(f"append a day ({events:,} events): cohort {cohort_s:.1f} s, DuckDB {duck_s:.1f} s")
    return {"events": events, "cohort": cohort_s, "DuckDB": duck_s}


def cohort_bench(args, env, store):
    out = run([args.cohort, "bench", "--db", store, "--now", args.end, "--json", "--runs", str(args.runs),
               "--threads", str(args.threads),
               "--segments", os.path.join(HERE, "segments.toml")], env=env, stdout=subprocess.PIPE).stdout
    return {r["name"]: r["medianMs"] for r in json.loads(out)["segments"]}


def history_step(args, env, store):
    """cohort's segment times on D days and on 2·D days of history at the same
    events per day (and the same users), measured back to back."""
    data = os.path.join(args.work, "events-2x.ndjson")
    store2 = os.path.join(args.work, "cohort-store-2x")
    run([args.cohort, "gen", "--quiet", "--users", str(args.users), "--events", str(2 * args.events),
         "--days", str(2 * args.days), "--seed", str(args.seed), "--end", args.end, "--out", data], env=env)
    run([args.cohort, "ingest", "--system", "--quiet", "--db", store2, data], env=env, stdout=subprocess.DEVNULL)
    os.remove(data)
    return {"days": args.days, "one": cohort_bench(args, env, store), "two": cohort_bench(args, env, store2)}


def render(args, rows, cohort, ingest, size, duck, ch, history=None, cold=None):
    lines = [
        f"Dataset: `cohort gen --users {args.users} --events {args.events} --days {args.days} "
        f"--seed {args.seed}` ({size / 1e6:.0f} MB NDJSON); now = {args.end}; users only; "
        f"{args.threads} threads per engine; median of {args.runs} warm runs. "
        f"DuckDB {duck.version}, chDB {ch.version}.",
        "",
        "| segment | members | cohort ms | DuckDB ms | chDB ms | cohort ÷ faster peer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    faster_sum = 0.0
    for r in rows:
        faster = min(r["DuckDB"], r["chDB"])
        faster_sum += faster
        lines.append(f"| {r['segment']} | {r['members']:,} | {r['cohort']:.2f} | {r['DuckDB']:.2f} | "
                     f"{r['chDB']:.2f} | {r['cohort'] / faster:.2f} |")
    batch = cohort["batch"]["medianMs"]
    lines += [
        "",
        f"All {len(rows)} in one cohort batch pass: {batch:.2f} ms, against {faster_sum:.2f} ms for the faster "
        f"peer's {len(rows)} queries: {batch / faster_sum:.2f}×.",
    ]
    rss = cohort.get("peakRssBytes")
    if rss:
        lines.append(f"cohort's peak resident memory while evaluating (store open, all runs): {rss / 2**20:.0f} MiB.")
    lines += ["", "| ingest of the same NDJSON | seconds | events/s | ÷ cohort |", "|---|---:|---:|---:|"]
    for name, secs in ingest.items():
        lines.append(f"| {name} | {secs:.1f} | {args.events / secs:,.0f} | {secs / ingest['cohort']:.2f} |")
    if cold:
        lines += ["", render_cold(cold, ingest, args.events)]
    if history:
        d = history["days"]
        lines += ["", f"History: the same segments on {d} and {2 * d} days (twice the events, same events per day), "
                  "cohort, back to back.", "",
                  f"| segment | {d} days ms | {2 * d} days ms | ratio |", "|---|---:|---:|---:|"]
        for name, one in history["one"].items():
            if name not in DUCKDB:
                continue  # the 2x store has no tags or attributes
            two = history["two"][name]
            lines.append(f"| {name} | {one:.2f} | {two:.2f} | {two / one:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
