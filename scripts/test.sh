#!/usr/bin/env bash
# The whole test suite, one command: ./scripts/test.sh
#
# Stages (each announced, timed, and run even when an earlier one failed):
#   setup          scripts/setup.sh: install what the tests need (idempotent)
#   fmt            cargo fmt --check (main crate and fuzz crate)
#   clippy         cargo clippy --all-targets -- -D warnings (and --no-default-features --lib)
#   modules        scripts/module_graph.py: no circle among the crate's modules
#   deps           no tokio, openssl, aws-lc, reqwest, hyper in the dependency tree
#   test           cargo test --all-targets --no-fail-fast; prints how many tests ran
#   doctest        cargo test --doc
#   doc            cargo doc --no-deps with rustdoc warnings as errors
#   package        cargo package: the file list holds only the library crate (no
#                  repository-only file), and the unpacked .crate builds and passes
#                  its unit tests and doctests offline, as crates.io would ship it
#   api            scripts/api-snapshot.sh --check: the public API (nightly
#                  rustdoc JSON) against the reviewed api/public-api.txt
#   fuzz-build     cargo +nightly fuzz build (every target, with sanitizers)
#   fuzz           every fuzz target for FUZZ_SECONDS, seeded from fuzz/corpus/<target>
#   musl-x86_64    static release binary: size budget, no dynamic linking, --help runs
#   image          scripts/image.sh: the Containerfile built with buildah (vfs, chroot),
#                  `vaultid up` run inside the image against OpenBao on loopback
#   musl-aarch64   the same, cross-compiled for aarch64
#   smoke-aarch64  scripts/smoke-qemu.sh: the aarch64 binary under qemu
#   musl-armv7     the same for armv7 (32-bit ARM, hard float); nightly
#                  -Z build-std against the musl that setup.sh builds
#   smoke-armv7    scripts/smoke-qemu.sh: the armv7 binary under qemu
#   musl-riscv64   the same for riscv64gc, as armv7
#   smoke-riscv64  scripts/smoke-qemu.sh: the riscv64 binary under qemu
#
# Knobs (environment):
#   FUZZ_SECONDS=30      time per fuzz target
#   SKIP_SETUP=1 SKIP_LINT=1 (fmt, clippy, modules) SKIP_DOC=1 (doc, api) SKIP_FUZZ=1
#   SKIP_MUSL=1 (every static build, the image and the smoke tests)
#   SKIP_AARCH64=1 SKIP_ARMV7=1 SKIP_RISCV64=1 SKIP_IMAGE=1
#                        skip slow stages locally; ignored under CI=true,
#                        where every stage runs.
#
# The last line is the summary, `stages: N passed, M failed`; the exit status
# is non-zero when any stage failed.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BUDGET_FILE="$ROOT/size-budget.txt"
IN_CI=0
[ "${CI:-}" = "true" ] && IN_CI=1

# pip may put `bao` in a directory that is not on PATH yet (user installs,
# distribution Pythons); make sure the stages find what setup.sh installed.
if command -v python3 >/dev/null 2>&1; then
    PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    PATH="$PATH:$(python3 -m site --user-base 2>/dev/null || true)/bin"
fi
PATH="$PATH:$HOME/.cargo/bin"
export PATH

# The static builds (and their cross toolchains) are scripts/build-static.sh's.

if [ -t 1 ]; then
    BOLD=$'\033[1m' RED=$'\033[31m' GREEN=$'\033[32m' YELLOW=$'\033[33m' RESET=$'\033[0m'
else
    BOLD='' RED='' GREEN='' YELLOW='' RESET=''
fi

now() { date +%s%N; }
fmt_secs() { awk -v ns="$1" 'BEGIN { printf "%.1fs", ns / 1e9 }'; }

skipped() { # skipped VAR -> true when VAR=1 asks to skip and we are not in CI
    local var="$1"
    [ "${!var:-0}" = "1" ] || return 1
    if [ "$IN_CI" = 1 ]; then
        echo "${YELLOW}note: $var=1 is ignored under CI=true; running the stage${RESET}"
        return 1
    fi
    return 0
}

declare -a NAMES=() RESULTS=() TIMES=()
PASSED=0 FAILED=0 SKIPPED=0
SUITE_START="$(now)"

