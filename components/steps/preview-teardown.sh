#!/usr/bin/env bash
# preview-teardown: tears one PR's preview down at once (for a webhook on pull_request `closed`, e.g.
# an Argo Events Sensor), instead of waiting for the TTL sweeper. Acts only on namespace
# impl-pr-<PR> labelled preview=true whose implementation-dag/repository annotation is OWNER/REPO
# (PR numbers repeat across repositories: another repository's preview of the same number is left
# alone, and so is a preview that does not say whose it is).
#   1. `helm uninstall` of every release in it, then deletes the namespace without waiting for it to
#      go (a namespace held by a finalizer must not hold this step; the TTL sweeper reports
#      namespaces stuck Terminating)
#   2. marks the preview's GitHub deployment inactive, when deploy recorded one (a GitHub failure
#      there is reported as a WARNING and does not fail the step)
# Nothing to tear down (no such namespace, already being deleted, another repository's) is a success
# that says so. Runs under the sweeper's service account and the per-PR mutex of the pipeline, so it
# never runs a Helm operation beside a deploy of the same PR.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   OWNER, REPO, PR   the pull request: a GitHub owner, a repository name, a positive integer without
#                     a leading zero (at most 9 digits)
#   WORKFLOW_NAME     this workflow's name (a DNS-1123 subdomain), for the status's log_url
#   ARGO_UI_URL, WORKFLOWS_NAMESPACE  optional: the Argo UI link of the inactive status
#   GITHUB_API_URL, GITHUB_APP_ID, GITHUB_INSTALLATION_ID, GITHUB_APP_PRIVATE_KEY_FILE: the GitHub App
#                     (lib/github.sh); only used when a deployment was recorded
#
# Calls: kubectl get namespaces (a list call narrowed to the one name), helm list/uninstall, kubectl
# delete namespace; GitHub: one installation token (deployments:write, this repository) and one
# deployment status. Writes nothing but its log.
set -euo pipefail
export LC_ALL=C

owner=$(value OWNER)
repo=$(value REPO)
pr=$(value PR)
WORKFLOW_NAME=$(value WORKFLOW_NAME)

is_github_owner "$owner" || die owner "$RULE_OWNER"
is_github_repo "$repo" || die repo "$RULE_REPO"
is_pr_number "$pr" || die pr "$RULE_PR"
is_object_name "$WORKFLOW_NAME" || die WORKFLOW_NAME "must be a Kubernetes object name"
is_url_or_empty "${ARGO_UI_URL-}" || die ARGO_UI_URL "$RULE_URL_OR_EMPTY"

ns="impl-pr-${pr}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A list call narrowed to the one name: the sweeper's identity may list and delete namespaces, not get them.
if ! kubectl get namespaces -l preview=true --field-selector "metadata.name=${ns}" -o json >"${work}/namespaces.json"; then
  die kubectl "cannot list namespace ${ns}; nothing was changed"
fi
if ! found=$(jq -r --arg ns "$ns" '[.items[] | select(.metadata.name == $ns and (.metadata.labels // {}).preview == "true")] | first // empty
    | [ (.metadata.deletionTimestamp // ""),
        (.metadata.annotations // {} | .["implementation-dag/repository"] // ""),
        (.metadata.annotations // {} | .["implementation-dag/deployment"] // "") ] | map("=" + .) | @tsv' "${work}/namespaces.json"); then
  die kubectl "printed something that is not a namespace list as JSON; nothing was changed"
fi
if [[ -z $found ]]; then
  echo "preview-teardown: no preview namespace ${ns}; nothing to tear down"
  exit 0
fi
IFS=$'\t' read -r deleting repository deployment <<<"$found"
deleting=${deleting#=} repository=${repository#=} deployment=${deployment#=}
if [[ -n $deleting ]]; then
  echo "preview-teardown: ${ns} is already being deleted (since ${deleting})"
  exit 0
fi
if [[ -z $repository ]]; then
  echo "preview-teardown: ${ns} does not say which repository it previews; left alone (the TTL sweeper handles it)"
  exit 0
fi
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }
if [[ $(lower "$repository") != $(lower "${owner}/${repo}") ]]; then
  echo "preview-teardown: ${ns} holds the preview of ${repository}, not of ${owner}/${repo}; left alone"
  exit 0
fi

rc=0
teardown_namespace "$ns" || rc=$?
if ((rc == 2)); then
  die kubectl "deleting namespace ${ns} failed"
fi
echo "preview-teardown: ${owner}/${repo}#${pr}: namespace ${ns} deleted"
if [[ -n $deployment ]]; then
  if teardown_deactivate "$repository" "$deployment" "Preview deleted: pull request closed"; then
    echo "preview-teardown: deployment ${deployment} of ${repository}: inactive"
  else
    echo "WARNING: github: deployment ${deployment} of ${repository}: status inactive not recorded (see above)" >&2
  fi
fi
if ((rc == 1)); then
  die helm "uninstalling the releases in ${ns} failed (the namespace was deleted)"
fi
