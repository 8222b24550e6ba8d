# shellcheck shell=bash
# lib/teardown.sh: tearing one preview down, the same way for the TTL sweeper, the uninstall (the
# sweeper's script in mode all) and preview-teardown.
# Needs lib/names.sh, lib/github.sh and lib/deployments.sh before it (lib/rules.sh is always first).
#
# Functions:
#   teardown_preview_pr NS
#       sets TEARDOWN_PR to the PR number of NS, its -pr-<N> suffix, when NS is a preview namespace
#       of either naming scheme (lib/rules.sh is_preview_namespace: impl-pr-<N>, or
#       impl-<slug>-<hash>-pr-<N>, the names set-params derives); returns 1, TEARDOWN_PR empty, for
#       any other name. The one place a preview's PR number is read from its namespace's name. (It
#       sets rather than prints: the sweeps ask it of every namespace, and $(...) forks.) The two
#       functions below call it too: read TEARDOWN_PR right after asking (teardown_named_for
#       leaves it set to NS's PR when it returns 0).
#   teardown_named_for NS REPOSITORY
#       whether the name NS is consistent with the preview of REPOSITORY (owner/repo, any case):
#       true for impl-pr-<N> (that scheme's names do not say whose they are), and for
#       impl-<slug>-<hash>-pr-<N> only when it is exactly lib/names.sh's namespace of REPOSITORY's
#       PR <N>. An annotation that names another repository than the namespace's own hash is not
#       believed (see the sweeper).
#   teardown_namespace NS
#       `helm uninstall` of every release in NS, then deletes NS without waiting for it to go
#       (`--wait=false`: a namespace held by a finalizer must not hold the step; the sweeper reports
#       namespaces stuck Terminating). Returns 0 when all went well, 1 when helm failed (the
#       namespace was deleted all the same), 2 when the namespace could not be deleted. NS must be
#       a preview namespace (teardown_preview_pr).
#   teardown_deactivate REPOSITORY DEPLOYMENT_ID DESCRIPTION
#       marks the preview's GitHub deployment inactive (one token with deployments:write narrowed to
#       REPOSITORY, i.e. owner/repo, minted once per repository and reused). Empty arguments: nothing
#       to do. Returns non-zero, after printing why, when GitHub did not take it; callers report that
#       and go on. Reads ARGO_UI_URL, WORKFLOWS_NAMESPACE and WORKFLOW_NAME (optional) for log_url.
#   teardown_pipeline_runs WORKFLOWS_NAMESPACE TEMPLATE
#       prints the names of the Workflows in WORKFLOWS_NAMESPACE made from the WorkflowTemplate
#       TEMPLATE (spec.workflowTemplateRef, or the workflows.argoproj.io/workflow-template label
#       Argo sets) that have not finished, one a line, sorted; nothing when there is none. One list
#       call selecting `workflows.argoproj.io/completed!=true`: Argo labels a workflow completed=true
#       when it finishes, and a workflow its controller has not picked up yet has no such label, which
#       `!=` selects too. Returns 1 when the Workflows cannot be listed. Run before and after the
#       uninstall: a run in progress could deploy a preview again once its namespace is gone.

declare -A _teardown_tokens=()

TEARDOWN_PR=""
teardown_preview_pr() { # NS
  local ns="${1-}"
  TEARDOWN_PR=${ns##*-pr-}
  is_preview_namespace "$ns" "$TEARDOWN_PR" || { TEARDOWN_PR=""; return 1; }
}

teardown_named_for() { # NS REPOSITORY
  local ns="${1-}" repository="${2-}"
  teardown_preview_pr "$ns" || return 1
  [[ $ns != "impl-pr-${TEARDOWN_PR}" ]] || return 0
  [[ $repository == */* ]] || return 1
  set_preview_id repository "${repository%%/*}" "${repository#*/}" "$TEARDOWN_PR" || return 1
  [[ $ns == "impl-${PREVIEW_ID}" ]]
}

teardown_namespace() {
  local ns="${1-}" releases release helm_ok=1
  if ! teardown_preview_pr "$ns"; then
    printf 'ERROR: teardown_namespace: NS must be a preview namespace (impl-pr-<N> or impl-<owner>-<repo>-<hash>-pr-<N>)\n' >&2
    return 2
  fi
  if releases=$(helm list --namespace "$ns" --short); then
    while IFS= read -r release; do
      [[ -n $release ]] || continue
      helm uninstall "$release" --namespace "$ns" --ignore-not-found --timeout 2m >/dev/null || helm_ok=0
    done <<<"$releases"
  else
    helm_ok=0
  fi
  kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null || return 2
  ((helm_ok)) || return 1
  return 0
}

teardown_deactivate() {
  local repository="${1-}" id="${2-}" description="${3-}" owner repo token log_url=""
  [[ -n $repository && -n $id ]] || return 0
  if ! [[ $repository =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$ && $id =~ ^[1-9][0-9]{0,18}$ ]]; then
    printf 'teardown: malformed deployment annotations (%s, %s); the deployment is left alone\n' "$repository" "$id" >&2
    return 1
  fi
  owner=${repository%%/*} repo=${repository#*/}
  token=${_teardown_tokens[$repository]-}
  if [[ -z $token ]]; then
    token=$(github_installation_token "$owner" "$repo" '{"deployments":"write"}') || return 1
    _teardown_tokens[$repository]=$token
  fi
  if [[ -n ${ARGO_UI_URL-} && -n ${WORKFLOWS_NAMESPACE-} && -n ${WORKFLOW_NAME-} ]]; then
    log_url="${ARGO_UI_URL%/}/workflows/${WORKFLOWS_NAMESPACE}/${WORKFLOW_NAME}"
  fi
  GITHUB_TOKEN=$token deployment_status "$owner" "$repo" "$id" inactive "" "$log_url" "$description"
}

teardown_pipeline_runs() { # WORKFLOWS_NAMESPACE TEMPLATE
  local ns="${1-}" template="${2-}" listing
  listing=$(kubectl get workflows -n "$ns" -l 'workflows.argoproj.io/completed!=true' -o json) || return 1
  # shellcheck disable=SC2016 # a jq program: $t is jq's
  jq -r --arg t "$template" '.items[]
    | select(((.spec.workflowTemplateRef // {}) as $ref | $ref.name == $t and ($ref.clusterScope // false) == false)
        or (.metadata.labels // {})["workflows.argoproj.io/workflow-template"] == $t)
    | .metadata.name' <<<"$listing" | sort
}
