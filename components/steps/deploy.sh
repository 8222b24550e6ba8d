#!/usr/bin/env bash
# deploy: turns a PR into a running preview environment and writes where it lives.
#   1. resolves the commit (the PR head when COMMIT is empty) with a read-only GitHub App
#      installation token. The image: its tag is IMAGE_TAG when given (pulled Always: a tag someone
#      gave may be pushed again), else IMAGE_TAG_PATTERN applied to the commit (pulled IfNotPresent:
#      it names one build); then deploy waits, bounded by BUILD_TIMEOUT_SECONDS, until the commit's
#      build (BUILD_KIND, BUILD_NAME) succeeded (lib/image.sh): a failed or missing build fails
#      deploy. Then it fetches OWNER/REPO at the commit; takes the chart from that checkout, or
#      pulls it when CHART_PATH is an oci:// reference; finds VALUES_FILE in the checkout's root,
#      else in the chart's directory. Then checks the chart against the chart contract
#      (docs/chart-contract.md, lib/chart-contract.sh) with the overrides helm gets below, and stops
#      with what to change when it fails. Nothing in the cluster changes before all of that succeeded.
#   2. in namespace NS: the Namespace (created labelled implementation-dag/instance=PREVIEW_INSTANCE;
#      reused when it carries preview=true and this instance's label; adopted, i.e. given the label,
#      when it carries preview=true, no instance label and this repository's
#      implementation-dag/repository annotation, as previews made before the label existed do;
#      refused otherwise: another instance's, or a namespace that is no preview), the RoleBindings
#      GUARDRAILS_CLUSTER_ROLE and DEPLOYER_CLUSTER_ROLE (each named as the ClusterRole it binds),
#      the guardrails (ResourceQuota, LimitRange, NetworkPolicies) from GUARDRAILS_DIR, and the
#      ServiceAccount preview-deployer, in that order.
#      Then the preview on the PR: a GitHub deployment of the commit in environment
#      <ENVIRONMENT_PREFIX><PR> (transient, not production, no required contexts, auto_merge false)
#      with status in_progress, its id and the preview URL recorded on the namespace (annotations
#      implementation-dag/deployment and implementation-dag/environment-url) for cleanup, the
#      sweeper and preview-teardown to update. A GitHub failure there is a WARNING, never a failed
#      deploy (the annotation is then emptied, so no later step updates an older run's deployment).
#      The same annotate records HOST as implementation-dag/host: the admission fence lets the
#      chart's Ingresses serve only that host or names under it.
#   3. `helm upgrade --install` (setting image.tag, image.pullPolicy and ingress.host) with a
#      short-lived token of preview-deployer, so the chart works inside the guardrails and cannot
#      rewrite them. helm reads the token from a kubeconfig file of this step's scratch directory
#      (mode 0600, removed once helm is done), never from its
#      arguments, which every process of the pod can read in /proc/<pid>/cmdline. A release left
#      pending-install, pending-upgrade or pending-rollback by a killed step (the per-PR mutex
#      means no other run is at it) is first rolled back to its last deployed revision, or
#      uninstalled when it never deployed; evidence/recovery.json records what was found and done.
#      On failure: evidence (helm status and history, events, describe and last logs of pods that
#      are not ready) before exiting 1.
#   4. marks the namespace with the deployed commit and this workflow, and discovers the URLs from
#      the namespace's Ingresses: only hosts equal to HOST or under it (the others are warnings).
#
# Env (each validated before anything is fetched or changed; every bad one is reported; OWNER, REPO,
# PR, COMMIT, IMAGE_TAG, CHART_PATH and VALUES_FILE by the rules set-params applied to them,
# lib/parameter-rules.sh generated from components/parameters.ts):
#   OWNER, REPO, PR           the PR's coordinates (GitHub owner, repository, PR number)
#   COMMIT                    empty (the PR head) or 7-40 hex digits; deployed as its full SHA
#   NS                        the preview namespace (set-params' ns): impl-pr-<PR>, or
#                             impl-<owner>-<repo>-<hash>-pr-<PR>
#   RELEASE                   the Helm release: a DNS-1123 label of at most 53 ending in -pr-<PR>
#   HOST                      the preview host (set-params' host), a lowercase DNS name
#   IMAGE_TAG                 empty (the tag is derived from the commit by IMAGE_TAG_PATTERN) or the
#                             image tag deployed, pulled Always (a valid image tag)
#   IMAGE_TAG_PATTERN         the tag of a commit: letters, digits, '_', '.', '-' with at least one
#                             of {sha}, {sha12}, {sha7} (lib/image.sh is_image_tag_pattern)
#   BUILD_KIND                what the commit's build reports: check-run, status or none (no wait)
#   BUILD_NAME                the check run's name or the status's context (letters, digits, ' ',
#                             '.', '_', '/', ':', '(', ')', '+', '-', at most 100)
#   BUILD_TIMEOUT_SECONDS     how long to wait for a successful build: an integer 1-86400
#   BUILD_POLL_SECONDS        seconds between two looks: an integer 1-300, at most the timeout
#   INGRESS_CLASS             the IngressClass given to the chart as ingress.className (an object name)
#   CHART_PATH                a relative path in the repository without '.'/'..' segments, or an
#                             oci:// reference (a trailing :<version> pins the chart version)
#   VALUES_FILE               a relative path without '.'/'..' segments
#   WORKFLOW_NAME             the workflow's name: a DNS-1123 label (it becomes a label value)
#   HELM_TIMEOUT              helm's --timeout: a Go duration of h/m/s such as 5m
#   TOKEN_DURATION            lifetime of preview-deployer's token: <n>s|m|h, at least 10m
#   WORKFLOWS_NAMESPACE       namespace of the workflows and their service accounts (DNS label)
#   STEPS_SERVICE_ACCOUNT     service account of the steps (DNS label)
#   SWEEPER_SERVICE_ACCOUNT   service account of the TTL sweeper (DNS label)
#   PREVIEW_INSTANCE          this stack's instance (its workflows namespace), the value of the label
#                             implementation-dag/instance on its previews (DNS label)
#   DEPLOYER_CLUSTER_ROLE     this stack's ClusterRole bound to preview-deployer, the steps and the
#                             sweeper in NS (a Kubernetes object name)
#   GUARDRAILS_CLUSTER_ROLE   this stack's ClusterRole bound to the steps in NS (a Kubernetes object
#                             name, not DEPLOYER_CLUSTER_ROLE)
#   GUARDRAILS_DIR            directory holding resourcequota.yaml, limitrange.yaml, networkpolicy.yaml
#   GITHUB_WEB_URL            GitHub's web URL the repository is fetched from (http(s), no path tricks)
#   ENVIRONMENT_PREFIX        prefix of the GitHub deployment environment: lowercase letters, digits, '-'
#   ARGO_UI_URL               empty or the Argo UI's base URL (the deployment's log_url)
#   GITHUB_API_URL, GITHUB_APP_ID, GITHUB_INSTALLATION_ID, GITHUB_APP_PRIVATE_KEY_FILE
#                             the GitHub App, read and validated by lib/github.sh
#   OUTPUT_DIR                absolute directory the outputs are written to
#   TMPDIR                    scratch space for the checkout and helm's kubeconfig (default /tmp)
#   KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT
#                             the API server, as every pod gets them (default kubernetes.default.svc
#                             and 443); helm's kubeconfig points there with the pod's CA
#
# Writes in OUTPUT_DIR: commit (the full 40-hex SHA deployed), urls.json (see lib/discovery.sh),
# evidence/ (chart-contract.txt: the chart contract's failures, empty when it passed; helm-upgrade.log; recovery.json after recovering a pending release; on failure
# helm-status.txt, helm-history.txt, events.txt, pods.json, pod-<name>.describe.txt, pod-<name>.log).
set -euo pipefail
export LC_ALL=C

