#!/usr/bin/env bash
# `make demo`, the server part: start `cohort serve` on a fresh data
# directory, make a project and a key, send track requests with curl, save
# a segment and ask for it, render a message, then stop the server with
# SIGTERM. The same steps as the README's walkthrough.
set -euo pipefail
COHORT=${1:?usage: serve-demo.sh PATH/TO/cohort}
DATA=${DATA:-demo-server}
rm -rf "$DATA"

echo "== cohort project create --data $DATA shop; cohort project key create --data $DATA shop"
"$COHORT" project create --data "$DATA" shop
KEY=$("$COHORT" project key create --data "$DATA" shop 2>/dev/null)
echo "key: ${KEY:0:12}… (shown once, kept hashed)"

echo; echo "== cohort serve --data $DATA --listen 127.0.0.1:0   (port 0: the system picks a free one)"
"$COHORT" serve --data "$DATA" --listen 127.0.0.1:0 > "$DATA.out" 2> "$DATA.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q listening "$DATA.out" 2>/dev/null && break
  sleep 0.1
done
BASE=$(grep -o 'http://[^ ]*' "$DATA.out")
echo "$(cat "$DATA.out")"
API="$BASE/v1/projects/shop"
AUTH="Authorization: Bearer $KEY"
JSON="Content-Type: application/json"

show() { echo; echo "\$ $*"; }
REQUEST='{
  "events": [
    {"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-05-01T10:00:00Z","data":{"amount":12000,"productName":"Green tea"}},
    {"subjectType":"user","subjectId":"u1","type":"purchase","createdAt":"2026-05-20T10:00:00Z","data":{"amount":15000,"productName":"Oolong"}},
    {"subjectType":"user","subjectId":"u2","type":"purchase","createdAt":"2026-05-21T10:00:00Z","data":{"amount":900}}
  ],
  "tags": [{"subjectType":"user","subjectId":"u1","tags":{"plan":"pro"},"createdAt":"2026-05-01T00:00:00Z"}],
  "userAttributes": [{"userId":"u1","name":"Dana","timeZone":"Asia/Seoul","country":"KR","createdAt":"2026-05-01T00:00:00Z"}]
}'

show curl -X POST "$API/track" ...   '# two purchases, a tag and attributes, all or nothing'
curl -sS -X POST "$API/track" -H "$AUTH" -H "$JSON" -H "Idempotency-Key: demo-1" -d "$REQUEST"; echo

show curl -X POST "$API/track" ...   '# the same request again, same Idempotency-Key: stored once'
curl -sS -X POST "$API/track" -H "$AUTH" -H "$JSON" -H "Idempotency-Key: demo-1" -d "$REQUEST"; echo

show curl -X POST "$API/track" ...   '# an invalid request: every invalid item listed, nothing stored'
curl -sS -X POST "$API/track" -H "$AUTH" -H "$JSON" -d '{"events":[{"subjectType":"user","subjectId":"","type":"purchase"},{"subjectType":"robot","subjectId":"r","type":"x"}]}'; echo

show curl -X PUT "$API/segments/big_buyers" -d '{"filter": "count(purchase where data.amount >= 10000, last 30d) >= 2 and tag.plan = \"pro\""}'
curl -sS -X PUT "$API/segments/big_buyers" -H "$AUTH" -H "$JSON" \
  -d '{"filter":"count(purchase where data.amount >= 10000, last 30d) >= 2 and tag.plan = \"pro\"","description":"Two big purchases this month, on pro"}'; echo

show curl "$API/segments/big_buyers/count?now=2026-05-25"
curl -sS "$API/segments/big_buyers/count?now=2026-05-25" -H "$AUTH"; echo
show curl "$API/segments/big_buyers/members?now=2026-05-25"
curl -sS "$API/segments/big_buyers/members?now=2026-05-25" -H "$AUTH"; echo

show curl -X PUT "$API/segments/broken" -d '{"filter": "count(purchase, last x) >= 2"}'   '# a bad filter: line, column, caret'
curl -sS -X PUT "$API/segments/broken" -H "$AUTH" -H "$JSON" -d '{"filter":"count(purchase, last x) >= 2"}' | jq -r '.error.details[0].caret'

show curl -X POST "$API/render" ...   '# a message from the profile and the latest purchase'
curl -sS -X POST "$API/render" -H "$AUTH" -H "$JSON" -d '{"subjectId":"u1","now":"2026-05-25","entryEventType":"purchase",
  "template":"Hi {{ name }}! Enjoy your {{ entry_event.data.productName | default: \"tea\" }}."}'; echo

show curl "$API/users/u1"
curl -sS "$API/users/u1" -H "$AUTH" | jq -c '{tags, attributes, events}'

show curl "$API/events?userId=u1&limit=2"
curl -sS "$API/events?userId=u1&limit=2" -H "$AUTH" | jq -c '.events[] | {type, createdAt, data}'

show curl "$API/catalog" -H "Authorization: Bearer wrong"   '# a wrong key: 401, the same for every failure'
curl -sS -o /dev/null -w '%{http_code}\n' "$API/catalog" -H "Authorization: Bearer wrong"

echo; echo "== kill -TERM (graceful: finishes requests in flight, closes the store, exits 0)"
kill -TERM $PID
trap - EXIT
if wait $PID; then echo "exit status 0"; else echo "exit status $?"; exit 1; fi
rm -f "$DATA.out"
