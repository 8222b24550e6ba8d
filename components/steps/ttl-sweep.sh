#!/usr/bin/env bash
# ttl-sweep: the TTL sweeper. One list call fetches every namespace labelled preview=true and
# implementation-dag/instance=PREVIEW_INSTANCE (this stack's previews: another stack's on the same
# cluster are never listed, judged or touched), one more every PersistentVolume; GitHub is asked for the state of every preview's pull request (its
# repository from the namespace's implementation-dag/repository annotation, compared lowercased:
# GitHub names are case-insensitive): one read-only token (pull_requests:read, narrowed to that
# repository) and one GraphQL query per repository and 100 previews. Each namespace is then judged
# on that listing, on its own, and only preview namespaces of either naming scheme are ever touched,
# whatever their labels: impl-pr-<N> (`naming: pr-number`) or impl-<slug>-<hash>-pr-<N>
# (`naming: repository`), as lib/rules.sh is_preview_namespace has them; the PR number is the name's
# -pr-<N> suffix (lib/teardown.sh teardown_preview_pr).
#   - being deleted already                         -> keep; reported as stuck when Terminating longer
#     than TERMINATING_LIMIT_MINUTES, with what blocks it (finalizers, the namespace's conditions
#     such as discovery or content-deletion failures). Finalizers are never stripped.
#   - its PR is closed or merged                    -> delete (also when labelled preview.keep=true:
#     the label exempts from the TTL only), unless a newer run is under way (see below) and the
#     preview is younger than MAX_AGE_HOURS
#   - exempt (label preview.keep=true)              -> keep, reported as exempt from the TTL
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
# The expiry counts from the last successful run: cleanup moves it with every success.
# A repository-named namespace whose repository annotation is not the repository its name's hash
# belongs to (lib/teardown.sh teardown_named_for) is not believed about its repository: GitHub is not
# asked about it and its deployment is left alone (it is judged by the TTL alone; a warning says so),
# so an annotation cannot make the sweeper delete one repository's preview for another's closed PR.
# GitHub unreachable, or not answering for a repository: that repository's previews are judged by
# the TTL alone, the report says so (github.unavailable) and a WARNING goes to stderr; an unknown
# state is never read as "closed".
#
# The race with a run: the decisions come from the listing taken at the start, and a run of the
# pipeline may change a preview meanwhile. So right before deleting one, the sweeper reads it again
# (a list call narrowed with `--field-selector metadata.name=<ns>` and the same label selector: its
# identity may list namespaces, not get them) and deletes it only when nothing that matters changed
# since the listing: its creation time, deletion, `workflow` label (deploy of a newer run relabels
# it), preview.keep label, expiry, `implementation-dag/workflow` stamp (cleanup of a success),
# repository annotation (compared lowercased) or deployment annotation. A namespace that changed,
# or is gone, is kept this time with the reason (the next sweep judges it afresh); a failed re-read
# deletes nothing, is reported as failed and fails the run. (The window left is the one between the
# re-read and the delete call.)
# Deleting (lib/teardown.sh) is `helm uninstall` of every release in the namespace, then deleting the
# namespace without waiting; the namespace goes even when helm fails (that is reported and fails the
# run). Then the preview's GitHub deployment, when deploy recorded one, is marked inactive (a GitHub
# failure there is reported, not fatal). PersistentVolumes left Released by claims in preview
# namespaces (either scheme) that no longer exist are reported, never deleted. With DRY_RUN=true
# nothing is changed and nothing is re-read: the report says what would be deleted.
#
# MODE=all is the uninstall (WorkflowTemplate implementation-dag-uninstall, run before `pulumi destroy`):
# the same listing, re-read and teardown, but every preview namespace of this instance goes, whatever
# its expiry, preview.keep label or PR state (GitHub is not asked for PR states), and one that changed
# between the listing and the re-read goes too (the reason says what changed); one already being
# deleted is left to finish and only its deployment is marked inactive. Before anything else it lists
# the Workflows of PIPELINE_TEMPLATE in WORKFLOWS_NAMESPACE that have not finished (lib/teardown.sh
# teardown_pipeline_runs): a run in progress could deploy a preview again after the uninstall, so
# then it refuses, names the runs and changes nothing. It lists them again at the end and fails,
# naming them, when one started meanwhile (run the uninstall again once it is stopped or done), and
# then lists the namespaces again and fails, naming them, when a preview not in its listing exists
# (deployed by a run that started and ended while it worked).
# Another instance's namespaces and non-preview names are left alone as in the sweep.
#
# Times are compared as strings: both sides are exactly YYYY-MM-DDTHH:MM:SSZ (validated), which sorts
# like the instants it names, and lib/rules.sh's utc_time makes the "now" side.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   DRY_RUN                    true (report only) or false
#   MODE                       ttl (the sweep) or all (the uninstall: every preview of this instance)
#   PIPELINE_TEMPLATE          MODE=all only: name of the pipeline's WorkflowTemplate (an object name)
#   WORKFLOWS_NAMESPACE        MODE=all: the workflows namespace, where its runs are listed (a DNS
#                              label); otherwise optional, for the log_url below
#   PREVIEW_INSTANCE           this stack's instance (its workflows namespace; a DNS label): only
#                              namespaces labelled implementation-dag/instance=<it> are swept
#   MAX_AGE_HOURS              an integer 1-99999: age after which a namespace without expiry is an orphan
#   TERMINATING_LIMIT_MINUTES  an integer 1-99999: a namespace deleting longer than this is reported as stuck
#   OUTPUT_DIR                 absolute directory; the report goes to OUTPUT_DIR/ttl-report/
#   GITHUB_API_URL, GITHUB_GRAPHQL_URL, GITHUB_APP_ID, GITHUB_INSTALLATION_ID,
#   GITHUB_APP_PRIVATE_KEY_FILE  the GitHub App (lib/github.sh, lib/deployments.sh); only used when a
#                              preview names its repository
#   ARGO_UI_URL, WORKFLOWS_NAMESPACE, WORKFLOW_NAME  optional: the log_url of the inactive status
#
# Writes OUTPUT_DIR/ttl-report/report.json ({generatedAt, mode, dryRun, maxAgeHours, terminatingLimitMinutes,
# deleted: [...], kept: [...], failed: [...], each entry {namespace, reason, expiresAt, createdAt,
# repository, prState}; stuck: [{namespace, deletingSince, finalizers, conditions}];
# releasedVolumes: [{name, claim, reclaimPolicy, storageClass, since}]; github: {queries, unavailable:
# [{repository, error}], warnings: [...]}}) and OUTPUT_DIR/ttl-report/report.txt (the same as text,
# also printed).
set -euo pipefail
export LC_ALL=C