declare owner repo pr commit ns release host image_tag ingress_class chart_path values_file \
  workflow_name helm_timeout token_duration workflows_namespace steps_sa sweeper_sa instance \
  deployer_role guardrails_role guardrails_dir github_web_url environment_prefix argo_ui_url \
  output_dir
input owner OWNER
input repo REPO
input pr PR
input commit COMMIT
input ns NS
input release RELEASE
input host HOST
input image_tag IMAGE_TAG
input ingress_class INGRESS_CLASS
input chart_path CHART_PATH
input values_file VALUES_FILE
input workflow_name WORKFLOW_NAME
input helm_timeout HELM_TIMEOUT
input token_duration TOKEN_DURATION
input workflows_namespace WORKFLOWS_NAMESPACE
input steps_sa STEPS_SERVICE_ACCOUNT
input sweeper_sa SWEEPER_SERVICE_ACCOUNT
input instance PREVIEW_INSTANCE
input deployer_role DEPLOYER_CLUSTER_ROLE
input guardrails_role GUARDRAILS_CLUSTER_ROLE
input guardrails_dir GUARDRAILS_DIR
input github_web_url GITHUB_WEB_URL
input environment_prefix ENVIRONMENT_PREFIX
input argo_ui_url ARGO_UI_URL
input output_dir OUTPUT_DIR
# The image and its build: the tag deployed is the commit's, and so is the build waited for.
declare image_tag_pattern build_kind build_name build_timeout build_poll
input image_tag_pattern IMAGE_TAG_PATTERN
input build_kind BUILD_KIND
input build_name BUILD_NAME
input build_timeout BUILD_TIMEOUT_SECONDS
input build_poll BUILD_POLL_SECONDS
is_image_tag_pattern "$image_tag_pattern" || bad IMAGE_TAG_PATTERN "$RULE_IMAGE_TAG_PATTERN"
[[ $build_kind =~ ^(check-run|status|none)$ ]] || bad BUILD_KIND "must be check-run, status or none"
if ! [[ $build_name =~ ^[A-Za-z0-9][A-Za-z0-9\ ._/:()+-]{0,99}$ ]]; then
  bad BUILD_NAME "must be a check run name or status context: letters, digits, ' ', '.', '_', '/', ':', '(', ')', '+', '-', at most 100, starting with a letter or digit"
