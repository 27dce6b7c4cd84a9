#!/usr/bin/env bash
# Build the static musl release binary for each TRIPLE given (all four when
# none is): the one set of build commands that scripts/test.sh's musl-*
# stages and scripts/bench-all.sh use.
#
#     ./scripts/build-static.sh                              # the four targets
#     ./scripts/build-static.sh aarch64-unknown-linux-musl   # only this one
#
# x86_64 and aarch64 have a prebuilt rust-std; armv7 and riscv64 do not,
# so std is built from nightly's rust-src (-Z build-std) against the musl
# libc.a and start files scripts/setup.sh builds. The binary lands in
# ${CARGO_TARGET_DIR:-target}/TRIPLE/release/vaultid.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:$HOME/.cargo/bin"

# Cross toolchain for aarch64 musl: the Debian cross gcc compiles ring's C
# and assembly and links (Rust ships musl's crt and libc for the target).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}"
export CC_aarch64_unknown_linux_musl="${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}"
export AR_aarch64_unknown_linux_musl="${AR_aarch64_unknown_linux_musl:-aarch64-linux-gnu-ar}"
# armv7 and riscv64 musl: rustc's self-contained linking finds the musl
# that setup.sh built from Debian's source package with these cross
# compilers. riscv64gc musl links dynamically by default: +crt-static makes
# it static like the other musl targets.
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER="${CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER:-arm-linux-gnueabihf-gcc}"
export CC_armv7_unknown_linux_musleabihf="${CC_armv7_unknown_linux_musleabihf:-arm-linux-gnueabihf-gcc}"
export AR_armv7_unknown_linux_musleabihf="${AR_armv7_unknown_linux_musleabihf:-arm-linux-gnueabihf-ar}"
export CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_MUSL_LINKER="${CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_MUSL_LINKER:-riscv64-linux-gnu-gcc}"
export CC_riscv64gc_unknown_linux_musl="${CC_riscv64gc_unknown_linux_musl:-riscv64-linux-gnu-gcc}"
export AR_riscv64gc_unknown_linux_musl="${AR_riscv64gc_unknown_linux_musl:-riscv64-linux-gnu-ar}"
export CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_MUSL_RUSTFLAGS="${CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_MUSL_RUSTFLAGS:--C target-feature=+crt-static}"

triples=("$@")
[ ${#triples[@]} -gt 0 ] || triples=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl
    armv7-unknown-linux-musleabihf riscv64gc-unknown-linux-musl)
for t in "${triples[@]}"; do
    case "$t" in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl)
        cargo build --release --target "$t" --bin vaultid ;;
    armv7-unknown-linux-musleabihf | riscv64gc-unknown-linux-musl)
        cargo +nightly build -Z build-std=std,panic_abort --release --target "$t" --bin vaultid ;;
    *)
        echo "build-static: $t is not a supported target (x86_64, aarch64, armv7, riscv64gc musl)" >&2
        exit 2 ;;
    esac
done
