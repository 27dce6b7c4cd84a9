#!/usr/bin/env bash
# The reviewed snapshot of the public API: api/public-api.txt.
#
#   scripts/api-snapshot.sh          regenerate api/public-api.txt
#   scripts/api-snapshot.sh --check  regenerate into a temporary file and
#                                    compare; exit 1 with the diff when the
#                                    API differs from the snapshot
#
# The listing is rustdoc's JSON output (nightly, default features: the
# library plus `cli::main`) read by scripts/api_count.py --list: one line
# per public item with its kind, signature or type, `#[non_exhaustive]`
# and the traits a type implements. `#[doc(hidden)]` items (`fuzzing`) are
# not in it. A change to the public API is a change to this file, reviewed
# in the same commit.
set -euo pipefail

cd "$(dirname "$0")/.."
SNAPSHOT=api/public-api.txt
TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"

cargo +nightly rustdoc --quiet --lib -- -Z unstable-options --output-format json
new="$(mktemp)"
trap 'rm -f "$new"' EXIT
{
    echo "# The public API of vaultid, one line per item, sorted by path."
    echo "# Written by scripts/api-snapshot.sh; checked by the api stage of"
    echo "# scripts/test.sh. Regenerate it when you change the API on purpose."
    python3 scripts/api_count.py "$TARGET_DIR/doc/vaultid.json" --list
} >"$new"

if [ "${1:-}" = "--check" ]; then
    if diff -u "$SNAPSHOT" "$new"; then
        echo "public API: $(grep -vc '^#' "$new") lines, as in $SNAPSHOT"
        exit 0
    fi
    echo
    echo "The public API differs from $SNAPSHOT (above: - the snapshot, + the code)."
    echo "If the change is intended, run scripts/api-snapshot.sh and commit"
    echo "$SNAPSHOT with it; if not, make the item pub(crate) again or restore it."
    exit 1
fi
cp "$new" "$SNAPSHOT"
echo "wrote $SNAPSHOT ($(grep -vc '^#' "$SNAPSHOT") lines)"
