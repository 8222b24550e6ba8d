#!/usr/bin/env bash
# ttl-sweep: the TTL sweeper. One list call fetches every namespace labelled preview=true; each is
# then judged on its own, and only namespaces named impl-pr-<N> (N a PR number) are ever touched,
# whatever their labels:
#   - expires-at annotation in the past             -> delete (expired), unless a newer run is under
#     way: its `workflow` label (set by deploy) differs from the `implementation-dag/workflow`
#     annotation (set with the expiry by the last success); such a namespace is kept until its expiry
#     is MAX_AGE_HOURS old, after which the run is taken for crashed and the namespace is deleted
#   - expires-at annotation in the future           -> keep (fresh)
#   - expires-at annotation that is not YYYY-MM-DDTHH:MM:SSZ (a valid UTC time)
#                                                   -> keep, reported as unparseable
#   - no expires-at, created more than MAX_AGE_HOURS ago
#                                                   -> delete (orphan of a crashed run)
#   - no expires-at, younger                        -> keep (a run may still be in progress)
#   - being deleted already                         -> keep, reported (as stuck past TERMINATING_LIMIT_MINUTES)
#   - exempt (label preview.keep=true)              -> keep
# Deleting is `helm uninstall` of every release in the namespace, then deleting the namespace; the
# namespace goes even when helm fails (that is reported and fails the run). With DRY_RUN=true the
# list call is the only call made: the report says what would be deleted.
#
# Times are compared as strings: both sides are exactly YYYY-MM-DDTHH:MM:SSZ (validated), which sorts
# like the instants it names, and `date -u -d @EPOCH` (GNU and busybox alike) makes the "now" side.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   DRY_RUN                    true (report only) or false
#   MAX_AGE_HOURS              an integer 1-99999: age after which a namespace without expiry is an orphan
#   TERMINATING_LIMIT_MINUTES  an integer 1-99999: a namespace deleting longer than this is reported as stuck
#   OUTPUT_DIR                 absolute directory; the report goes to OUTPUT_DIR/ttl-report/
#
# Writes OUTPUT_DIR/ttl-report/report.json ({generatedAt, dryRun, maxAgeHours, deleted: [...],
# kept: [...], failed: [...]}, each entry {namespace, reason, expiresAt, createdAt}) and
# OUTPUT_DIR/ttl-report/report.txt (the same as text, also printed).
set -euo pipefail
export LC_ALL=C

die() {
  printf 'ERROR: %s: %s\n' "$1" "$2" >&2
  exit 1
}

value() { printf '%s' "${!1-}"; }

dry_run=$(value DRY_RUN)
max_age_hours=$(value MAX_AGE_HOURS)
terminating_limit=$(value TERMINATING_LIMIT_MINUTES)
output_dir=$(value OUTPUT_DIR)

case "$dry_run" in
  true | false) ;;
  *) die DRY_RUN "must be true or false" ;;
esac
if ! [[ $max_age_hours =~ ^[1-9][0-9]{0,4}$ ]]; then
  die MAX_AGE_HOURS "must be an integer from 1 to 99999"
fi
if ! [[ $terminating_limit =~ ^[1-9][0-9]{0,4}$ ]]; then
  die TERMINATING_LIMIT_MINUTES "must be an integer from 1 to 99999"
