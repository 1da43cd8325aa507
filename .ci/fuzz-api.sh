#!/usr/bin/env bash
# The API fuzzed from its own OpenAPI document (issue 16.10): schemathesis (from PyPI) against a
# real `dongbo serve` on loopback, with simulator upstreams and a scratch SQLite database.
# Checks: no 5xx on any route, every answer conforms to the documented schema, and every status
# code is documented. Bounded in examples per operation and in time. (The coverage phase is left
# out: on some Python builds schemathesis' own schema walker fails in it with a SystemError.)
#
#   bash .ci/fuzz-api.sh            # from the repository root
#   FUZZ_MAX_TIME=60 FUZZ_EXAMPLES=20 bash .ci/fuzz-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

max_time="${FUZZ_MAX_TIME:-120}"
examples="${FUZZ_EXAMPLES:-30}"

if ! command -v schemathesis >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
schemathesis --version

# The same build as the README's test command (which builds the `dongbo` binary for its
# integration tests), so CI compiles the workspace once, not once per feature set.
cargo test --workspace --no-run --quiet
dongbo="${CARGO_TARGET_DIR:-$PWD/target}/debug/dongbo"

scratch="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT

healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1/healthz" 2>/dev/null; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Simulated upstreams: `dongbo sim` prints `export` lines, then serves until stopped.
"$dongbo" sim --listen 127.0.0.1:0 --shopify-listen 127.0.0.1:0 --products 40 --customers 40 \
  >"$scratch/sim.env" 2>"$scratch/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q SHOPIFY_SHOP_URL "$scratch/sim.env" 2>/dev/null && break
  sleep 0.1
done
grep -q SHOPIFY_SHOP_URL "$scratch/sim.env" || { cat "$scratch/sim.log"; echo "the simulator did not start" >&2; exit 1; }
# shellcheck disable=SC1091
source "$scratch/sim.env"

port="$(free_port)"
base="http://127.0.0.1:$port"
# One worker, so the jobs the fuzzer requests also run against the simulator. A fully configured
# server: the stored-token key is set, as it is wherever Nhanh is authorised from the dashboard.
# The webhook receivers are configured too, so unsigned deliveries meet their 401, not the 503 of an
# unconfigured receiver.
DONGBO_SECRET_KEY="$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')" \
NHANH_WEBHOOK_TOKEN="fuzz-nhanh-verify-token" SHOPIFY_WEBHOOK_SECRET="fuzz-shopify-client-secret" \
DONGBO_LOG=error "$dongbo" serve --db "sqlite://$scratch/fuzz.db" --listen "127.0.0.1:$port" --workers 1 \
  >"$scratch/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  healthy "$base" && break
  sleep 0.1
done
healthy "$base" || { cat "$scratch/serve.log"; echo "dongbo serve did not start" >&2; exit 1; }

# Every request carries `Content-Type: application/json`, as the API requires of state-changing
# ones (a body schemathesis generates sets its own), so bodiless POSTs and DELETEs reach their
# handlers instead of the CSRF guard's 415.
echo "fuzzing $base from its OpenAPI document (${examples} examples per operation, at most ${max_time} s)"
status=0
# Run from the scratch directory: schemathesis keeps a cache in its working directory.
(cd "$scratch" && schemathesis run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --max-examples "$examples" \
  --max-time "$max_time" \
  --request-timeout 10 \
  --header 'Content-Type: application/json' \
  --workers 2 \
  --seed 16010 \
  --generation-database none \
  --no-color \
  --phases examples,fuzzing) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- dongbo serve's log (tail)" >&2
  tail -n 50 "$scratch/serve.log" >&2
fi
exit "$status"
