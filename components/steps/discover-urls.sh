#!/usr/bin/env bash
# discover-urls: after the DocsRun runner deployed the preview, writes what deploy's outputs carry:
# the commit it deployed and the preview's URLs. A resource step cannot return files, so this step
# reads them back from the cluster: the namespace's annotations (set by the deploy script once
# helm succeeded) and its Ingresses. A namespace this workflow did not deploy is an error, so a
# stale preview of an earlier run is never tested in place of this one.
#
# Env (each validated; any violation is reported and nothing is written):
#   PR             pull request number: positive integer, no leading zero, at most 9 digits
#   NS             the preview namespace of PR (set-params' ns; lib/rules.sh is_preview_namespace)
#   RELEASE        the Helm release: a DNS-1123 label of at most 53 characters
#   HOST           the preview host (set-params' host): a lowercase DNS name whose first label is
#                  NS's id; only Ingress hosts equal to it or under it become URLs
#   WORKFLOW_NAME  this workflow's name: a DNS-1123 label
#   OUTPUT_DIR     absolute directory the outputs are written to
#
# Writes in OUTPUT_DIR: commit (the full SHA deployed), urls.json (see lib/discovery.sh).
set -euo pipefail
export LC_ALL=C

declare pr ns release host workflow_name output_dir
input pr PR
input ns NS
input release RELEASE
input host HOST
input workflow_name WORKFLOW_NAME
input output_dir OUTPUT_DIR

is_pr_number "$pr" || bad pr "$RULE_PR"
if ! is_preview_namespace "$ns" "$pr"; then
  bad ns "$(rule_preview_namespace "$pr")"
fi
if ! is_dns_label "$release" || ((${#release} > 53)); then
  bad release "must be a DNS-1123 label of at most 53 characters"
fi
# The host's first label is the namespace's id (checked when the namespace itself is valid).
if ! is_dns_name "$host" || { is_preview_namespace "$ns" "$pr" && [[ $host != "${ns#impl-}."* ]]; }; then
  bad host "must be the preview's host <id>.<domain> (the namespace impl-<id> gives the id), a lowercase DNS name"
fi
is_dns_label "$workflow_name" || bad WORKFLOW_NAME "$RULE_DNS_LABEL"
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi
stop_on_bad_inputs

ns_json=$(kubectl get namespace "$ns" -o json) || die ns "cannot read namespace $ns"
deployed_by=$(jq -r '.metadata.annotations["implementation-dag/deployed-workflow"] // ""' <<<"$ns_json")
if [[ $deployed_by != "$workflow_name" ]]; then
  die ns "namespace $ns was not deployed by workflow $workflow_name (last deployed by: ${deployed_by:-nobody})"
fi
sha=$(jq -r '.metadata.annotations["implementation-dag/deployed-commit"] // ""' <<<"$ns_json")
if ! [[ $sha =~ ^[0-9a-f]{40}$ ]]; then
  die ns "namespace $ns carries no full commit SHA in implementation-dag/deployed-commit"
fi

mkdir -p "$output_dir"
discover_urls "$ns" "$release" "$host" "$output_dir/urls.json" || exit 1
printf '%s' "$sha" >"$output_dir/commit"
echo "deployed commit: $sha"