declare dry_run mode instance max_age_hours terminating_limit output_dir
input dry_run DRY_RUN
input mode MODE
input instance PREVIEW_INSTANCE
input max_age_hours MAX_AGE_HOURS
input terminating_limit TERMINATING_LIMIT_MINUTES
input output_dir OUTPUT_DIR

case "$dry_run" in
  true | false) ;;
  *) die DRY_RUN "must be true or false" ;;
esac
case "$mode" in
  ttl | all) ;;
  *) die MODE "must be ttl or all" ;;
esac
if [[ $mode == all ]]; then
  declare pipeline_template workflows_namespace
  input pipeline_template PIPELINE_TEMPLATE
  input workflows_namespace WORKFLOWS_NAMESPACE
  is_object_name "$pipeline_template" || die PIPELINE_TEMPLATE "must be a Kubernetes object name"
  is_dns_label "$workflows_namespace" || die WORKFLOWS_NAMESPACE "$RULE_DNS_LABEL"
fi
if ! [[ $max_age_hours =~ ^[1-9][0-9]{0,4}$ ]]; then
  die MAX_AGE_HOURS "must be an integer from 1 to 99999"
fi
if ! [[ $terminating_limit =~ ^[1-9][0-9]{0,4}$ ]]; then
  die TERMINATING_LIMIT_MINUTES "must be an integer from 1 to 99999"
