#!/usr/bin/env bash
# preview-evidence: after acceptance, whether it passed or failed, records what ran in the preview
# and how it behaved, beside the acceptance report: every pod's containers with their image, the
# image digest the node actually ran (status.containerStatuses[].imageID), readiness, restarts and
# last termination; the namespace's events; and the last lines of every container's log (and of its
# previous instance when it restarted). approve names the digests in the review, so the approval
# says which commit and which images were tested.
#
# It only reads (get pods, get events, logs) in the preview namespace, as the steps' service
# account, which deploy bound to the deployer ClusterRole there (pods get/list, pods/log, events).
# Pod and container names, images and log contents come from the pull request's chart and app:
# they are data. Logs go to files only; a pod or container name that is not a Kubernetes name is
# listed in pods.json but gets no log file (it never becomes a path).
#
# Env (each validated before anything is read; every violation prints `ERROR: <input>: <rule>`,
# exit 1):
#   PR          the pull request: a positive integer without a leading zero, at most 9 digits
#   NS          its preview namespace (set-params' ns; lib/rules.sh is_preview_namespace)
#   LOG_LINES   last lines of each container's log to keep: an integer 1-10000 (kubectl logs --tail)
#   LOG_BYTES   at most this many bytes of each log: an integer 1024-16777216 (--limit-bytes)
#   OUTPUT_DIR  where the evidence directory is written
#   TMPDIR      a private writable directory for kubectl's answers
#
# Exit 1 when the pods or the events cannot be read (the evidence would be missing what approve
# names); a log that cannot be read (a container that never started) is recorded, not fatal.
#
# Writes OUTPUT_DIR/preview-evidence/ (the `preview-evidence` artifact, archived with the others):
#   pods.json    one entry per container (init containers first, each pod sorted by name):
#                {pod, phase, container, init, image, imageID, digest ("sha256:<64 hex>" from imageID,
#                or ""), ready, restartCount, state (running|waiting|terminated|""), waitingReason,
#                lastTermination ({reason, exitCode, finishedAt} or null)}
#   events.json  the namespace's events, oldest first, the last 500: {lastSeen, type, reason, object
#                ("Kind/name"), count, message (at most 2000 characters)}
#   logs/<pod>/<container>.log            last LOG_LINES lines, at most LOG_BYTES bytes
#   logs/<pod>/<container>.previous.log   the same of the instance before the last restart
#   logs/<pod>/<container>.error.txt      what kubectl said when a log could not be read
# At most 100 containers get log files; pods.json lists them all.
set -euo pipefail
export LC_ALL=C

declare pr ns log_lines log_bytes output_dir
input pr PR
input ns NS
input log_lines LOG_LINES
input log_bytes LOG_BYTES
input output_dir OUTPUT_DIR

is_pr_number "$pr" || bad pr "$RULE_PR"
if ! is_preview_namespace "$ns" "$pr"; then
  bad ns "$(rule_preview_namespace "$pr")"
fi
if ! [[ $log_lines =~ ^[1-9][0-9]{0,4}$ ]] || ((log_lines > 10000)); then
  bad LOG_LINES "must be an integer from 1 to 10000"
fi
if ! [[ $log_bytes =~ ^[1-9][0-9]{3,7}$ ]] || ((log_bytes < 1024 || log_bytes > 16777216)); then
  bad LOG_BYTES "must be an integer from 1024 to 16777216"
fi
[[ -n $output_dir ]] || bad OUTPUT_DIR "must name a writable directory"
[[ -n ${TMPDIR-} && -d ${TMPDIR-} && -w ${TMPDIR-} ]] || bad TMPDIR "must be a writable directory"
stop_on_bad_inputs

evidence="$output_dir/preview-evidence"
mkdir -p "$evidence/logs" || die OUTPUT_DIR "must be a writable directory"