# stage NAME SKIPVAR FUNCTION: announce, time and record one stage. The
# function runs in a subshell with -e, so its first failing command ends it.
stage() {
    local name="$1" skipvar="$2" fn="$3"
    echo
    echo "${BOLD}==> [$name] $(date '+%H:%M:%S')${RESET}"
    if [ -n "$skipvar" ] && skipped "$skipvar"; then
        echo "${YELLOW}--- [$name] skipped ($skipvar=1)${RESET}"
        NAMES+=("$name") RESULTS+=("skipped") TIMES+=("-")
        SKIPPED=$((SKIPPED + 1))
        return
    fi
    local start end rc
    start="$(now)"
    (set -euo pipefail; "$fn")
    rc=$?
    end="$(now)"
    local t
    t="$(fmt_secs $((end - start)))"
    NAMES+=("$name") TIMES+=("$t")
    if [ "$rc" -eq 0 ]; then
        echo "${GREEN}--- [$name] ok in $t${RESET}"
        RESULTS+=("ok")
        PASSED=$((PASSED + 1))
    else
        echo "${RED}--- [$name] FAILED (exit $rc) in $t${RESET}"
        RESULTS+=("FAILED")
        FAILED=$((FAILED + 1))
    fi
}

# --- stages -----------------------------------------------------------------

st_setup() { "$ROOT/scripts/setup.sh"; }

st_fmt() {
    cargo fmt --all -- --check
    if [ -f fuzz/Cargo.toml ]; then
        # Only the fuzz crate itself (with --all, path dependencies would be
        # checked again).
        cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    fi
}

st_clippy() {
    cargo clippy --all-targets -- -D warnings
    # The library alone, as a program that only links it builds it.
    cargo clippy --no-default-features --lib -- -D warnings
}

st_modules() { python3 "$ROOT/scripts/module_graph.py"; }

# The design card rules out an async runtime, OpenSSL and aws-lc in the
# library and binary's dependency tree.
st_deps() {
    local tree bad
    tree="$(cargo tree -e normal --prefix none)"
    echo "$(echo "$tree" | sort -u | wc -l) crates in the normal dependency tree"
    bad="$(echo "$tree" | grep -E '^(tokio|openssl|openssl-sys|aws-lc-rs|aws-lc-sys|reqwest|hyper|native-tls) ' | sort -u || true)"
    if [ -n "$bad" ]; then
        echo "ruled-out crates in the tree:"
        echo "$bad"
        return 1
    fi
    echo "no tokio, openssl, aws-lc, reqwest, hyper or native-tls"
}

st_test() {
    # Every test target runs even when one fails (--no-fail-fast); the
    # count of tests that ran is printed from the harness's result lines.
    local log rc=0
    log="$(mktemp)"
    cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || rc=$?
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed/) p += $i
                if ($(i+1) ~ /^failed/) f += $i
                if ($(i+1) ~ /^ignored/) g += $i
            }
         }
         END { printf "tests run: %d (%d passed, %d failed), %d ignored\n", p + f, p, f, g }' "$log"
    rm -f "$log"
    return "$rc"
}

st_doctest() { cargo test --doc; }

