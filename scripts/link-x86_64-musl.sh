#!/bin/sh
# Linker of the x86_64 static musl binary (.cargo/config.toml): rust-lld,
# with the functions `vaultid up` runs laid out together.
#
# ld/x86_64-musl-up.order names them without the hash Rust appends to each
# symbol (`17h<hex>E`, which changes with the compiler, the dependency
# versions and the profile) and without LLVM's `.<n>` suffixes; this
# resolves every name against the symbols
# of the objects being linked, keeping the file's order (a generic
# function's instances share one name and are all placed), and passes the
# result to --symbol-ordering-file. Names no longer present are skipped.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/syms"
for a in "$@"; do
    case "$a" in
    *.o) nm --defined-only "$a" 2>/dev/null | awk '{ print $NF }' >>"$tmp/syms" || true ;;
    esac
done
awk '
    NR == FNR {
        key = $0
        if (match(key, /\.[0-9]+$/)) key = substr(key, 1, RSTART - 1)
        if (match(key, /17h[0-9a-f]+E$/)) key = substr(key, 1, RSTART - 1)
        all[key] = all[key] $0 "\n"
        next
    }
    $0 in done { next }
    { done[$0] = 1 }
    $0 in all { printf "%s", all[$0]; next }
    # Not among the objects: C (musl, ring) from archives, named as is.
    !/^_ZN/ { print }
' "$tmp/syms" "$here/../ld/x86_64-musl-up.order" >"$tmp/order"
case "${1:-}" in
-flavor) ;;
*) set -- -flavor gnu "$@" ;;
esac
rust-lld "$@" --symbol-ordering-file="$tmp/order" --no-warn-symbol-ordering
