#!/usr/bin/env bash
# preview-teardown: tears one PR's preview down at once (for a webhook on pull_request `closed`, e.g.
# an Argo Events Sensor), instead of waiting for the TTL sweeper. The second step of the
# preview-teardown WorkflowTemplate: preview-names validated owner, repo and PR and derived the
# namespace with set-params' rules, and this step runs under the mutex the pipeline's run of that
# preview holds (implementation-dag-<id>), so it never runs a Helm operation beside a deploy of it.
# Acts only on namespace NS labelled preview=true and implementation-dag/instance=PREVIEW_INSTANCE
# (this stack's: another stack's namespace of that name is left alone) whose
# implementation-dag/repository annotation is
# REPOSITORY, compared lowercased (GitHub names are case-insensitive; with `naming: pr-number` PR
# numbers repeat across repositories: another repository's preview of the same number is left
# alone, and so is a preview that does not say whose it is).
#   1. `helm uninstall` of every release in it, then deletes the namespace without waiting for it to
#      go (a namespace held by a finalizer must not hold this step; the TTL sweeper reports
#      namespaces stuck Terminating)
#   2. marks the preview's GitHub deployment inactive, when deploy recorded one (a GitHub failure
#      there is reported as a WARNING and does not fail the step)
# Nothing to tear down (no such namespace, already being deleted, another repository's or another
# instance's) is a success
# that says so. Runs under the sweeper's service account.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   NS                preview-names' ns: a preview namespace of PR (lib/rules.sh is_preview_namespace:
#                     impl-pr-<PR> or impl-<slug>-<hash>-pr-<PR>), and when named by repository, the
#                     one of REPOSITORY (lib/teardown.sh teardown_named_for)
#   REPOSITORY        preview-names' repository: <owner>/<repo> lowercased
#   PR                preview-names' pr: a positive integer without a leading zero (at most 9 digits)
#   PREVIEW_INSTANCE  this stack's instance (its workflows namespace; a DNS label): the value of the
#                     label implementation-dag/instance NS must carry
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

declare ns repository pr instance
input ns NS
input repository REPOSITORY
input pr PR
input instance PREVIEW_INSTANCE
input WORKFLOW_NAME WORKFLOW_NAME

is_pr_number "$pr" || die PR "$RULE_PR"
if ! [[ $repository =~ ^[a-z0-9]([a-z0-9-]{0,37}[a-z0-9])?/[a-z0-9._-]{1,100}$ ]]; then
  die REPOSITORY "must be <owner>/<repo> lowercased; nothing was changed"
fi
if ! teardown_named_for "$ns" "$repository" || [[ $TEARDOWN_PR != "$pr" ]]; then
  die NS "must be the preview namespace of ${repository}#${pr} (impl-pr-${pr} or impl-<owner>-<repo>-<hash>-pr-${pr}); nothing was changed"
fi
is_object_name "$WORKFLOW_NAME" || die WORKFLOW_NAME "must be a Kubernetes object name"
is_dns_label "$instance" || die PREVIEW_INSTANCE "$RULE_DNS_LABEL"
is_url_or_empty "${ARGO_UI_URL-}" || die ARGO_UI_URL "$RULE_URL_OR_EMPTY"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A list call narrowed to the one name: the sweeper's identity may list and delete namespaces, not get them.
if ! kubectl get namespaces -l "preview=true,implementation-dag/instance=${instance}" --field-selector "metadata.name=${ns}" -o json \
  >"${work}/namespaces.json"; then
  die kubectl "cannot list namespace ${ns}; nothing was changed"
fi
if ! found=$(jq -r --arg ns "$ns" --arg instance "$instance" '[.items[] | select(.metadata.name == $ns
    and (.metadata.labels // {}).preview == "true" and (.metadata.labels // {})["implementation-dag/instance"] == $instance)] | first // empty
    | [ (.metadata.deletionTimestamp // ""),
        (.metadata.annotations // {} | .["implementation-dag/repository"] // ""),
        (.metadata.annotations // {} | .["implementation-dag/deployment"] // "") ] | map("=" + .) | @tsv' "${work}/namespaces.json"); then
  die kubectl "printed something that is not a namespace list as JSON; nothing was changed"
fi
if [[ -z $found ]]; then
  echo "preview-teardown: no preview namespace ${ns} of instance ${instance} (already gone, never deployed, or another instance's); nothing to tear down"
  exit 0
fi
IFS=$'\t' read -r deleting annotated deployment <<<"$found"
deleting=${deleting#=} annotated=${annotated#=} deployment=${deployment#=}
if [[ -n $deleting ]]; then
  echo "preview-teardown: ${ns} is already being deleted (since ${deleting})"
  exit 0
fi
if [[ -z $annotated ]]; then
  echo "preview-teardown: ${ns} does not say which repository it previews; left alone (the TTL sweeper handles it)"
  exit 0
fi
if [[ ${annotated,,} != "$repository" ]]; then
  echo "preview-teardown: ${ns} holds the preview of ${annotated}, not of ${repository}; left alone"
  exit 0
fi

rc=0
teardown_namespace "$ns" || rc=$?
if ((rc == 2)); then
  die kubectl "deleting namespace ${ns} failed"
fi
echo "preview-teardown: ${repository}#${pr}: namespace ${ns} deleted"
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
