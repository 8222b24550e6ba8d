#!/usr/bin/env bash
# cleanup: the workflow's exit handler. It acts only on this run's preview namespace NS, and only
# when that namespace is this run's: it carries preview=true (a namespace named like ours without
# the label is not ours) and implementation-dag/instance=PREVIEW_INSTANCE (another stack's preview of
# that name is not ours either), its implementation-dag/repository annotation is this run's repository
# (compared lowercased: GitHub names are case-insensitive), and its `workflow` label is this
# workflow (deploy sets it when it creates or reuses the namespace). Anything else — another
# repository's preview, or an older run's preview this run never deployed into — is left alone.
#   - The workflow failed or errored: `helm uninstall` the release (a release that is not there is
#     fine), then delete the namespace.
#   - The workflow succeeded: annotate the namespace with its expiry (now + TTL_HOURS, RFC 3339 UTC)
#     and the workflow's name, and leave it for review; the TTL sweeper deletes it once expired. Every
#     success moves the expiry.
# Idempotent: a second run, or a run after the namespace is gone (even between its read and its
# change), succeeds.
#
# The preview on the PR: when deploy recorded a GitHub deployment (namespace annotations
# implementation-dag/deployment = its id, implementation-dag/repository = owner/repo,
# implementation-dag/environment-url = the preview's URL), cleanup adds its status: `success` with
# the environment URL and the workflow's Argo UI link on success; `failure`, then `inactive` once the
# namespace is deleted, on failure. A status GitHub does not take (5xx after lib/github.sh's retries,
# a bad key) is reported as a WARNING on stderr and never fails cleanup: the preview itself is what
# cleanup answers for. Without those annotations nothing is sent to GitHub.
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
#   NS               set-params' namespace: a preview namespace impl-pr-<N> or impl-<slug>-<hash>-pr-<N>
#   RELEASE          set-params' Helm release: a DNS-1123 label of at most 53 ending in -pr-<N>
#   REPOSITORY       set-params' repository: <owner>/<repo> lowercased
#   TTL_HOURS        hours a successful preview lives: an integer 1-720
#   PREVIEW_INSTANCE this stack's instance (its workflows namespace; a DNS label): the value of the
#                    label implementation-dag/instance NS must carry
#   ARGO_UI_URL      empty or the Argo UI's base URL (log_url: <url>/workflows/<ns>/<name>)
#   WORKFLOWS_NAMESPACE  the workflows' namespace (DNS-1123 label), for that link
#   GITHUB_API_URL, GITHUB_APP_ID, GITHUB_INSTALLATION_ID, GITHUB_APP_PRIVATE_KEY_FILE: the GitHub App
#                    whose token (deployments:write, narrowed to the one repository) adds the
#                    statuses; read by lib/github.sh, only when there is a deployment to update.
#
# Calls: kubectl get/annotate/delete namespace, helm uninstall (with the step's own identity); GitHub:
# one installation token and one or two deployment statuses, only with a recorded deployment.
# Writes nothing but its log.
set -euo pipefail
export LC_ALL=C

declare status workflow ns release repository_expected ttl_hours instance argo_ui_url \
  workflows_namespace
input status WORKFLOW_STATUS
input workflow WORKFLOW_NAME
input ns NS
input release RELEASE
input repository_expected REPOSITORY
input ttl_hours TTL_HOURS
input instance PREVIEW_INSTANCE
input argo_ui_url ARGO_UI_URL
input workflows_namespace WORKFLOWS_NAMESPACE

case "$status" in
  Succeeded | Failed | Error) ;;
  *) die WORKFLOW_STATUS "must be Succeeded, Failed or Error" ;;
esac
if ! is_object_name "$workflow"; then
  die WORKFLOW_NAME "must be a DNS-1123 subdomain of at most 253 characters"
