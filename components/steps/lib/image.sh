# shellcheck shell=bash
# lib/image.sh: the image deploy installs is the commit's. Its tag is made from the deployed commit
# (the same rule as components/names.ts's imageTagForCommit; test/names.test.ts holds both to one
# table), and deploy waits until the commit's build succeeded, so it never asks the cluster for an
# image that does not exist yet. The wait needs lib/github.sh and a GITHUB_TOKEN that may read the
# build: `checks: read` for a check run, `statuses: read` for a commit status.
#
#   is_image_tag_pattern PATTERN
#       true when PATTERN is letters, digits, '_', '.', '-' and at least one of the placeholders
#       {sha} (the full 40-hex SHA), {sha12} and {sha7} (its first 12 and 7 digits), no other braces,
#       and the tag it makes of a 40-hex SHA is a valid image tag (at most 128, not starting with
#       '.' or '-'). RULE_IMAGE_TAG_PATTERN says so in words.
#   image_tag_for_commit PATTERN SHA
#       prints PATTERN with its placeholders replaced by SHA (40 lowercase hex; the caller validates).
#   build_judge KIND NAME
#       reads GitHub's answer on stdin (KIND check-run: GET .../commits/SHA/check-runs, KIND status:
#       GET .../commits/SHA/status) and prints `<verdict><TAB><what was seen>`, verdict one of
#       success, failure, pending, missing. A check run succeeds only with the conclusion success:
#       every latest run named NAME must have it, and any other conclusion (failure, cancelled,
#       timed_out, action_required, neutral, skipped, stale) is a failure, since only a successful
#       build is known to have pushed the image. A status context succeeds with state success and
#       fails with failure or error.
#   uri_component TEXT
#       prints TEXT (UTF-8) percent-encoded as a URI component (RFC 3986): every byte but
#       A-Z a-z 0-9 '-' '_' '.' '~' as %XX in upper-case hex. jq 1.7's @uri does the same; 1.6's
#       leaves ! * ' ( ) as they are, which the route allowlist of lib/github.sh refuses.
#   build_wait OWNER REPO SHA KIND NAME TIMEOUT_SECONDS POLL_SECONDS
#       asks GitHub every POLL_SECONDS until the build of SHA succeeded (returns 0). A failed build,
#       an answer GitHub refuses, or no success within TIMEOUT_SECONDS prints
#       `ERROR: build: <what, naming the check or context, the commit and what was seen>` and
#       returns 1. The caller validates every argument.
#
# Tools: jq, sleep (GNU or busybox).

# shellcheck disable=SC2034 # read by the scripts that use this library
readonly RULE_IMAGE_TAG_PATTERN="must be letters, digits, '_', '.', '-' with at least one placeholder {sha}, {sha12} or {sha7}, making a valid image tag (at most 128 characters, not starting with '.' or '-')"

image_tag_for_commit() { # PATTERN SHA
  local tag=$1
  tag=${tag//\{sha12\}/${2:0:12}}
  tag=${tag//\{sha7\}/${2:0:7}}
  tag=${tag//\{sha\}/$2}
  printf '%s' "$tag"
}

is_image_tag_pattern() { # PATTERN
  [[ $1 =~ ^[A-Za-z0-9_.-]*(\{(sha|sha12|sha7)\}[A-Za-z0-9_.-]*)+$ ]] || return 1
  [[ $(image_tag_for_commit "$1" 0000000000000000000000000000000000000000) =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
}

build_judge() { # KIND NAME
  if [[ $1 == check-run ]]; then
    jq -r --arg name "$2" '
      [(.check_runs // [])[] | select(.name == $name)] as $runs
      | ($runs | map(.status + (if .conclusion then " (" + .conclusion + ")" else "" end)) | join(", ")) as $seen
      | if ($runs | length) == 0 then "missing\tno check run named \($name)"
        elif any($runs[]; .status == "completed" and .conclusion != "success") then "failure\t\($seen)"
        elif all($runs[]; .status == "completed" and .conclusion == "success") then "success\t\($seen)"
        else "pending\t\($seen)" end'
  else
    jq -r --arg name "$2" '
      [(.statuses // [])[] | select(.context == $name)] as $statuses
      | ($statuses | map(.state + (if (.description // "") != "" then " (" + .description + ")" else "" end)) | join(", ")) as $seen
      | if ($statuses | length) == 0 then "missing\tno status with context \($name)"
        elif any($statuses[]; .state == "failure" or .state == "error") then "failure\t\($seen)"
        elif all($statuses[]; .state == "success") then "success\t\($seen)"
        else "pending\t\($seen)" end'
  fi
}

uri_component() { # TEXT
  # In the C locale a character is a byte, and printf's "'c" is its value.
  local LC_ALL=C text=$1 encoded="" char i
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    if [[ $char == [A-Za-z0-9._~-] ]]; then
      encoded+=$char
    else
      printf -v char '%%%02X' "'$char"
      encoded+=$char
    fi
  done
  printf '%s' "$encoded"
}

build_wait() { # OWNER REPO SHA KIND NAME TIMEOUT_SECONDS POLL_SECONDS
  local owner=$1 repo=$2 sha=$3 kind=$4 name=$5 timeout=$6 poll=$7 what route body verdict seen start now
  if [[ $kind == check-run ]]; then
    what="check run '$name'"
    route="/repos/$owner/$repo/commits/$sha/check-runs?check_name=$(uri_component "$name")&filter=latest&per_page=100"
  else
    what="commit status '$name'"
    route="/repos/$owner/$repo/commits/$sha/status?per_page=100"
  fi
  printf -v start '%(%s)T' -1
  while :; do
    if ! body=$(github_request GET "$route"); then
      printf 'ERROR: build: cannot read the %s of commit %s in %s/%s (the QA app needs %s)\n' \
        "$what" "$sha" "$owner" "$repo" "$([[ $kind == check-run ]] && echo 'checks: read' || echo 'statuses: read')" >&2
      return 1
    fi
    if ! IFS=$'\t' read -r verdict seen < <(build_judge "$kind" "$name" <<<"$body" 2>/dev/null) || [[ -z ${verdict-} ]]; then
      printf 'ERROR: build: GitHub answered no readable %s list for commit %s in %s/%s\n' "$what" "$sha" "$owner" "$repo" >&2
      return 1
    fi
    case "$verdict" in
      success)
        echo "build: $what of commit $sha succeeded ($seen)"
        return 0
        ;;
      failure)
        printf 'ERROR: build: the %s of commit %s in %s/%s did not succeed: %s; no image to deploy\n' "$what" "$sha" "$owner" "$repo" "$seen" >&2
        return 1
        ;;
    esac
    printf -v now '%(%s)T' -1
    if ((now - start >= timeout)); then
      printf 'ERROR: build: no successful %s for commit %s in %s/%s within %s s; last seen: %s\n' "$what" "$sha" "$owner" "$repo" "$timeout" "$seen" >&2
      return 1
    fi
    echo "build: waiting for the $what of commit $sha: $seen"
    sleep "$((poll < timeout - (now - start) ? poll : timeout - (now - start)))"
  done
}
