# Shared by the CLI tests: the binary, a scratch folder removed on exit, and
# a listing of every cached file's SHA-256 (done.json, which records run
# times, and lock files excluded) to compare two caches by.
set -euo pipefail
qslaw=$1
src=$2
work=$(mktemp -d /tmp/qslaw_cli_XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

cache_listing() {
  (cd "$1/cache" && find . -name .locks -prune -o -type f ! -name done.json -print | LC_ALL=C sort | xargs sha256sum)
}

die() {
  echo "FAIL: $*" >&2
  exit 1
}