fi
if ! [[ $build_timeout =~ ^[1-9][0-9]{0,4}$ ]] || ((build_timeout > 86400)); then
  bad BUILD_TIMEOUT_SECONDS "must be an integer from 1 to 86400"
elif ! [[ $build_poll =~ ^[1-9][0-9]{0,2}$ ]] || ((build_poll > 300 || build_poll > build_timeout)); then
  bad BUILD_POLL_SECONDS "must be an integer from 1 to 300, at most BUILD_TIMEOUT_SECONDS"
fi

if ! is_preview_namespace "$ns" "$pr"; then
  bad ns "$(rule_preview_namespace "$pr")"
fi
if ! is_dns_label "$release" || ((${#release} > 53)) || [[ $release != *"-pr-$pr" ]]; then
  bad release "must be a DNS-1123 label of at most 53 characters ending in -pr-<pr>"
fi
# The host's first label is the namespace's id (checked when the namespace itself is valid).
if ! is_dns_name "$host" || { is_preview_namespace "$ns" "$pr" && [[ $host != "${ns#impl-}."* ]]; }; then
  bad host "must be the preview's host <id>.<domain> (the namespace impl-<id> gives the id), a lowercase DNS name"
fi
# The parameters set-params passed on (owner, repo, pr, commit, image_tag, chartPath, valuesFile), by
# the rules set-params applied to them (lib/parameter-rules.sh, from components/parameters.ts).
declare parameter_value
for name in "${PARAMETERS_DEPLOY[@]}"; do
  input parameter_value "${PARAMETER_ENV[$name]}"
  parameter_problem "$name" "$parameter_value"
  [[ -z $PARAMETER_PROBLEM ]] || bad "${PARAMETER_OUTPUT[$name]}" "$PARAMETER_PROBLEM"
done
is_object_name "$ingress_class" || bad INGRESS_CLASS "must be an IngressClass name (a DNS-1123 subdomain)"
if ! is_dns_label "$workflow_name"; then
  bad WORKFLOW_NAME "must be a DNS-1123 label of at most 63 characters (it becomes a label value)"
fi
if ! [[ $helm_timeout =~ ^([0-9]+h)?([0-9]+m)?([0-9]+s)?$ ]] || [[ -z $helm_timeout ]]; then
  bad HELM_TIMEOUT "must be a duration such as 5m, 90s or 1h30m"
fi
# The API server refuses service-account tokens shorter than 10 minutes.
token_seconds=0
if [[ $token_duration =~ ^([1-9][0-9]{0,5})(s|m|h)$ ]]; then
  case "${BASH_REMATCH[2]}" in
    s) token_seconds=${BASH_REMATCH[1]} ;;
    m) token_seconds=$((BASH_REMATCH[1] * 60)) ;;
    h) token_seconds=$((BASH_REMATCH[1] * 3600)) ;;
  esac
fi
if ((token_seconds < 600)); then
  bad TOKEN_DURATION "must be a duration of at least 10 minutes: <n>s, <n>m or <n>h"
