#!/usr/bin/env bash
# REST sends/s measured with wrk (a C load generator, so the client costs little): the compiled build on a fresh
# temp storage dir, rate limits lifted as in `npm run bench`, two users, then RUNS runs of `wrk -t2 -c32 -d10s`
# posting a direct message. Per run: sends/s, latency p50 / p99, non-2xx answers, and the server's CPU per request
# (all its threads, from /proc: steadier than a rate on a machine the server shares with wrk).
#   scripts/bench/rest-wrk.sh          (needs `wrk` on PATH and `npm run build` done; RUNS=3 PORT=18080 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install -y wrk)" >&2; exit 2; }
[ -f dist/main.js ] || { echo "dist/main.js is missing: run npm run build first" >&2; exit 2; }
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT"
WORK=$(mktemp -d /tmp/letsapp-rest-wrk-XXXXXX)
RATE_LIMITS=$(npx tsx -e "import { liftedRateLimits } from './src/rateLimit/policies.ts'; process.stdout.write(liftedRateLimits())")
STORAGE_DIR="$WORK/storage" PORT=$PORT WS_PORT=$((PORT + 1)) HOST=127.0.0.1 BCRYPT_COST=4 RATE_LIMITS="$RATE_LIMITS" \
  JWT_SECRET_KEY=bench-secret-key-that-is-long-enough-0123456789 ENCRYPTION_KEY=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= \
  LOG_LEVEL=warn node dist/main.js >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 150); do curl -sf "$URL/ping" >/dev/null && break; sleep 0.2; done
register() {
  curl -sf -X POST "$URL/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$1@example.test\",\"username\":\"$1\",\"password\":\"correct horse battery\"}"
}
field() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(String(JSON.parse(s)$1)))"; }
TOKEN=$(register wrk_sender | field .accessToken)
RECIPIENT=$(register wrk_recipient | field .user.id)
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"recipientId":"$RECIPIENT","text":"wrk"}'
LUA
# User + system clock ticks (USER_HZ, 100 a second) of every thread of the server.
ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }
for run in $(seq 1 "$RUNS"); do
  before=$(ticks)
  out=$(wrk -t2 -c32 -d10s --latency -s "$WORK/post.lua" "$URL/api/messages")
  sleep 1 # the projection of the last sends is part of their cost
  after=$(ticks)
  requests=$(echo "$out" | grep -oE '^ *[0-9]+ requests' | grep -oE '[0-9]+')
  rate=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  refused=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
  echo "run $run: ${rate} sends/s, p50 ${p50}, p99 ${p99}, non-2xx ${refused:-0}, server CPU $(((after - before) * 10000 / requests)) µs per send"
done
