#!/bin/sh
# Linker of x86_64 glibc builds (.cargo/config.toml): `cc`, as rustc would
# run it. For the release `vaultid` binary linked by lld (rustc's default
# on this target: it passes -fuse-ld=lld), the functions `vaultid up` runs
# are laid out together, as in the static musl binary
# (scripts/link-x86_64-musl.sh): ld/x86_64-musl-up.order, then what a
# glibc restore runs besides (ld/x86_64-gnu-up.order, written by
# scripts/symbol_order_gnu.py), their names resolved against the objects
# being linked, as --symbol-ordering-file.
# Every other link (debug builds, tests, examples, build scripts, GNU ld)
# is passed to `cc` unchanged.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out= lld= prev=
for a in "$@"; do
    [ "$prev" = "-o" ] && out=$a
    [ "$a" = "-fuse-ld=lld" ] && lld=1
    prev=$a
done
case "$out" in
*/release/deps/vaultid-*) ;;
*) exec "${CC:-cc}" "$@" ;;
esac
[ -n "$lld" ] || exec "${CC:-cc}" "$@"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/syms"
for a in "$@"; do
    case "$a" in
    *.o) nm --defined-only "$a" 2>/dev/null | awk '{ print $NF }' >>"$tmp/syms" || true ;;
    esac
done
awk '
    FILENAME == ARGV[1] {
        key = $0
        if (match(key, /\.[0-9]+$/)) key = substr(key, 1, RSTART - 1)
        if (match(key, /17h[0-9a-f]+E$/)) key = substr(key, 1, RSTART - 1)
        all[key] = all[key] $0 "\n"
        next
    }
    $0 in done { next }
    { done[$0] = 1 }
    $0 in all { printf "%s", all[$0]; next }
    # Not among the objects: C (ring) from archives, named as is.
    !/^_ZN/ { print }
' "$tmp/syms" "$here/../ld/x86_64-musl-up.order" "$here/../ld/x86_64-gnu-up.order" >"$tmp/order"
"${CC:-cc}" "$@" -Wl,--symbol-ordering-file="$tmp/order" -Wl,--no-warn-symbol-ordering