fi
if [[ $output_dir != /* ]]; then
  die OUTPUT_DIR "must be an absolute directory path"
fi
is_dns_label "$instance" || die PREVIEW_INSTANCE "$RULE_DNS_LABEL"
# This stack's previews: the server selects them, and jq checks again what it answered.
selector="preview=true,implementation-dag/instance=${instance}"
# shellcheck disable=SC2016 # a jq program: $l and $instance are jq's
readonly OURS='(.metadata.labels // {}) as $l | $l.preview == "true" and $l["implementation-dag/instance"] == $instance'

readonly UTC_TIME='^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])Z$'
readonly REPOSITORY='^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$'
# Every field a decision needs, of one namespace, as one line: the listing and the re-read before a
# deletion print the same fields the same way, so "changed since the listing" is a comparison of two
# lines. @tsv escapes tabs and newlines inside values, so a line is always one namespace; each field
# carries a leading "=" so that an empty one survives `read` (tabs are IFS whitespace, and empty
# fields would collapse).
readonly NAMESPACE_FIELDS='[ .metadata.name,
    (.metadata.creationTimestamp // ""),
    (.metadata.deletionTimestamp // ""),
    (.metadata.annotations // {} | .["implementation-dag/expires-at"] // ""),
    (.metadata.labels // {} | .["preview.keep"] // ""),
    (.metadata.labels // {} | .workflow // ""),
    (.metadata.annotations // {} | .["implementation-dag/workflow"] // ""),
    (.metadata.annotations // {} | .["implementation-dag/repository"] // ""),
    (.metadata.annotations // {} | .["implementation-dag/deployment"] // "") ]
  | map("=" + .) | @tsv'

printf -v now_epoch '%(%s)T' -1
declare now orphan_before stuck_before
utc_time now "$now_epoch"
utc_time orphan_before "$((now_epoch - 10#$max_age_hours * 3600))"
utc_time stuck_before "$((now_epoch - 10#$terminating_limit * 60))"

# Whether a namespace is exempt from the TTL, with why in EXEMPTION. The one place that decides
# exemptions.
exempt_reason() { # KEEP
  EXEMPTION=""
  [[ $1 == "true" ]] || return 1
  EXEMPTION='exempt from the TTL: labelled preview.keep=true'
}

report_dir="${output_dir}/ttl-report"
mkdir -p "$report_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
decisions="${work}/decisions.tsv"
stuck="${work}/stuck.jsonl"
unavailable="${work}/unavailable.tsv"
warnings="${work}/warnings.txt"
: >"$decisions"
: >"$stuck"
: >"$unavailable"
: >"$warnings"

# The uninstall refuses while a run of the pipeline is under way: it could deploy a preview again.
# Prints the runs' names joined by ", "; dies when they cannot be listed.
pipeline_runs() {
  local runs
  if ! runs=$(teardown_pipeline_runs "$workflows_namespace" "$pipeline_template"); then
    die kubectl "listing the Workflows of ${pipeline_template} in ${workflows_namespace} failed; $1"
  fi
  printf '%s' "${runs//$'\n'/, }"
}
if [[ $mode == all ]]; then
  runs=$(pipeline_runs "nothing was changed")
  if [[ -n $runs ]]; then
    die runs "run(s) of ${pipeline_template} still in progress, which could deploy a preview again after the uninstall: ${runs}. Wait for them to finish or stop them (argo stop -n ${workflows_namespace} NAME), then uninstall again; nothing was changed"
  fi
fi

# The one namespace list call: the sweep's decisions are taken on it.
listing="${work}/namespaces.tsv"
if ! kubectl get namespaces -l "$selector" -o json >"${work}/namespaces.json"; then
  die kubectl "listing the namespaces labelled ${selector} failed; nothing was changed"
fi
if ! jq -r --arg instance "$instance" ".items[] | select(${OURS}) | ${NAMESPACE_FIELDS}" \
  "${work}/namespaces.json" >"$listing"; then
  die kubectl "printed something that is not a namespace list as JSON; nothing was changed"
fi

# PersistentVolumes left Released by claims in preview namespaces that are gone: reported only.
# jq names the claims' namespaces, the naming rule (teardown_preview_pr) picks the previews' ones.
# Prints the report's releasedVolumes; non-zero when the volume list is not what it should be.
released_volumes() {
  local claim_ns
  jq -r '.items[] | select(.status.phase == "Released") | .spec.claimRef.namespace // empty' \
    "${work}/volumes.json" >"${work}/claim-namespaces.txt" || return 1
  while IFS= read -r claim_ns; do
    if teardown_preview_pr "$claim_ns"; then printf '%s\n' "$claim_ns"; fi
  done <"${work}/claim-namespaces.txt" >"${work}/preview-claims.txt"
  jq --slurpfile namespaces "${work}/namespaces.json" --rawfile previews "${work}/preview-claims.txt" '
    [$namespaces[0].items[].metadata.name] as $present
    | ($previews | split("\n") | map(select(length > 0))) as $ours
    | [ .items[]
        | select(.status.phase == "Released")
        | (.spec.claimRef.namespace // "") as $ns
        | select(($ours | index($ns)) and ($present | index($ns) | not))
        | { name: .metadata.name,
            claim: "\($ns)/\(.spec.claimRef.name // "")",
            reclaimPolicy: (.spec.persistentVolumeReclaimPolicy // ""),
            storageClass: (.spec.storageClassName // ""),
            since: (.status.lastPhaseTransitionTime // "") } ]' "${work}/volumes.json"
}
released="${work}/released.json"
if kubectl get persistentvolumes -o json >"${work}/volumes.json" && released_volumes >"$released" 2>/dev/null; then
  :
else
  echo "listing PersistentVolumes failed: Released volumes of deleted previews are not reported this time" >>"$warnings"
  printf '[]' >"$released"
fi

# ---- The pull requests' states, from GitHub: one token and one query per repository and 100 ----
# Repositories are keyed lowercased (GitHub names are case-insensitive; deploy annotates lowercased).
declare -A pr_state=() deployment_of=() repository_of=() pending=()
while IFS=$'\t' read -r -u 3 ns _ deleting _ _ _ _ repository deployment; do
  ns=${ns#=} deleting=${deleting#=} repository=${repository#=} deployment=${deployment#=}
  # The uninstall also marks the deployment of a preview already being deleted inactive.
  [[ -z $deleting || $mode == all ]] || continue
  teardown_preview_pr "$ns" || continue
  pr=$TEARDOWN_PR
  [[ $repository =~ $REPOSITORY ]] || continue
  repository=${repository,,}
  if ! teardown_named_for "$ns" "$repository"; then
    echo "${ns}: annotated as the preview of ${repository}, which its name is not: judged by the TTL alone, its deployment left alone" >>"$warnings"
    continue
  fi
  repository_of[$ns]=$repository
  deployment_of[$ns]=$deployment
  pending[$repository]+="${pr} "
done 3<"$listing"

queries=0
mapfile -t repositories < <(printf '%s\n' "${!pending[@]}" | sort)
# The uninstall deletes every preview whatever its PR's state: GitHub is not asked.
[[ $mode == ttl ]] || repositories=()
for repository in "${repositories[@]}"; do
  [[ -n $repository ]] || continue
  read -r -a numbers <<<"${pending[$repository]}"
  owner=${repository%%/*} repo=${repository#*/}
  if ! token=$(github_installation_token "$owner" "$repo" '{"pull_requests":"read"}' 2>"${work}/github.err"); then
    printf '%s\t%s\n' "$repository" "no read-only token: $(tr '\n' ' ' <"${work}/github.err" | head -c 300)" >>"$unavailable"
    continue
  fi
  for ((at = 0; at < ${#numbers[@]}; at += 100)); do
    queries=$((queries + 1))
    if GITHUB_TOKEN=$token pull_request_states "$owner" "$repo" "${numbers[@]:at:100}" >"${work}/states.tsv" 2>"${work}/github.err"; then
      while IFS=$'\t' read -r number state; do
        pr_state["$repository#$number"]=$state
      done <"${work}/states.tsv"
    else
      printf '%s\t%s\n' "$repository" "$(tr '\n' ' ' <"${work}/github.err" | head -c 300)" >>"$unavailable"
    fi
  done
done

# Records one decision: action (delete|keep|failed), namespace, reason, expiry, creation, repository, PR state.
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$decisions"; }

# What changed that matters between two lines of NAMESPACE_FIELDS (the listing's, then the
# re-read's), as words for the report; nothing when nothing did. Repositories compare lowercased.
changes() {
  local -a before after out=()
  IFS=$'\t' read -r -a before <<<"$1"
  IFS=$'\t' read -r -a after <<<"$2"
  before=("${before[@]#=}") after=("${after[@]#=}")
  [[ ${after[1]} == "${before[1]}" ]] || out+=("recreated (created ${after[1]})")
  [[ ${after[2]} == "${before[2]}" ]] || out+=("being deleted since ${after[2]}")
  [[ ${after[5]} == "${before[5]}" ]] || out+=("relabelled workflow=${after[5]:-<none>} (was ${before[5]:-<none>}): a newer run")
  [[ ${after[4]} == "${before[4]}" ]] || out+=("labelled preview.keep=${after[4]:-<none>}")
  [[ ${after[3]} == "${before[3]}" ]] || out+=("new expiry ${after[3]:-<none>}")
  [[ ${after[6]} == "${before[6]}" ]] || out+=("stamped by workflow ${after[6]:-<none>}")
  [[ ${after[7],,} == "${before[7],,}" ]] || out+=("now the preview of ${after[7]:-no recorded repository}")
  [[ ${after[8]} == "${before[8]}" ]] || out+=("new deployment ${after[8]:-<none>}")
  if ((${#out[@]} > 0)); then
    printf '%s' "${out[0]}"
    ((${#out[@]} == 1)) || printf '; %s' "${out[@]:1}"
  fi
}

failures=0
# Deletes one namespace the listing condemned, after reading it again: LINE is its listing line.
sweep() {
  local ns=$1 reason=$2 expires=$3 created=$4 repository=$5 state=$6 line=$7 rc=0 current changed
  if [[ $dry_run == "true" ]]; then
    record delete "$ns" "$reason (dry run: not deleted)" "$expires" "$created" "$repository" "$state"
    return
  fi
  # The re-read: a list call narrowed to the one name (the sweeper may list namespaces, not get them).
  if ! kubectl get namespaces -l "$selector" --field-selector "metadata.name=${ns}" -o json >"${work}/current.json" ||
    ! current=$(jq -r --arg ns "$ns" --arg instance "$instance" "[.items[] | select(.metadata.name == \$ns and (${OURS}))]
        | first // empty | ${NAMESPACE_FIELDS}" "${work}/current.json"); then
    failures=$((failures + 1))
    record failed "$ns" "$reason; reading it again before deleting failed: not deleted" "$expires" "$created" "$repository" "$state"
    return
  fi
  if [[ -z $current ]]; then
    record keep "$ns" "$reason, but gone since the listing: nothing to delete" "$expires" "$created" "$repository" "$state"
    return
  fi
  changed=$(changes "$line" "$current")
  if [[ -n $changed && $mode == all ]]; then
    # Still this instance's preview (the re-read selects by its labels): the uninstall takes it all the same.
    reason="${reason} (changed since the listing: ${changed})"
  elif [[ -n $changed ]]; then
    record keep "$ns" "$reason, but changed since the listing (${changed}): left for the next sweep" "$expires" "$created" "$repository" "$state"
    return
  fi
  teardown_namespace "$ns" || rc=$?
  if ((rc == 2)); then
    failures=$((failures + 1))
    record failed "$ns" "$reason; namespace deletion failed" "$expires" "$created" "$repository" "$state"
    return
  fi
  if ((rc == 1)); then
    failures=$((failures + 1))
    record failed "$ns" "$reason; helm uninstall failed, namespace deleted" "$expires" "$created" "$repository" "$state"
  else
    record delete "$ns" "$reason" "$expires" "$created" "$repository" "$state"
  fi
  deactivate "$ns" "Preview deleted: ${reason:0:100}"
}

# Marks the GitHub deployment the listing recorded for NS inactive; a failure is a warning.
deactivate() {
  local ns=$1 description=$2
  if ! teardown_deactivate "${repository_of[$ns]-}" "${deployment_of[$ns]-}" "$description" 2>"${work}/github.err"; then
    cat "${work}/github.err" >&2
    echo "$ns: the GitHub deployment ${deployment_of[$ns]-} of ${repository_of[$ns]-} was not marked inactive" >>"$warnings"
  fi
}

# The listing is read on fd 3 so that nothing called in the loop can consume it.
while IFS= read -r -u 3 line; do
  IFS=$'\t' read -r ns created deleting expires keep running stamped repository _ <<<"$line"
  ns=${ns#=} created=${created#=} deleting=${deleting#=} expires=${expires#=} keep=${keep#=}
  running=${running#=} stamped=${stamped#=} repository=${repository#=}
  state=""
  pr=""
  if teardown_preview_pr "$ns"; then
    pr=$TEARDOWN_PR
    if [[ -n ${repository_of[$ns]-} ]]; then state=${pr_state["${repository_of[$ns]}#${pr}"]-UNAVAILABLE}; fi
  fi
  # A run started since the last success (deploy relabelled the namespace), not yet taken for crashed.
  in_progress=""
  if [[ -n $running && $running != "$stamped" ]]; then
    if [[ -n $expires && $expires =~ $UTC_TIME ]]; then
      [[ $expires < $orphan_before ]] || in_progress=yes
    elif [[ $created =~ $UTC_TIME && ! $created < $orphan_before ]]; then
      in_progress=yes
    fi
  fi
  if [[ -z $pr ]]; then
    record keep "$ns" "not a preview namespace's name (impl-pr-<N> or impl-<owner>-<repo>-<hash>-pr-<N>): never touched" "$expires" "$created" "$repository" "$state"
  elif [[ -n $deleting ]]; then
    if [[ $deleting =~ $UTC_TIME && ! $deleting > $stuck_before ]]; then
      blocking=$(jq -r --arg ns "$ns" '.items[] | select(.metadata.name == $ns)
        | [ ((.spec.finalizers // []) + (.metadata.finalizers // []) | if length > 0 then "finalizers: " + join(", ") else empty end),
            ((.status.conditions // [])[] | select(.status == "True") | "\(.type): \(.message // .reason // "")") ]
        | join("; ")' "${work}/namespaces.json")
      record keep "$ns" "stuck deleting since ${deleting} (over ${terminating_limit} minutes)${blocking:+: $blocking}" "$expires" "$created" "$repository" "$state"
      jq -c --arg ns "$ns" '.items[] | select(.metadata.name == $ns)
        | { namespace: $ns, deletingSince: .metadata.deletionTimestamp,
            finalizers: ((.spec.finalizers // []) + (.metadata.finalizers // [])),
            conditions: [ (.status.conditions // [])[] | select(.status == "True") | {type, reason: (.reason // ""), message: (.message // "")} ] }' \
        "${work}/namespaces.json" >>"$stuck"
    else
      record keep "$ns" "already being deleted" "$expires" "$created" "$repository" "$state"
    fi
    if [[ $mode == all && $dry_run == false ]]; then deactivate "$ns" "Preview deleted: uninstall"; fi
  elif [[ $mode == all ]]; then
    sweep "$ns" "uninstall: every preview of instance ${instance} goes" "$expires" "$created" "$repository" "$state" "$line"
  elif [[ $state == CLOSED || $state == MERGED ]]; then
    what=closed
    [[ $state == CLOSED ]] || what=merged
    if [[ -n $in_progress ]]; then
      record keep "$ns" "PR ${what}, but run ${running} started since the last success; a later sweep tears it down" "$expires" "$created" "$repository" "$state"
    elif [[ $keep == "true" ]]; then
      sweep "$ns" "PR ${what} (preview.keep=true exempts from the TTL only)" "$expires" "$created" "$repository" "$state" "$line"
    else
      sweep "$ns" "PR ${what}" "$expires" "$created" "$repository" "$state" "$line"
    fi
  elif exempt_reason "$keep"; then
    record keep "$ns" "$EXEMPTION" "$expires" "$created" "$repository" "$state"
  elif [[ -n $expires ]]; then
    if ! [[ $expires =~ $UTC_TIME ]]; then
      record keep "$ns" "unparseable expiry: left alone" "$expires" "$created" "$repository" "$state"
    elif [[ $expires < $now ]]; then
      if [[ -n $in_progress ]]; then
        record keep "$ns" "expired at ${expires}, but run ${running} started since the last success" "$expires" "$created" "$repository" "$state"
      else
        sweep "$ns" "expired at ${expires}" "$expires" "$created" "$repository" "$state" "$line"
      fi
    else
      record keep "$ns" "fresh: expires at ${expires}" "$expires" "$created" "$repository" "$state"
    fi
  elif ! [[ $created =~ $UTC_TIME ]]; then
    record keep "$ns" "no expiry and unparseable creation time: left alone" "$expires" "$created" "$repository" "$state"
  elif [[ $created < $orphan_before ]]; then
    sweep "$ns" "orphan: no expiry, created ${created}, older than ${max_age_hours}h" "$expires" "$created" "$repository" "$state" "$line"
  else
    record keep "$ns" "no expiry yet, younger than ${max_age_hours}h" "$expires" "$created" "$repository" "$state"
  fi
done 3<"$listing"

if [[ -s $unavailable ]]; then
  while IFS=$'\t' read -r repository error; do
    printf 'WARNING: github: no pull request states for %s (%s): its previews are judged by the TTL alone\n' "$repository" "$error" >&2
  done <"$unavailable"
fi

jq -n \
  --arg now "$now" --arg mode "$mode" --argjson dryRun "$dry_run" --argjson maxAgeHours "$((10#$max_age_hours))" \
  --argjson terminatingLimitMinutes "$((10#$terminating_limit))" --argjson queries "$queries" \
  --rawfile decisions "$decisions" --rawfile unavailable "$unavailable" --rawfile warnings "$warnings" \
  --slurpfile stuck "$stuck" --slurpfile released "$released" '
  [ $decisions | split("\n")[] | select(length > 0) | split("\t")
    | {action: .[0], namespace: .[1], reason: .[2], expiresAt: .[3], createdAt: .[4], repository: .[5], prState: .[6]} ] as $all
  | { generatedAt: $now, mode: $mode, dryRun: $dryRun, maxAgeHours: $maxAgeHours, terminatingLimitMinutes: $terminatingLimitMinutes,
      deleted: [ $all[] | select(.action == "delete") | del(.action) ],
      kept:    [ $all[] | select(.action == "keep")   | del(.action) ],
      failed:  [ $all[] | select(.action == "failed") | del(.action) ],
      stuck: $stuck,
      releasedVolumes: $released[0],
      github: { queries: $queries,
                unavailable: [ $unavailable | split("\n")[] | select(length > 0) | split("\t") | {repository: .[0], error: .[1]} ],
                warnings: [ $warnings | split("\n")[] | select(length > 0) ] } }' \
  >"${report_dir}/report.json"

jq -r '
  "\(if .mode == "all" then "Uninstall" else "TTL sweep" end) at \(.generatedAt)\(if .dryRun then " (dry run: nothing deleted)" else "" end)",
  "deleted: \(.deleted | length), kept: \(.kept | length), failed: \(.failed | length)",
  (.deleted[] | "  delete \(.namespace): \(.reason)"),
  (.failed[]  | "  FAILED \(.namespace): \(.reason)"),
  (.kept[]    | "  keep   \(.namespace): \(.reason)"),
  (if (.stuck | length) > 0 then "stuck Terminating over \(.terminatingLimitMinutes) minutes (finalizers are not stripped): \(.stuck | length)" else empty end),
  (.stuck[] | "  STUCK  \(.namespace) since \(.deletingSince): \(([("finalizers: " + (.finalizers | join(", ")) | select(. != "finalizers: "))] + [.conditions[] | "\(.type): \(.message)"]) | join("; "))"),
  (if (.releasedVolumes | length) > 0 then "PersistentVolumes Released by claims of deleted previews (not deleted): \(.releasedVolumes | length)" else empty end),
  (.releasedVolumes[] | "  VOLUME \(.name): claim \(.claim), reclaim policy \(.reclaimPolicy)\(if .since != "" then ", released \(.since)" else "" end)"),
  (if (.github.unavailable | length) > 0 then "GitHub unavailable (PR states unknown; judged by the TTL alone):" else empty end),
  (.github.unavailable[] | "  GITHUB \(.repository): \(.error)"),
  (.github.warnings[] | "  WARNING \(.)")' \
  "${report_dir}/report.json" | tee "${report_dir}/report.txt"

# A run submitted during the uninstall could deploy a preview again: say so, and fail. Runs first,
# then the namespaces: a run that ended before the first check left its preview for the second.
if [[ $mode == all && $dry_run == false ]]; then
  runs=$(pipeline_runs "whether a run started during the uninstall is unknown")
  if [[ -n $runs ]]; then
    die runs "run(s) of ${pipeline_template} started during the uninstall and could deploy a preview again: ${runs}. Stop them (argo stop -n ${workflows_namespace} NAME), then uninstall again"
  fi
  if ! kubectl get namespaces -l "$selector" -o json >"${work}/after.json" ||
    ! jq -r --arg instance "$instance" ".items[] | select((${OURS}) and .metadata.deletionTimestamp == null) | .metadata.name" \
      "${work}/after.json" >"${work}/after.txt"; then
    die kubectl "listing the namespaces labelled ${selector} again failed: whether a preview appeared during the uninstall is unknown"
  fi
  appeared=()
  while IFS= read -r ns; do
    if teardown_preview_pr "$ns" && ! grep -qxF "=${ns}" <(cut -f1 "$listing"); then appeared+=("$ns"); fi
  done <"${work}/after.txt"
  if ((${#appeared[@]} > 0)); then
    die previews "preview(s) deployed during the uninstall, by a run that has ended since: ${appeared[*]}. Uninstall again"
  fi
fi
if ((failures > 0)); then
  die sweep "${failures} namespace(s) could not be cleaned completely; see the report"
fi