fi
if ! [[ $ttl_hours =~ ^[1-9][0-9]{0,2}$ ]] || ((10#$ttl_hours > 720)); then
  die TTL_HOURS "must be an integer from 1 to 720"
fi
is_url_or_empty "$argo_ui_url" || die ARGO_UI_URL "$RULE_URL_OR_EMPTY"
is_dns_label "$workflows_namespace" || die WORKFLOWS_NAMESPACE "$RULE_DNS_LABEL"
is_dns_label "$instance" || die PREVIEW_INSTANCE "$RULE_DNS_LABEL"

# set-params never derived the names: there is nothing of ours to clean.
if [[ -z $ns || -z $release || -z $repository_expected || $ns == *'{'* || $release == *'{'* || $repository_expected == *'{'* ]]; then
  echo "cleanup: set-params derived no namespace or release (workflow ${status}); nothing of ours to clean"
  exit 0
fi

pr=${ns##*-pr-}
if ! is_pr_number "$pr" || ! is_preview_namespace "$ns" "$pr"; then
  die NS "must be a preview namespace (impl-pr-<N> or impl-<owner>-<repo>-<hash>-pr-<N>); nothing was changed"
fi
if ! [[ $repository_expected =~ ^[a-z0-9]([a-z0-9-]{0,37}[a-z0-9])?/[a-z0-9._-]{1,100}$ ]]; then
  die REPOSITORY "must be <owner>/<repo> lowercased; nothing was changed"
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
if ! state=$(printf '%s' "$ns_json" | jq -r '[(.metadata.labels.preview // ""), (.status.phase // ""),
    (.metadata.annotations // {} | .["implementation-dag/deployment"] // ""),
    (.metadata.annotations // {} | .["implementation-dag/repository"] // ""),
    (.metadata.annotations // {} | .["implementation-dag/environment-url"] // ""),
    (.metadata.labels.workflow // ""),
    (.metadata.labels // {} | .["implementation-dag/instance"] // "")] | map("=" + .) | @tsv'); then
  die kubectl "printed something that is not a namespace as JSON for ${ns}; nothing was changed"
fi
IFS=$'\t' read -r preview phase deployment repository environment_url owner_workflow owner_instance <<<"$state"
preview=${preview#=} phase=${phase#=} deployment=${deployment#=} repository=${repository#=} environment_url=${environment_url#=}
owner_workflow=${owner_workflow#=} owner_instance=${owner_instance#=}
if [[ $preview != "true" ]]; then
  echo "cleanup: namespace ${ns} exists without preview=true: it is not ours and is left alone"
  exit 0
fi
if [[ $owner_instance != "$instance" ]]; then
  echo "cleanup: namespace ${ns} belongs to the implementation-dag instance '${owner_instance}', not to ${instance}: left alone"
  exit 0
fi
if [[ ${repository,,} != "$repository_expected" ]]; then
  echo "cleanup: namespace ${ns} holds the preview of ${repository:-no recorded repository}, not of ${repository_expected}: left alone"
  exit 0
fi
if [[ $owner_workflow != "$workflow" ]]; then
  echo "cleanup: namespace ${ns} was last deployed by ${owner_workflow:-no workflow}, not by this run (${workflow}): left alone"
  exit 0
fi

# Whether the namespace is gone (deleted since it was read): then there is nothing left to do.
namespace_gone() {
  [[ -z $(kubectl get namespace "$ns" --ignore-not-found -o name 2>/dev/null) ]]
}

# The deployment GitHub shows on the PR, when deploy recorded one. Annotations are data anyone with
# namespace rights could edit: a malformed one is reported and GitHub is left alone.
deployment_log_url=""
[[ -z $argo_ui_url ]] || deployment_log_url="${argo_ui_url%/}/workflows/${workflows_namespace}/${workflow}"
gh_owner="" gh_repo=""
if [[ -n $deployment ]]; then
  if [[ $deployment =~ ^[1-9][0-9]{0,18}$ && $repository =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$ &&
    $environment_url =~ ^(https://[^[:space:]\"\'\<\>\`]+)?$ ]]; then
    gh_owner=${repository%%/*} gh_repo=${repository#*/}
  else
    echo "WARNING: namespace ${ns}: malformed deployment annotations; the deployment's status is left alone" >&2
  fi
fi
gh_token_tried=0
# Adds a status to the recorded deployment; a failure is reported, never fatal.
deployment_update() { # STATE ENVIRONMENT_URL DESCRIPTION
  [[ -n $gh_owner ]] || return 0
  if ((gh_token_tried == 0)); then
    gh_token_tried=1
    # shellcheck disable=SC2034 # read by github_request (lib/github.sh)
    GITHUB_TOKEN=$(github_installation_token "$gh_owner" "$gh_repo" '{"deployments":"write"}') || GITHUB_TOKEN=""
  fi
  if [[ -n ${GITHUB_TOKEN-} ]] && deployment_status "$gh_owner" "$gh_repo" "$deployment" "$1" "$2" "$deployment_log_url" "$3"; then
    echo "cleanup: deployment ${deployment} of ${repository}: ${1}"
  else
    echo "WARNING: github: deployment ${deployment} of ${repository}: status ${1} not recorded (see above); cleanup goes on" >&2
  fi
}

if [[ $status == "Succeeded" ]]; then
  if [[ $phase == "Terminating" ]]; then
    echo "cleanup: namespace ${ns} is being deleted; no expiry to set"
    exit 0
  fi
  declare expires_at
  printf -v now '%(%s)T' -1
  utc_time expires_at "$((now + 10#$ttl_hours * 3600))"
  if ! kubectl annotate namespace "$ns" --overwrite \
    "implementation-dag/expires-at=${expires_at}" \
    "implementation-dag/workflow=${workflow}" >/dev/null; then
    if namespace_gone; then
      echo "cleanup: namespace ${ns} was deleted meanwhile; nothing left to keep"
      exit 0
    fi
    die kubectl "cannot annotate namespace ${ns} with its expiry"
  fi
  echo "cleanup: workflow succeeded; preview ${ns} kept for review until ${expires_at} (${ttl_hours}h)"
  deployment_update success "$environment_url" "Preview up and accepted; kept until ${expires_at}"
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
deployment_update failure "" "Workflow ${status,,}: see the log"
deployment_update inactive "" "Preview deleted after the failed run"
if ((helm_failed)); then
  die helm "uninstall of ${release} in ${ns} failed (the namespace was deleted)"
fi