# ---- pods: what ran, from which image digest, how often it restarted ----
pods_raw="$TMPDIR/preview-evidence-pods.json"
kubectl get pods -n "$ns" -o json >"$pods_raw" || die pods "cannot list the pods of $ns"
# One entry per container the pod declares, its status joined by name: a container that never
# started (no status yet) is listed too, with an empty digest.
jq '
  def str: if type == "string" then . else "" end;
  def digest: str | (capture("(?<d>sha256:[0-9a-f]{64})$").d // "");
  if (.items | type) != "array" then error("not a list of pods") else . end
  | [ .items[] | . as $p
      | ([ ($p.spec.initContainers // [])[] | {name: (.name | str), image: (.image | str), init: true} ]
         + [ ($p.spec.containers // [])[] | {name: (.name | str), image: (.image | str), init: false} ])[]
      | . as $c
      | ((if $c.init then $p.status.initContainerStatuses else $p.status.containerStatuses end) // []
         | map(select(.name == $c.name)) | first) as $s
      | { pod: ($p.metadata.name | str), phase: ($p.status.phase | str), container: $c.name, init: $c.init,
          image: (if ($s.image | str) != "" then $s.image else $c.image end),
          imageID: ($s.imageID | str), digest: ($s.imageID | digest),
          ready: ($s.ready == true),
          restartCount: (if ($s.restartCount | type) == "number" then $s.restartCount else 0 end),
          state: (if ($s.state | type) == "object" then ($s.state | keys | first // "") else "" end),
          waitingReason: ($s.state.waiting.reason | str),
          lastTermination: ($s.lastState.terminated
            | if type == "object" then {reason: (.reason | str), exitCode: .exitCode, finishedAt: (.finishedAt | str)} else null end) } ]
  | sort_by(.pod, (if .init then 0 else 1 end))' "$pods_raw" >"$evidence/pods.json" ||
  die pods "kubectl's list of the pods of $ns is not a pod list"

# ---- events ----
events_raw="$TMPDIR/preview-evidence-events.json"
kubectl get events -n "$ns" -o json >"$events_raw" || die events "cannot list the events of $ns"
jq '
  def str: if type == "string" then . else "" end;
  if (.items | type) != "array" then error("not a list of events") else . end
  | [ .items[] | {
      lastSeen: ([.lastTimestamp, .eventTime, .firstTimestamp, .metadata.creationTimestamp] | map(str) | map(select(. != "")) | first // ""),
      type: (.type | str), reason: (.reason | str),
      object: ((.involvedObject.kind | str) + "/" + (.involvedObject.name | str)),
      count: (if (.count | type) == "number" then .count else 1 end),
      message: (.message | str | .[0:2000]) } ]
  | sort_by(.lastSeen) | .[-500:]' "$events_raw" >"$evidence/events.json" ||
  die events "kubectl's list of the events of $ns is not an event list"

# ---- logs: the last lines of every container, and of its previous instance after a restart ----
max_logged=100
logged=0
unnamed=0
errors_seen=0
# kubectl logs POD CONTAINER FILE [--previous]: a log that cannot be read leaves kubectl's words.
read_log() {
  local err="$TMPDIR/preview-evidence-logs.err"
  if kubectl logs "$1" -n "$ns" -c "$2" --tail="$log_lines" --limit-bytes="$log_bytes" "${@:4}" >"$3" 2>"$err"; then
    return 0
  fi
  errors_seen=$((errors_seen + 1))
  { printf 'kubectl logs %s -c %s%s failed:\n' "$1" "$2" "${4:+ $4}"; cat "$err"; } >>"$evidence/logs/$1/$2.error.txt"
}
# Empty names are left out of the loop: a tab is whitespace to read, so an empty field would shift
# the next one.
while IFS=$'\t' read -r pod container restarts; do
  if ! is_object_name "$pod" || ! is_dns_label "$container"; then
    unnamed=$((unnamed + 1))
    continue
  fi
  ((logged < max_logged)) || break
  logged=$((logged + 1))
  mkdir -p "$evidence/logs/$pod"
  read_log "$pod" "$container" "$evidence/logs/$pod/$container.log"
  if [[ $restarts =~ ^[1-9][0-9]*$ ]]; then
    read_log "$pod" "$container" "$evidence/logs/$pod/$container.previous.log" --previous
  fi
done < <(jq -r '.[] | select(.pod != "" and .container != "") | [.pod, .container, (.restartCount | tostring)] | @tsv' "$evidence/pods.json")
rm -f "$pods_raw" "$events_raw" "$TMPDIR/preview-evidence-logs.err"

containers=$(jq 'length' "$evidence/pods.json")
pods=$(jq '[.[].pod] | unique | length' "$evidence/pods.json")
restarts=$(jq '[.[].restartCount] | add // 0' "$evidence/pods.json")
events=$(jq 'length' "$evidence/events.json")
echo "preview-evidence: $ns: $containers containers in $pods pods, $restarts restarts, $events events; logs of $logged containers ($errors_seen unreadable) in $evidence"
if ((unnamed > 0)); then
  echo "preview-evidence: $unnamed containers have a pod or container name that is not a Kubernetes name: listed in pods.json, no log file" >&2
fi
if ((containers > logged + unnamed)); then
  echo "preview-evidence: only the first $max_logged containers' logs were kept" >&2
fi