st_doc() { RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Dwarnings" cargo doc --no-deps; }

# The published crate: what `cargo package` puts in the .crate, unpacked
# and tested on its own (offline, from the registry cache the other stages
# filled), so that a file the package misses or a test that only builds in
# the repository shows here and not after a release.
PACKAGE_FILES='^(src/.+\.rs|examples/(quickstart|restart|edge)\.rs|docs/[^/]+\.(md|hcl|yaml|service)|README\.md|LICENSE-MIT|LICENSE-APACHE|Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|\.cargo_vcs_info\.json)$'
REPO_ONLY='^(\.cargo/|\.ci/|\.gitignore$|scripts/|ld/|Containerfile$|packaging/|benches/|fuzz/|tests/|target/|size-budget\.txt$|ARCHITECTURE\.md$|BENCHMARKS\.md$|examples/bench_)'

st_package() {
    local list version crate dir rc=0 bad
    list="$(cargo package --list --allow-dirty --offline 2>/dev/null)"
    echo "$(echo "$list" | wc -l) files in the package"
    bad="$(echo "$list" | grep -E "$REPO_ONLY" || true)"
    if [ -n "$bad" ]; then
        echo "repository-only files in the package:"
        echo "$bad"
        return 1
    fi
    bad="$(echo "$list" | grep -vE "$PACKAGE_FILES" || true)"
    if [ -n "$bad" ]; then
        echo "files outside the package's list (PACKAGE_FILES in scripts/test.sh):"
        echo "$bad"
        return 1
    fi
    for f in LICENSE-MIT LICENSE-APACHE README.md src/lib.rs src/main.rs docs/agent.md; do
        echo "$list" | grep -qx "$f" || { echo "the package lacks $f"; return 1; }
    done
    # crates.io renders the README outside the repository: a relative link
    # would point nowhere.
    bad="$(grep -noE '\]\([^)]+\)' README.md | grep -vE '\]\((https?://|mailto:|#)' || true)"
    if [ -n "$bad" ]; then
        echo "README.md links to repository files by relative path (use absolute URLs):"
        echo "$bad"
        return 1
    fi
    version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
    cargo package --allow-dirty --no-verify --offline
    crate="$TARGET_DIR/package/vaultid-$version.crate"
    [ -f "$crate" ] || { echo "no $crate"; return 1; }
    dir="$(mktemp -d)"
    tar -xzf "$crate" -C "$dir"
    # A .crate stores one fixed modification time for every file, which
    # cargo would take for "older than the last build": touched, the copy
    # is always built afresh.
    find "$dir" -type f -exec touch {} +
    for key in repository documentation homepage license; do
        grep -qE "^$key = " "$dir/vaultid-$version/Cargo.toml" \
            || { echo "the packaged Cargo.toml has no $key"; rm -rf "$dir"; return 1; }
    done
    # Same target directory: the dependencies built by the other stages
    # are reused; the crate itself is built from the unpacked copy.
    (
        cd "$dir/vaultid-$version"
        cargo test --offline
        cargo test --offline --doc --features fuzzing
        cargo build --offline --lib --no-default-features
    ) || rc=$?
    rm -rf "$dir"
    return "$rc"
}
st_api() { "$ROOT/scripts/api-snapshot.sh" --check; }

fuzz_targets() { cargo +nightly fuzz list; }

st_fuzz_build() {
    [ -f fuzz/Cargo.toml ] || { echo "fuzz/Cargo.toml is missing"; return 1; }
    cargo +nightly fuzz build
}

st_fuzz() {
    local targets t failed=0
    targets="$(fuzz_targets)"
    [ -n "$targets" ] || { echo "no fuzz targets found"; return 1; }
    echo "targets: $(echo $targets); ${FUZZ_SECONDS}s each"
    for t in $targets; do
        # New inputs go to a scratch corpus under fuzz/target (ignored by
        # git); the committed seeds in fuzz/corpus/<t> are only read.
        local work="fuzz/target/corpus-work/$t" seeds="fuzz/corpus/$t"
        mkdir -p "$work" "fuzz/artifacts/$t"
        [ -d "$seeds" ] || { echo "warning: no seed corpus $seeds"; seeds=""; }
        echo "--- fuzz $t (${FUZZ_SECONDS}s)"
        # libFuzzer reports every new coverage point and a recommended
        # dictionary; keep the log readable.
        if cargo +nightly fuzz run "$t" "$work" ${seeds:+"$seeds"} -- \
            -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 2>&1 \
            | sed -u -e '/^###### Recommended dictionary/,/^###### End of recommended dictionary/d' \
                  -e '/^#[0-9]\+[[:space:]]\+\(NEW\|REDUCE\|pulse\) /d'; then
            echo "--- fuzz $t: no crash"
        else
            echo "--- fuzz $t: FAILED (see fuzz/artifacts/$t)"
            failed=1
        fi
    done
    return "$failed"
}

budget_bytes() {
    [ -f "$BUDGET_FILE" ] || { echo "missing $BUDGET_FILE" >&2; return 1; }
    local b
    b="$(grep -v '^[[:space:]]*#' "$BUDGET_FILE" | grep -oE '[0-9]+' | head -n1)"
    [ -n "$b" ] || { echo "no byte count in $BUDGET_FILE" >&2; return 1; }
    echo "$b"
}

# check_static BIN STRIP: stripped, within the size budget, statically linked.
check_static() {
    local bin="$1" strip_tool="$2" size budget
    [ -x "$bin" ] || { echo "no binary at $bin"; return 1; }
    command -v readelf >/dev/null || { echo "readelf (binutils) is needed"; return 1; }
    if readelf -SW "$bin" | grep -q '\.symtab'; then
        echo "stripping $bin ($strip_tool)"
        "$strip_tool" "$bin"
    fi
    size="$(stat -c %s "$bin")"
    budget="$(budget_bytes)"
    awk -v s="$size" -v b="$budget" -v f="$bin" 'BEGIN {
        printf "size: %d bytes (%.2f MiB) of budget %d bytes (%.2f MiB): %.0f%%  %s\n",
               s, s / 1048576, b, b / 1048576, 100 * s / b, f }'
    if [ "$size" -gt "$budget" ]; then
        echo "OVER BUDGET by $((size - budget)) bytes (budget in ${BUDGET_FILE#"$ROOT"/})"
        return 1
    fi
    # ldd: "not a dynamic executable" (static) or "statically linked"
    # (static-pie). For a foreign architecture ldd always says the former,
    # so the ELF headers are checked too: no interpreter, no needed libraries.
    local ldd_out
    ldd_out="$(ldd "$bin" 2>&1 || true)"
    echo "ldd: $(echo "$ldd_out" | head -n1 | sed 's/^[[:space:]]*//')"
    if ! grep -qE 'not a dynamic executable|statically linked' <<<"$ldd_out"; then
        echo "not statically linked (ldd lists libraries)"
        return 1
    fi
    if readelf -lW "$bin" | grep -q 'INTERP'; then
        echo "not statically linked: the ELF asks for a program interpreter"
        return 1
    fi
    if readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
        echo "not statically linked: the ELF needs shared libraries:"
        readelf -dW "$bin" | grep '(NEEDED)'
        return 1
    fi
    echo "static: yes"
}

