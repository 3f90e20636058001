#!/usr/bin/env python3
"""Expected members of the CDNOW filters, computed independently with DuckDB.

    python3 testdata/eval/cdnow/duckdb_expected.py > testdata/eval/cdnow/expected.json

Each filter in FILTERS is paired with SQL written by hand from
docs/filter-language.md; cohort's tests (crates/cohort-eval/tests/cdnow.rs)
check that both of cohort's evaluators return exactly these members.
Needs duckdb (benches/compare/requirements.txt).
"""
import json
import os
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "cdnow.ndjson.gz")
NOW = "1998-07-01T00:00:00Z"
DAY = "86400000::BIGINT"

# (filter, SQL returning the member subjectIds). `e` has subject, ts (ms), cds, amount.
FILTERS = [
    ("count(purchase, last 30d) >= 2",
     f"SELECT subject FROM e WHERE ts BETWEEN now_ms - 30*{DAY} AND now_ms GROUP BY subject HAVING count(*) >= 2"),
    ("sum(purchase, data.dollarValue, last 90d) >= 100",
     f"SELECT subject FROM e WHERE ts BETWEEN now_ms - 90*{DAY} AND now_ms GROUP BY subject HAVING sum(amount) >= 100"),
    ("days(purchase) >= 5",
     f"SELECT subject FROM e GROUP BY subject HAVING count(DISTINCT floor(ts / 86400000)) >= 5"),
    ("first(*) >= 1997-03-01",
     "SELECT subject FROM e GROUP BY subject HAVING min(ts) >= epoch_ms(TIMESTAMP '1997-03-01')"),
    ("last(purchase) < now - 365d",
     f"SELECT subject FROM e GROUP BY subject HAVING max(ts) < now_ms - 365*{DAY}"),
    ("count(purchase where data.cds >= 3) >= 2",
     "SELECT subject FROM e WHERE cds >= 3 GROUP BY subject HAVING count(*) >= 2"),
    ("avg(purchase, data.dollarValue) > 50",
     "SELECT subject FROM e GROUP BY subject HAVING avg(amount) > 50"),
    ("max(purchase, data.dollarValue, since 1998-01-01) >= 200",
     "SELECT subject FROM e WHERE ts >= epoch_ms(TIMESTAMP '1998-01-01') GROUP BY subject HAVING max(amount) >= 200"),
    ("min(purchase, data.dollarValue) < 5",
     "SELECT subject FROM e GROUP BY subject HAVING min(amount) < 5"),
    ("seq(purchase -> purchase, within 7d)",
     f"""SELECT DISTINCT subject FROM (
            SELECT subject, ts, lag(ts) OVER (PARTITION BY subject ORDER BY ts) AS prev
            FROM (SELECT DISTINCT subject, ts FROM e)
        ) WHERE prev IS NOT NULL AND ts - prev <= 7*{DAY}"""),
    ("did(purchase, between 1997-03-01 and 1997-04-01) and not did(purchase, since 1997-04-01)",
     """SELECT subject FROM e GROUP BY subject
        HAVING count(*) FILTER (WHERE ts >= epoch_ms(TIMESTAMP '1997-03-01') AND ts < epoch_ms(TIMESTAMP '1997-04-01')) > 0
           AND count(*) FILTER (WHERE ts >= epoch_ms(TIMESTAMP '1997-04-01') AND ts <= now_ms) = 0"""),
    ("count(purchase where data.cds = 1 and data.dollarValue < 15, last 365d) >= 3 or days(purchase, last 60d) >= 2",
     f"""SELECT subject FROM e GROUP BY subject
        HAVING count(*) FILTER (WHERE cds = 1 AND amount < 15 AND ts BETWEEN now_ms - 365*{DAY} AND now_ms) >= 3
            OR count(DISTINCT floor(ts / 86400000)) FILTER (WHERE ts BETWEEN now_ms - 60*{DAY} AND now_ms) >= 2"""),
    ("not did(purchase, last 180d) and sum(purchase, data.dollarValue) >= 300",
     f"""SELECT subject FROM e GROUP BY subject
        HAVING count(*) FILTER (WHERE ts BETWEEN now_ms - 180*{DAY} AND now_ms) = 0 AND sum(amount) >= 300"""),
]


def main():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""CREATE TABLE e AS SELECT subjectId AS subject,
                epoch_ms(createdAt::TIMESTAMPTZ) AS ts,
                CAST(data->>'cds' AS DOUBLE) AS cds,
                CAST(data->>'dollarValue' AS DOUBLE) AS amount
            FROM read_json('{DATA}', format='newline_delimited',
                columns={{'subjectType': 'VARCHAR', 'subjectId': 'VARCHAR', 'type': 'VARCHAR',
                          'createdAt': 'VARCHAR', 'data': 'JSON'}})"""
    )
    (now_ms,) = con.execute(f"SELECT epoch_ms(TIMESTAMPTZ '{NOW}')").fetchone()
    out = {"now": NOW, "cases": []}
    for text, sql in FILTERS:
        rows = con.execute(sql.replace("now_ms", str(now_ms))).fetchall()
        members = sorted(r[0] for r in rows)
        out["cases"].append({"filter": text, "count": len(members), "members": members})
        print(f"{len(members):>6}  {text}", file=sys.stderr)
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
