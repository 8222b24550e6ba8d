#!/usr/bin/env bash
# cleanup: the workflow's exit handler. It acts only on this PR's preview namespace impl-pr-<PR>, and
# only when that namespace carries preview=true (a namespace named like ours without the label is not
# ours and is left alone).
#   - The workflow failed or errored: `helm uninstall` the release (a release that is not there is
#     fine), then delete the namespace.
#   - The workflow succeeded: annotate the namespace with its expiry (now + TTL_HOURS, RFC 3339 UTC)
#     and the workflow's name, and leave it for review; the TTL sweeper deletes it once expired. Every
#     success moves the expiry.
# Idempotent: a second run, or a run after the namespace is gone, succeeds.
#
# NS and RELEASE are set-params' global outputs. When set-params failed they do not exist, and Argo
# leaves the reference itself in the value (it substitutes with unresolved references allowed): NS
# then reads workflow.outputs.parameters.ns between double braces. An NS or RELEASE that is empty or
# holds a brace means set-params never derived the names: nothing of ours exists, so the step says
# so and succeeds without touching anything.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   WORKFLOW_STATUS  Argo's workflow status: Succeeded, Failed or Error
#   WORKFLOW_NAME    the workflow's name: a DNS-1123 subdomain (at most 253)
#   PR               the pull request number (only read when NS and RELEASE were derived): a positive
#                    integer without a leading zero, at most 9 digits
#   NS               set-params' namespace: must be exactly impl-pr-<PR>
#   RELEASE          set-params' Helm release: a DNS-1123 label of at most 53 ending in -pr-<PR>
#   TTL_HOURS        hours a successful preview lives: an integer 1-720
#
# Calls: kubectl get/annotate/delete namespace, helm uninstall (with the step's own identity).
# Writes nothing but its log.
set -euo pipefail
export LC_ALL=C

die() {
  printf 'ERROR: %s: %s\n' "$1" "$2" >&2
  exit 1
}

# Reads a variable without tripping `set -u`; a missing one reads as empty.
value() { printf '%s' "${!1-}"; }

status=$(value WORKFLOW_STATUS)
workflow=$(value WORKFLOW_NAME)
pr=$(value PR)
ns=$(value NS)
release=$(value RELEASE)
ttl_hours=$(value TTL_HOURS)

case "$status" in
  Succeeded | Failed | Error) ;;
  *) die WORKFLOW_STATUS "must be Succeeded, Failed or Error" ;;
esac
if ! [[ $workflow =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]]; then
  die WORKFLOW_NAME "must be a DNS-1123 subdomain of at most 253 characters"
fi
if ! [[ $ttl_hours =~ ^[1-9][0-9]{0,2}$ ]] || ((10#$ttl_hours > 720)); then
  die TTL_HOURS "must be an integer from 1 to 720"
fi

# set-params never derived the names: there is nothing of ours to clean.
if [[ -z $ns || -z $release || $ns == *'{'* || $release == *'{'* ]]; then
  echo "cleanup: set-params derived no namespace or release (workflow ${status}); nothing of ours to clean"
  exit 0
fi

if ! [[ $pr =~ ^[1-9][0-9]{0,8}$ ]]; then
  die PR "must be a positive integer without a leading zero, at most 9 digits"
fi
if [[ $ns != "impl-pr-${pr}" ]]; then
  die NS "must be this PR's namespace impl-pr-${pr}; nothing was changed"
fi
if ! [[ $release =~ ^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$ ]] || [[ $release != *"-pr-${pr}" ]]; then
  die RELEASE "must be a DNS-1123 label of at most 53 characters ending in -pr-${pr}; nothing was changed"
fi

# The namespace as it is now: absent, or its preview label and phase.
ns_json=$(kubectl get namespace "$ns" --ignore-not-found -o json)
if [[ -z $ns_json ]]; then
  echo "cleanup: namespace ${ns} does not exist (already gone or never created); nothing to clean"
  exit 0
fi
if ! state=$(printf '%s' "$ns_json" | jq -r '[(.metadata.labels.preview // ""), (.status.phase // "")] | @tsv'); then
  die kubectl "printed something that is not a namespace as JSON for ${ns}; nothing was changed"
fi
preview=${state%%$'\t'*}
phase=${state#*$'\t'}
if [[ $preview != "true" ]]; then
  echo "cleanup: namespace ${ns} exists without preview=true: it is not ours and is left alone"
  exit 0
fi

if [[ $status == "Succeeded" ]]; then
  if [[ $phase == "Terminating" ]]; then
    echo "cleanup: namespace ${ns} is being deleted; no expiry to set"
    exit 0
  fi
  now=$(date -u +%s)
  expires_at=$(date -u -d "@$((now + 10#$ttl_hours * 3600))" +%Y-%m-%dT%H:%M:%SZ)
  kubectl annotate namespace "$ns" --overwrite \
    "implementation-dag/expires-at=${expires_at}" \
    "implementation-dag/workflow=${workflow}" >/dev/null
  echo "cleanup: workflow succeeded; preview ${ns} kept for review until ${expires_at} (${ttl_hours}h)"
  exit 0
fi

# Failed or Error: remove the release, then the namespace. The namespace goes even when helm fails,
# since deleting it removes everything the release made there; the helm failure still fails the step.
helm_failed=0
if helm uninstall "$release" --namespace "$ns" --ignore-not-found --timeout 2m; then
  echo "cleanup: release ${release} uninstalled (or was not there)"
else
  helm_failed=1
  echo "cleanup: helm uninstall ${release} failed; deleting the namespace all the same" >&2
fi
kubectl delete namespace "$ns" --ignore-not-found --wait=false
echo "cleanup: workflow ${status}; namespace ${ns} deleted"
if ((helm_failed)); then
  die helm "uninstall of ${release} in ${ns} failed (the namespace was deleted)"
fi
