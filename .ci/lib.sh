# shellcheck shell=bash
# .ci/lib.sh: what .ci/jq and .ci/curl share. Each builds one tool the step scripts run with in the
# tests, from a source archive pinned by its SHA-256, into .cache/tools/<name>/, once.

# build_tool NAME VERSION SHA256 URL SOURCE_DIR BUILT REPORTS
#   builds NAME into .cache/tools/NAME/NAME, unless it is there and `NAME --version` begins with
#   REPORTS. The archive at URL must have the SHA-256 given; SOURCE_DIR is its top directory and
#   BUILT the binary's path inside it. The caller's function `build` runs in SOURCE_DIR, its output
#   in a log whose end is printed when it fails. (set -e does not apply there: `build` chains its
#   steps with &&.)
build_tool() {
  local name=$1 version=$2 sha256=$3 url=$4 source_dir=$5 built=$6 reports=$7
  local target=".cache/tools/$name/$name" work
  if [[ -x $target && $("$target" --version 2>/dev/null) == "$reports"* ]]; then return 0; fi
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the directory is known now, and is this call's
  trap "rm -rf '$work'" EXIT
  echo "Building $name $version into $target"
  curl -fsSL --retry 3 -o "$work/source.tar.gz" "$url"
  echo "$sha256  $work/source.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$work/source.tar.gz" -C "$work"
  if ! (cd "$work/$source_dir" && build) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "ERROR: building $name $version failed (the end of its log is above)" >&2
    exit 1
  fi
  if [[ $("$work/$source_dir/$built" --version) != "$reports"* ]]; then
    echo "ERROR: the $name built from $url is not $version" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$target")"
  install -m 0755 "$work/$source_dir/$built" "$target.tmp.$$"
  mv "$target.tmp.$$" "$target"
  "$target" --version
}