fi
for pair in "WORKFLOWS_NAMESPACE:$workflows_namespace" "STEPS_SERVICE_ACCOUNT:$steps_sa" "SWEEPER_SERVICE_ACCOUNT:$sweeper_sa" \
  "PREVIEW_INSTANCE:$instance"; do
  is_dns_label "${pair#*:}" || bad "${pair%%:*}" "$RULE_DNS_LABEL"
done
is_object_name "$deployer_role" || bad DEPLOYER_CLUSTER_ROLE "must be a ClusterRole's name (a DNS-1123 subdomain)"
if ! is_object_name "$guardrails_role"; then
  bad GUARDRAILS_CLUSTER_ROLE "must be a ClusterRole's name (a DNS-1123 subdomain)"
elif [[ $guardrails_role == "$deployer_role" ]]; then
  bad GUARDRAILS_CLUSTER_ROLE "must not be DEPLOYER_CLUSTER_ROLE"
fi
if [[ $guardrails_dir != /* ]]; then
  bad GUARDRAILS_DIR "must be an absolute directory path"
else
  for file in resourcequota.yaml limitrange.yaml networkpolicy.yaml; do
    if [[ ! -f $guardrails_dir/$file || ! -r $guardrails_dir/$file ]]; then
      bad GUARDRAILS_DIR "must hold a readable $file (the ConfigMap implementation-dag-guardrails)"
    fi
  done
fi
if ! [[ $github_web_url =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?$ ]]; then
  bad GITHUB_WEB_URL "must be an http(s) URL of GitHub (a host and an optional plain path)"
fi
if ! [[ $environment_prefix =~ ^[a-z0-9-]{0,200}$ ]]; then
  bad ENVIRONMENT_PREFIX "must be lowercase letters, digits and '-'"
fi
is_url_or_empty "$argo_ui_url" || bad ARGO_UI_URL "$RULE_URL_OR_EMPTY"
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi
stop_on_bad_inputs

commit=${commit,,}
github_web_url=${github_web_url%/}
evidence="$output_dir/evidence"
mkdir -p "$output_dir" "$evidence"
work=$(mktemp -d "${TMPDIR:-/tmp}/deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- 1. the commit, the checkout, the chart and the values (nothing in the cluster yet) ----

echo "deploy: $owner/$repo#$pr into namespace $ns as release $release"
# The token stays a shell variable (lib/github.sh reads it); no tool gets it in its environment.
unset GITHUB_TOKEN
# Read-only, and only what this run reads: the build's checks or statuses besides the code and the PR.
read_permissions='{"contents":"read","pull_requests":"read"}'
case "$build_kind" in
  check-run) read_permissions='{"contents":"read","pull_requests":"read","checks":"read"}' ;;
  status) read_permissions='{"contents":"read","pull_requests":"read","statuses":"read"}' ;;
esac
if ! GITHUB_TOKEN=$(github_installation_token "$owner" "$repo" "$read_permissions"); then
  die github "no read-only installation token for $owner/$repo"
fi

if [[ -z $commit ]]; then
  github_request GET "/repos/$owner/$repo/pulls/$pr" >"$work/pull.json" ||
    die pr "cannot read pull request #$pr of $owner/$repo"
  sha=$(jq -r 'if (.head.sha | type) == "string" then .head.sha else "" end' "$work/pull.json")
  what="the head of PR #$pr"
elif ((${#commit} < 40)); then
  github_request GET "/repos/$owner/$repo/commits/$commit" >"$work/commit.json" ||
    die commit "no commit $commit in $owner/$repo"
  sha=$(jq -r 'if (.sha | type) == "string" then .sha else "" end' "$work/commit.json")
  what="commit $commit"
else
  sha=$commit
  what="commit $commit"
fi
if ! [[ $sha =~ ^[0-9a-f]{40}$ ]]; then
  die commit "GitHub named no full commit SHA for $what of $owner/$repo"
fi
echo "commit: $sha ($what)"

# The image of this commit: a rerun on a new commit renders a new pod template, so it rolls out.
if [[ -n $image_tag ]]; then
  pull_policy=Always
  echo "image tag: $image_tag (given; pulled Always)"
else
  image_tag=$(image_tag_for_commit "$image_tag_pattern" "$sha")
  pull_policy=IfNotPresent
  echo "image tag: $image_tag (of commit $sha by $image_tag_pattern; pulled IfNotPresent)"
fi
# The build of this commit must have succeeded before the chart asks for its image.
if [[ $build_kind != none ]]; then
  build_wait "$owner" "$repo" "$sha" "$build_kind" "$build_name" "$build_timeout" "$build_poll" || exit 1
fi

# The token reaches git through its environment only: never in argv, never in .git/config.
checkout="$work/checkout"
declare basic
github_git_credentials basic "$GITHUB_TOKEN" || exit 1
git -c init.defaultBranch=preview init --quiet "$checkout"
if ! GIT_TERMINAL_PROMPT=0 GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader \
  GIT_CONFIG_VALUE_0="Authorization: Basic $basic" \
  git -C "$checkout" fetch --quiet --depth 1 --no-tags "$github_web_url/$owner/$repo.git" "$sha"; then
  die commit "cannot fetch $sha from $owner/$repo"
fi
unset basic GITHUB_TOKEN
git -C "$checkout" checkout --quiet --detach FETCH_HEAD || die commit "cannot check out $sha"
head=$(git -C "$checkout" rev-parse HEAD) || die commit "cannot read the checkout's commit"
if [[ $head != "$sha" ]]; then
  die commit "the checkout is at $head, not at $sha"
fi

# A path inside the checkout (or the pulled chart) must stay there even through symlinks.
inside() { # PATH DIR
  local real base
  real=$(readlink -f "$1") || return 1
  base=$(readlink -f "$2") || return 1
  [[ $real == "$base" || $real == "$base"/* ]]
}

if [[ $chart_path == oci://* ]]; then
  reference=$chart_path
  version=()
  last=${reference##*/}
  if [[ $last == *:* ]]; then
    version=(--version "${last##*:}")
    reference=${reference%:*}
  fi
  mkdir -p "$work/pulled"
  helm pull "$reference" "${version[@]}" --destination "$work/pulled" --untar || die chartPath "cannot pull $chart_path"
  charts=()
  for dir in "$work/pulled"/*/; do
    [[ -f $dir/Chart.yaml ]] && charts+=("${dir%/}")
  done
  if ((${#charts[@]} != 1)); then
    die chartPath "$chart_path did not unpack into exactly one chart"
  fi
  chart_dir=${charts[0]}
else
  chart_dir="$checkout/$chart_path"
  if [[ ! -f $chart_dir/Chart.yaml ]] || ! inside "$chart_dir" "$checkout"; then
    die chartPath "$chart_path is not a chart directory (with Chart.yaml) in $owner/$repo at $sha"
  fi
fi
# helm follows symlinks when it loads a chart: a link out of the repository would let a PR's chart
# read this pod's files (its service-account token, the app's private key) into the preview.
chart_root=$checkout
[[ $chart_path != oci://* ]] || chart_root="$work/pulled"
while IFS= read -r link; do
  [[ -n $link ]] || continue
  if ! inside "$link" "$chart_root"; then
    die chartPath "$chart_path holds a symlink that leads out of the repository (${link#"$chart_dir"/}); refusing it"
  fi
done <<<"$(find "$chart_dir/" -type l)"
if [[ -f $checkout/$values_file ]] && inside "$checkout/$values_file" "$checkout"; then
  values="$checkout/$values_file"
elif [[ -f $chart_dir/$values_file ]] && inside "$chart_dir/$values_file" "$chart_dir"; then
  values="$chart_dir/$values_file"
else
  die valuesFile "$values_file is neither in the root of $owner/$repo at $sha nor in the chart's directory"
fi
echo "chart: $chart_path; values: $values_file"
# The chart contract, with the overrides helm gets below (image.pullPolicy: not passed yet, so not checked).
chart_contract_gate "$chart_dir" "$values" "$release" "$ns" "$host" "$image_tag" "$pull_policy" "$ingress_class" "$guardrails_dir" "$evidence"

# ---- 2. the namespace and its guardrails ----

# The preview's owner, as its namespace records it: GitHub names are case-insensitive.
repository=${owner,,}/${repo,,}
if ! ns_json=$(kubectl get namespace "$ns" -o json --ignore-not-found); then
  die ns "cannot read namespace $ns"
fi
# A new namespace gets its RoleBindings created (the steps may only create them there), and so does
# an adopted one (its older bindings name ClusterRoles of another name); a reused one of this
# instance already binds the steps as deployer, which lets them reconcile the bindings with apply.
if [[ -z $ns_json ]]; then
  binding_verb=create
  jq -n --arg ns "$ns" --arg pr "$pr" --arg workflow "$workflow_name" --arg repository "$repository" --arg instance "$instance" '{
    apiVersion: "v1", kind: "Namespace",
    metadata: {
      name: $ns,
      labels: {
        preview: "true", pr: $pr, workflow: $workflow,
        "implementation-dag/instance": $instance,
        "app.kubernetes.io/managed-by": "implementation-dag",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted"
      },
      annotations: {"implementation-dag/repository": $repository}
    }
  }' | kubectl create -f - || die ns "cannot create namespace $ns"
else
  # One reading of the namespace's preview label, phase and instance (each field after an '=', so an
  # empty one keeps its place; none of them can hold a tab, a newline or a backslash, which @tsv
  # would escape). The recorded repository, an annotation that could, is read as it is written.
  fields=$(jq -r '[ (.metadata.labels.preview // ""), (.status.phase // ""),
      (if (.metadata.labels | type) == "object" and (.metadata.labels | has("implementation-dag/instance"))
        then .metadata.labels["implementation-dag/instance"] else "<none>" end)
    ] | map("=" + tostring) | @tsv' <<<"$ns_json") || die ns "cannot read namespace $ns"
  IFS=$'\t' read -r preview_label phase owner_instance <<<"$fields"
  preview_label=${preview_label#=} phase=${phase#=} owner_instance=${owner_instance#=}
  previous=$(jq -r '.metadata.annotations["implementation-dag/repository"] // ""' <<<"$ns_json")
  if [[ $preview_label != true ]]; then
    die ns "namespace $ns exists and is not a preview (no label preview=true); refusing to touch it"
  fi
  if [[ $phase == Terminating ]]; then
    die ns "namespace $ns is being deleted; run again once it is gone"
  fi
  if [[ -n $previous && ${previous,,} != "$repository" ]]; then
    die ns "namespace $ns holds the preview of $previous, not of $owner/$repo; refusing to replace it"
  fi
  # Another stack's preview of the same name is not ours, whatever repository it records.
  if [[ $owner_instance == "<none>" ]]; then
    # Made before previews carried the label: adopted only when it records this very repository.
    if [[ -z $previous ]]; then
      die ns "namespace $ns has no implementation-dag/instance label and records no repository; refusing to adopt it"
    fi
    echo "namespace $ns is a preview of $owner/$repo without an instance label: adopting it into instance $instance"
    binding_verb=create
  elif [[ $owner_instance != "$instance" ]]; then
    die ns "namespace $ns belongs to the implementation-dag instance '$owner_instance', not to $instance; refusing to touch it"
  else
    echo "namespace $ns exists as a preview: reusing it"
    binding_verb=apply
  fi
  kubectl label namespace "$ns" --overwrite "workflow=$workflow_name" "implementation-dag/instance=$instance" \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/audit=restricted \
    pod-security.kubernetes.io/warn=restricted || die ns "cannot label namespace $ns"
  if [[ -z $previous ]]; then
    kubectl annotate namespace "$ns" "implementation-dag/repository=$repository" ||
      die ns "cannot annotate namespace $ns"
  fi
fi

# ---- the preview on the PR: a GitHub deployment of this commit, in progress ----

environment="${environment_prefix}${pr}"
environment_url="https://${host}/"
log_url=""
[[ -z $argo_ui_url ]] || log_url="${argo_ui_url%/}/workflows/${workflows_namespace}/${workflow_name}"
deployment_id=""
if GITHUB_TOKEN=$(github_installation_token "$owner" "$repo" '{"deployments":"write"}'); then
  if deployment_id=$(deployment_create "$owner" "$repo" "$sha" "$environment" "$workflow_name"); then
    if deployment_status "$owner" "$repo" "$deployment_id" in_progress "" "$log_url" "Deploying ${sha:0:12}"; then
      echo "deployment $deployment_id of $owner/$repo in $environment: in_progress"
    else
      echo "WARNING: github: deployment $deployment_id: status in_progress not recorded; deploy goes on" >&2
    fi
  else
    deployment_id=""
    echo "WARNING: github: no deployment recorded for $owner/$repo@$sha in $environment; deploy goes on without one" >&2
  fi
else
  echo "WARNING: github: no deployments:write token for $owner/$repo; deploy goes on without a deployment on the PR" >&2
fi
unset GITHUB_TOKEN
# Recorded even when empty: a reused namespace must not keep an older run's deployment.
kubectl annotate namespace "$ns" --overwrite "implementation-dag/deployment=$deployment_id" \
  "implementation-dag/environment-url=$environment_url" "implementation-dag/host=$host" >/dev/null ||
  die ns "cannot annotate namespace $ns"

# A RoleBinding in the preview namespace to one of this stack's ClusterRoles, named as the role.
role_binding() { # CLUSTER_ROLE SUBJECTS_JSON
  jq -n --arg name "$1" --arg ns "$ns" --argjson subjects "$2" '{
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
    metadata: {name: $name, namespace: $ns, labels: {"app.kubernetes.io/managed-by": "implementation-dag"}},
    roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: $name},
    subjects: $subjects
  }' | kubectl "$binding_verb" -n "$ns" -f - || die ns "cannot bind $1 in $ns"
}
# Sets VAR to a ServiceAccount subject as JSON. NAME and NAMESPACE are DNS labels (checked above),
# which need no escaping.
sa_subject() { # VAR NAME NAMESPACE
  printf -v "$1" '{"kind":"ServiceAccount","name":"%s","namespace":"%s"}' "$2" "$3"
}
declare steps_subject deployer_subject sweeper_subject
sa_subject steps_subject "$steps_sa" "$workflows_namespace"
sa_subject deployer_subject preview-deployer "$ns"
sa_subject sweeper_subject "$sweeper_sa" "$workflows_namespace"
role_binding "$guardrails_role" "[$steps_subject]"
role_binding "$deployer_role" "[$deployer_subject,$steps_subject,$sweeper_subject]"

kubectl apply -n "$ns" -f "$guardrails_dir" || die GUARDRAILS_DIR "cannot apply the guardrails to $ns"

jq -n --arg ns "$ns" '{
  apiVersion: "v1", kind: "ServiceAccount",
  metadata: {name: "preview-deployer", namespace: $ns, labels: {"app.kubernetes.io/managed-by": "implementation-dag"}},
  automountServiceAccountToken: false
}' | kubectl apply -n "$ns" -f - || die ns "cannot create the service account preview-deployer in $ns"

# ---- 3. the chart, as preview-deployer ----

if ! kube_token=$(kubectl create token preview-deployer -n "$ns" --duration="$token_duration") ||
  ! [[ $kube_token =~ ^[A-Za-z0-9._-]+$ ]]; then
  die ns "cannot create a token of preview-deployer in $ns"
fi
# helm gets the token in a kubeconfig only this step can read: an argument would show in
# /proc/<pid>/cmdline to every process of the pod.
api_host=${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}
api_port=${KUBERNETES_SERVICE_PORT:-443}
if ! [[ $api_host =~ ^[A-Za-z0-9.:-]+$ && $api_port =~ ^[0-9]{1,5}$ ]]; then
  die KUBERNETES_SERVICE_HOST "the API server's address ($api_host:$api_port) is not a host and a port"
fi
[[ $api_host != *:* ]] || api_host="[$api_host]"
kubeconfig="$work/kubeconfig"
(
  umask 077
  printf '%s\n' "apiVersion: v1" "kind: Config" "clusters:" "- name: in-cluster" "  cluster:" \
    "    server: https://$api_host:$api_port" \
    "    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt" \
    "users:" "- name: preview-deployer" "  user:" "    token: $kube_token" \
    "contexts:" "- name: preview-deployer" "  context:" "    cluster: in-cluster" "    user: preview-deployer" \
    "    namespace: $ns" "current-context: preview-deployer" >"$kubeconfig"
) || die ns "cannot write helm's kubeconfig"
chmod 600 "$kubeconfig" || die ns "cannot make helm's kubeconfig private"
unset kube_token

# Everything that can explain a failed release, for the step's evidence artifact and its log.
collect_evidence() {
  local pods pod
  echo "collecting evidence into $evidence" >&2
  helm status "$release" -n "$ns" >"$evidence/helm-status.txt" 2>&1 || true
  helm history "$release" -n "$ns" >"$evidence/helm-history.txt" 2>&1 || true
  kubectl get events -n "$ns" --sort-by=.lastTimestamp >"$evidence/events.txt" 2>&1 || true
  if kubectl get pods -n "$ns" -o json >"$evidence/pods.json" 2>"$evidence/pods.err"; then
    rm -f "$evidence/pods.err"
    pods=$(jq -r '.items[]
      | select(.status.phase != "Succeeded")
      | select(any((.status.conditions // [])[]; .type == "Ready" and .status == "True") | not)
      | .metadata.name' "$evidence/pods.json" 2>/dev/null) || pods=""
    while IFS= read -r pod; do
      [[ $pod =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]] || continue
      kubectl describe pod "$pod" -n "$ns" >"$evidence/pod-$pod.describe.txt" 2>&1 || true
      kubectl logs "$pod" -n "$ns" --all-containers --prefix --tail=200 >"$evidence/pod-$pod.log" 2>&1 || true
      if jq -e --arg pod "$pod" 'any(.items[] | select(.metadata.name == $pod) | (.status.containerStatuses // [])[]; .restartCount > 0)' \
        "$evidence/pods.json" >/dev/null 2>&1; then
        kubectl logs "$pod" -n "$ns" --all-containers --prefix --previous --tail=200 >"$evidence/pod-$pod.previous.log" 2>&1 || true
      fi
    done <<<"$pods"
  fi
  # A runner that keeps no artifacts still keeps the log.
  for file in helm-status.txt events.txt; do
    [[ -f $evidence/$file ]] || continue
    printf -- '--- %s\n' "$file" >&2
    head -n 60 "$evidence/$file" >&2
  done
}

# A release left pending by a killed step blocks every later upgrade ("another operation is in
# progress"). The per-PR mutex means no other run is at it: roll back to the last deployed
# revision, or uninstall a release that never deployed, and record it.
if ! pending=$(helm list -n "$ns" --kubeconfig "$kubeconfig" --pending --filter "^${release}\$" -o json); then
  die helm "cannot list the releases of $ns"
fi
pending_status=$(jq -r --arg release "$release" '[.[]? | select(.name == $release)] | first | .status // ""' <<<"$pending" 2>/dev/null) ||
  die helm "helm list printed no JSON list of releases"
case "$pending_status" in
  "") ;;
  pending-install | pending-upgrade | pending-rollback)
    history=$(helm history "$release" -n "$ns" --kubeconfig "$kubeconfig" -o json) || die helm "cannot read the history of $release"
    revision=$(jq -r '([.[] | select(.status == "deployed")] | max_by(.revision) | .revision)
      // ([.[] | select(.status == "superseded")] | max_by(.revision) | .revision) // ""' <<<"$history" 2>/dev/null) ||
      die helm "helm history printed no JSON list of revisions"
    if [[ $revision =~ ^[1-9][0-9]*$ ]]; then
      action=rollback
      echo "release $release is $pending_status (a killed step left it): rolling back to revision $revision"
      helm rollback "$release" "$revision" -n "$ns" --kubeconfig "$kubeconfig" --timeout "$helm_timeout" ||
        die helm "rollback of $release to revision $revision failed"
    else
      action=uninstall
      revision=""
      echo "release $release is $pending_status and never deployed: uninstalling it"
      helm uninstall "$release" -n "$ns" --kubeconfig "$kubeconfig" --timeout "$helm_timeout" ||
        die helm "uninstall of the never-deployed $release failed"
    fi
    jq -n --arg release "$release" --arg found "$pending_status" --arg action "$action" --arg revision "$revision" \
      --argjson history "$history" '{release: $release, found: $found, action: $action,
        revision: (if $revision == "" then null else ($revision | tonumber) end), history: $history}' >"$evidence/recovery.json"
    ;;
  *) die helm "release $release is listed as pending with status '$pending_status'" ;;
esac

echo "helm upgrade --install $release (timeout $helm_timeout)"
if ! helm upgrade --install "$release" "$chart_dir" -n "$ns" --kubeconfig "$kubeconfig" \
  -f "$values" --set-string "image.tag=$image_tag" --set-string "image.pullPolicy=$pull_policy" --set-string "ingress.host=$host" \
  --set-string "ingress.className=$ingress_class" --wait --timeout "$helm_timeout" 2>&1 | tee "$evidence/helm-upgrade.log"; then
  rm -f "$kubeconfig"
  collect_evidence
  die helm "release $release did not become ready in $ns; evidence in $evidence"
fi
rm -f "$kubeconfig"

# ---- 4. what was deployed, and where ----

kubectl annotate namespace "$ns" --overwrite "implementation-dag/deployed-commit=$sha" \
  "implementation-dag/deployed-workflow=$workflow_name" || die ns "cannot annotate namespace $ns"
discover_urls "$ns" "$release" "$host" "$output_dir/urls.json" || exit 1
printf '%s' "$sha" >"$output_dir/commit"
echo "deployed $owner/$repo@$sha as $release in $ns"
