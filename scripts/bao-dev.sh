# An OpenBao dev server on a free loopback port for the length of a script.
# Sourced by scripts/image.sh and scripts/smoke-qemu.sh, which provide BAO
# (the bao binary) and die().
#
#   bao_dev_start WORK PREFIX  starts it with HOME=WORK (no ~/.vault-token
#                              is read or written) and its log in WORK/bao.log;
#                              sets bao_pid and bao_token (PREFIX-<random>),
#                              exports VAULT_ADDR; returns once it answers
#   bao_dev_stop               stops it (SIGTERM, then SIGKILL after 5 s);
#                              for the caller's EXIT trap

bao_pid=""
bao_token=""

bao_dev_start() {
    local work="$1" prefix="$2" port ready=0
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    bao_token="$prefix-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    export VAULT_ADDR="http://127.0.0.1:$port"
    HOME="$work" "$BAO" server -dev -dev-listen-address="127.0.0.1:$port" \
        -dev-root-token-id="$bao_token" -dev-no-store-token >"$work/bao.log" 2>&1 &
    bao_pid=$!
    for _ in $(seq 150); do
        kill -0 "$bao_pid" 2>/dev/null || { cat "$work/bao.log" >&2; die "bao server exited early"; }
        if HOME="$work" VAULT_TOKEN="$bao_token" "$BAO" status >/dev/null 2>&1; then ready=1; break; fi
        sleep 0.2
    done
    [ "$ready" = 1 ] || { tail -n 20 "$work/bao.log" >&2; die "bao server did not become ready on port $port"; }
}

bao_dev_stop() {
    if [ -n "$bao_pid" ] && kill -0 "$bao_pid" 2>/dev/null; then
        kill "$bao_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$bao_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$bao_pid" 2>/dev/null || true
        wait "$bao_pid" 2>/dev/null || true
    fi
}