fi
if [[ $output_dir != /* ]]; then
  die OUTPUT_DIR "must be an absolute directory path"
fi

readonly OURS='^impl-pr-[1-9][0-9]{0,8}$'
readonly UTC_TIME='^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])Z$'

utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now_epoch=$(date -u +%s)
now=$(utc "$now_epoch")
orphan_before=$(utc "$((now_epoch - 10#$max_age_hours * 3600))")
stuck_before=$(utc "$((now_epoch - 10#$terminating_limit * 60))")

# Why a namespace is exempt from the TTL, or nothing. The one place that decides exemptions.
exempt_reason() {
  local keep=$1
  if [[ $keep == "true" ]]; then
    printf 'exempt: labelled preview.keep=true'
  fi
}

report_dir="${output_dir}/ttl-report"
mkdir -p "$report_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
decisions="${work}/decisions.tsv"
: >"$decisions"

# The one list call. Every field a decision needs, one namespace per line; @tsv escapes tabs and
# newlines inside values, so a line is always one namespace. Each field carries a leading "=" so that
# an empty one survives `read` (tabs are IFS whitespace, and empty fields would collapse).
listing="${work}/namespaces.tsv"
if ! kubectl get namespaces -l preview=true -o json >"${work}/namespaces.json"; then
  die kubectl "listing the namespaces labelled preview=true failed; nothing was changed"
fi
if ! jq -r '.items[]
    | select((.metadata.labels // {}).preview == "true")
    | [ .metadata.name,
        (.metadata.creationTimestamp // ""),
        (.metadata.deletionTimestamp // ""),
        (.metadata.annotations // {} | .["implementation-dag/expires-at"] // ""),
        (.metadata.labels // {} | .["preview.keep"] // ""),
        (.metadata.labels // {} | .workflow // ""),
        (.metadata.annotations // {} | .["implementation-dag/workflow"] // "") ]
    | map("=" + .) | @tsv' "${work}/namespaces.json" >"$listing"; then
  die kubectl "printed something that is not a namespace list as JSON; nothing was changed"
fi

# Records one decision: action (delete|keep|failed), namespace, reason, expiry, creation.
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$decisions"; }

failures=0
sweep() {
  local ns=$1 reason=$2 expires=$3 created=$4 releases release helm_ok=1
  if [[ $dry_run == "true" ]]; then
    record delete "$ns" "$reason (dry run: not deleted)" "$expires" "$created"
    return
  fi
  if releases=$(helm list --namespace "$ns" --short); then
    while IFS= read -r release; do
      [[ -n $release ]] || continue
      helm uninstall "$release" --namespace "$ns" --ignore-not-found --timeout 2m >/dev/null || helm_ok=0
    done <<<"$releases"
  else
    helm_ok=0
  fi
  if ! kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null; then
    failures=$((failures + 1))
    record failed "$ns" "$reason; namespace deletion failed" "$expires" "$created"
    return
  fi
  if ((helm_ok)); then
    record delete "$ns" "$reason" "$expires" "$created"
  else
    failures=$((failures + 1))
    record failed "$ns" "$reason; helm uninstall failed, namespace deleted" "$expires" "$created"
  fi
}

# The listing is read on fd 3 so that nothing called in the loop can consume it.
while IFS=$'\t' read -r -u 3 ns created deleting expires keep running stamped; do
  ns=${ns#=} created=${created#=} deleting=${deleting#=} expires=${expires#=} keep=${keep#=}
  running=${running#=} stamped=${stamped#=}
  if ! [[ $ns =~ $OURS ]]; then
    record keep "$ns" "not named impl-pr-<N>: never touched" "$expires" "$created"
  elif [[ -n $deleting ]]; then
    if [[ $deleting =~ $UTC_TIME && ! $deleting > $stuck_before ]]; then
      record keep "$ns" "stuck deleting since ${deleting} (over ${terminating_limit} minutes)" "$expires" "$created"
    else
      record keep "$ns" "already being deleted" "$expires" "$created"
    fi
  elif reason=$(exempt_reason "$keep") && [[ -n $reason ]]; then
    record keep "$ns" "$reason" "$expires" "$created"
  elif [[ -n $expires ]]; then
    if ! [[ $expires =~ $UTC_TIME ]]; then
      record keep "$ns" "unparseable expiry: left alone" "$expires" "$created"
    elif [[ $expires < $now ]]; then
      if [[ -n $running && $running != "$stamped" && ! $expires < $orphan_before ]]; then
        record keep "$ns" "expired at ${expires}, but run ${running} started since the last success" "$expires" "$created"
      else
        sweep "$ns" "expired at ${expires}" "$expires" "$created"
      fi
    else
      record keep "$ns" "fresh: expires at ${expires}" "$expires" "$created"
    fi
  elif ! [[ $created =~ $UTC_TIME ]]; then
    record keep "$ns" "no expiry and unparseable creation time: left alone" "$expires" "$created"
  elif [[ $created < $orphan_before ]]; then
    sweep "$ns" "orphan: no expiry, created ${created}, older than ${max_age_hours}h" "$expires" "$created"
  else
    record keep "$ns" "no expiry yet, younger than ${max_age_hours}h" "$expires" "$created"
  fi
done 3<"$listing"

jq -R -s \
  --arg now "$now" --argjson dryRun "$dry_run" --argjson maxAgeHours "$((10#$max_age_hours))" '
  [ split("\n")[] | select(length > 0) | split("\t")
    | {action: .[0], namespace: .[1], reason: .[2], expiresAt: .[3], createdAt: .[4]} ] as $all
  | { generatedAt: $now, dryRun: $dryRun, maxAgeHours: $maxAgeHours,
      deleted: [ $all[] | select(.action == "delete") | del(.action) ],
      kept:    [ $all[] | select(.action == "keep")   | del(.action) ],
      failed:  [ $all[] | select(.action == "failed") | del(.action) ] }' \
  "$decisions" >"${report_dir}/report.json"

jq -r '
  "TTL sweep at \(.generatedAt)\(if .dryRun then " (dry run: nothing deleted)" else "" end)",
  "deleted: \(.deleted | length), kept: \(.kept | length), failed: \(.failed | length)",
  (.deleted[] | "  delete \(.namespace): \(.reason)"),
  (.failed[]  | "  FAILED \(.namespace): \(.reason)"),
  (.kept[]    | "  keep   \(.namespace): \(.reason)")' \
  "${report_dir}/report.json" | tee "${report_dir}/report.txt"

if ((failures > 0)); then
  die sweep "${failures} namespace(s) could not be cleaned completely; see the report"
fi