st_musl_x86_64() {
    local triple=x86_64-unknown-linux-musl
    "$ROOT/scripts/build-static.sh" "$triple"
    local bin="$TARGET_DIR/$triple/release/vaultid"
    check_static "$bin" strip
    "$bin" --help >/dev/null
    echo "vaultid --help: ok"
}

st_image() {
    "$ROOT/scripts/image.sh" "$TARGET_DIR/x86_64-unknown-linux-musl/release/vaultid"
}

st_musl_aarch64() {
    local triple=aarch64-unknown-linux-musl
    "$ROOT/scripts/build-static.sh" "$triple"
    check_static "$TARGET_DIR/$triple/release/vaultid" aarch64-linux-gnu-strip
}

st_smoke_aarch64() {
    "$ROOT/scripts/smoke-qemu.sh" aarch64-unknown-linux-musl "$TARGET_DIR/aarch64-unknown-linux-musl/release/vaultid"
}

# build_std_musl TRIPLE STRIP: a target without prebuilt rust-std: std and
# core are compiled from nightly's rust-src with the release profile.
build_std_musl() {
    local triple="$1" strip_tool="$2"
    "$ROOT/scripts/build-static.sh" "$triple"
    check_static "$TARGET_DIR/$triple/release/vaultid" "$strip_tool"
}

st_musl_armv7() { build_std_musl armv7-unknown-linux-musleabihf arm-linux-gnueabihf-strip; }

st_smoke_armv7() {
    "$ROOT/scripts/smoke-qemu.sh" armv7-unknown-linux-musleabihf "$TARGET_DIR/armv7-unknown-linux-musleabihf/release/vaultid"
}

st_musl_riscv64() { build_std_musl riscv64gc-unknown-linux-musl riscv64-linux-gnu-strip; }

st_smoke_riscv64() {
    "$ROOT/scripts/smoke-qemu.sh" riscv64gc-unknown-linux-musl "$TARGET_DIR/riscv64gc-unknown-linux-musl/release/vaultid"
}

# --- run --------------------------------------------------------------------

echo "${BOLD}vaultid test suite${RESET}: $(date -u '+%Y-%m-%dT%H:%M:%SZ'), CI=${CI:-unset}, FUZZ_SECONDS=$FUZZ_SECONDS, $(nproc 2>/dev/null || echo '?') cores"

stage setup         SKIP_SETUP   st_setup
stage fmt           SKIP_LINT    st_fmt
stage clippy        SKIP_LINT    st_clippy
stage modules       SKIP_LINT    st_modules
stage deps          ""           st_deps
stage test          ""           st_test
stage doctest       ""           st_doctest
stage doc           SKIP_DOC     st_doc
stage package       ""           st_package
stage api           SKIP_DOC     st_api
stage fuzz-build    SKIP_FUZZ    st_fuzz_build
stage fuzz          SKIP_FUZZ    st_fuzz
stage musl-x86_64   SKIP_MUSL    st_musl_x86_64
if skipped SKIP_MUSL >/dev/null 2>&1; then IMAGE_SKIP=SKIP_MUSL; else IMAGE_SKIP=SKIP_IMAGE; fi
stage image         "$IMAGE_SKIP" st_image
# cross_skip VAR: the variable that skips a cross target's stages (SKIP_MUSL
# wins when set).
cross_skip() { if skipped SKIP_MUSL >/dev/null 2>&1; then echo SKIP_MUSL; else echo "$1"; fi; }
stage musl-aarch64  "$(cross_skip SKIP_AARCH64)" st_musl_aarch64
stage smoke-aarch64 "$(cross_skip SKIP_AARCH64)" st_smoke_aarch64
stage musl-armv7    "$(cross_skip SKIP_ARMV7)"   st_musl_armv7
stage smoke-armv7   "$(cross_skip SKIP_ARMV7)"   st_smoke_armv7
stage musl-riscv64  "$(cross_skip SKIP_RISCV64)" st_musl_riscv64
stage smoke-riscv64 "$(cross_skip SKIP_RISCV64)" st_smoke_riscv64

SUITE_END="$(now)"
echo
echo "${BOLD}==> summary${RESET}"
for i in "${!NAMES[@]}"; do
    printf '  %-14s %-8s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"
done
skipped_note=""
[ "$SKIPPED" -gt 0 ] && skipped_note=" ($SKIPPED skipped)"
echo "  total          $(fmt_secs $((SUITE_END - SUITE_START)))$skipped_note"
echo "stages: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
