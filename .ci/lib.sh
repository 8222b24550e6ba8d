# shellcheck shell=bash
# .ci/lib.sh: what .ci/jq and .ci/curl share. Each builds one tool the step scripts run with in the
# tests, from a source archive pinned by its SHA-256, into .cache/tools/<name>/, once.

# Downloads URL into FILE and checks it is the archive of SHA-256 SUM.
fetch_source() { # URL SUM FILE
  curl -fsSL --retry 3 -o "$3" "$1"
  echo "$2  $3" | sha256sum -c --quiet -
}

# Runs the function BUILD with its output in LOG; when it fails, prints the end of LOG and stops,
# naming WHAT. (set -e does not apply inside a function run as a condition: BUILD chains its steps.)
build_logged() { # WHAT LOG BUILD
  if ! "$3" >"$2" 2>&1; then
    tail -n 40 "$2" >&2
    echo "ERROR: building $1 failed (the end of its log is above)" >&2
    exit 1
  fi
}

# Installs the binary BUILT as TARGET, whole or not at all.
install_tool() { # BUILT TARGET
  mkdir -p "$(dirname "$2")"
  install -m 0755 "$1" "$2.tmp.$$"
  mv "$2.tmp.$$" "$2"
}
