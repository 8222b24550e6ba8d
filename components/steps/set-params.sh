#!/usr/bin/env bash
# set-params: validates every workflow parameter and derives the names of the preview once.
# Later steps take these names from its outputs and never recompute them.
#
# Env (each validated; any violation prints every bad parameter and exits 1 before writing anything):
#   OWNER                  GitHub owner: letters, digits and single '-', not at either end, at most 39
#   REPO                   GitHub repository: letters, digits, '.', '-', '_', at most 100, not '.' or '..'
#   PR                     pull request number: positive integer, no leading zero, at most 9 digits
#   COMMIT                 empty (the PR head) or 7-40 hex digits
#   DOMAIN                 preview domain: a lowercase DNS name of at least two labels
#   CHART_PATH             a relative path without '..' segments, or an oci:// reference
#   VALUES_FILE            a relative path without '..' segments
#   IMAGE_TAG              empty (meaning pr-<PR>) or a valid image tag
#   MIN_SUCCESS_PCT        a percentage 0-100 (a fraction between 0 and 1 is ambiguous and refused)
#   MAX_P95_MS             a positive integer of milliseconds
#   REQUESTS_PER_ENDPOINT  an integer 1-10000
#   OUTPUT_DIR             directory the outputs are written to
#
# Writes, one value per file in OUTPUT_DIR: ns (impl-pr-<PR>), release (<repo>-pr-<PR>, a DNS-1123
# label of at most 53), host (pr-<PR>.<DOMAIN>), domain, image_tag, commit (lowercased, or empty);
# and the validated values later tasks take instead of the raw parameters: owner, repo, pr,
# chartPath, valuesFile, min_success_pct, max_p95_ms, requests_per_endpoint.
set -euo pipefail
export LC_ALL=C

owner=$(value OWNER)
repo=$(value REPO)
pr=$(value PR)
commit=$(value COMMIT)
domain=$(value DOMAIN)
chart_path=$(value CHART_PATH)
values_file=$(value VALUES_FILE)
image_tag=$(value IMAGE_TAG)
min_success_pct=$(value MIN_SUCCESS_PCT)
max_p95_ms=$(value MAX_P95_MS)
requests_per_endpoint=$(value REQUESTS_PER_ENDPOINT)
output_dir=$(value OUTPUT_DIR)

is_github_owner "$owner" || bad owner "$RULE_OWNER"
is_github_repo "$repo" || bad repo "$RULE_REPO"
is_pr_number "$pr" || bad pr "$RULE_PR"
if ! [[ $commit =~ ^([0-9a-fA-F]{7,40})?$ ]]; then
  bad commit "must be empty (the PR head) or 7 to 40 hexadecimal digits"
fi
if ! is_dns_name "$domain" || ((${#domain} > 240)); then
  bad domain "must be a lowercase DNS name of at least two labels, at most 240 characters"
fi
if ! [[ $chart_path =~ ^oci://[A-Za-z0-9._/:-]+$ ]] && ! is_relative_path "$chart_path"; then
  bad chartPath "must be a relative path without '.' or '..' segments, or an oci:// reference"
fi
is_relative_path "$values_file" || bad valuesFile "$RULE_RELATIVE_PATH"
if ! [[ $image_tag =~ ^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$ ]]; then
  bad imageTag "must be empty (meaning pr-<pr>) or an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
fi
if ! [[ $min_success_pct =~ ^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)$ ]]; then
  bad min_success_pct "must be a percentage from 0 to 100"
elif [[ $min_success_pct =~ ^0\.[0-9]*[1-9] ]]; then
  bad min_success_pct "is a percentage (0-100); $min_success_pct between 0 and 1 is ambiguous: write the percentage (95 for 95%)"
fi
if ! [[ $max_p95_ms =~ ^[1-9][0-9]{0,6}$ ]]; then
  bad max_p95_ms "must be a positive integer of milliseconds (at most 7 digits)"
fi
if ! [[ $requests_per_endpoint =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$requests_per_endpoint > 10000)); then
  bad requests_per_endpoint "must be an integer from 1 to 10000"
fi
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi

stop_on_bad_inputs

# The naming rules (the same as components/names.ts).
ns="impl-pr-${pr}"
suffix="-pr-${pr}"
name=$(printf '%s' "$repo" | tr '[:upper:]' '[:lower:]')
name=${name//[^a-z0-9-]/-}
name=${name:0:$((53 - ${#suffix}))}
while [[ $name == -* ]]; do name=${name#-}; done
while [[ $name == *- ]]; do name=${name%-}; done
release="${name:-app}${suffix}"
host="pr-${pr}.${domain}"
tag=${image_tag:-pr-${pr}}
commit=$(printf '%s' "$commit" | tr '[:upper:]' '[:lower:]')

mkdir -p "$output_dir"
printf '%s' "$ns" >"$output_dir/ns"
printf '%s' "$release" >"$output_dir/release"
printf '%s' "$host" >"$output_dir/host"
printf '%s' "$domain" >"$output_dir/domain"
printf '%s' "$tag" >"$output_dir/image_tag"
printf '%s' "$commit" >"$output_dir/commit"
printf '%s' "$owner" >"$output_dir/owner"
printf '%s' "$repo" >"$output_dir/repo"
printf '%s' "$pr" >"$output_dir/pr"
printf '%s' "$chart_path" >"$output_dir/chartPath"
printf '%s' "$values_file" >"$output_dir/valuesFile"
printf '%s' "$min_success_pct" >"$output_dir/min_success_pct"
printf '%s' "$max_p95_ms" >"$output_dir/max_p95_ms"
printf '%s' "$requests_per_endpoint" >"$output_dir/requests_per_endpoint"

printf 'namespace: %s\nrelease:   %s\nhost:      %s\nimage tag: %s\ncommit:    %s\n' \
  "$ns" "$release" "$host" "$tag" "${commit:-<PR head>}"
