#!/usr/bin/env bash
# set-params: validates every workflow parameter and derives the names of the preview once.
# Later steps take these names from its outputs and never recompute them.
#
# Env (each validated; any violation prints every bad parameter and exits 1 before writing anything;
# a value with white space at either end or a newline anywhere is refused, never trimmed):
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
#   What the agent template reads (each value is substituted into the agents' child Workflow
#   manifests as text, so none may hold a quote, a backslash, white space or a newline):
#   TASK_ID                empty (the PR number) or a positive integer, no leading zero, at most 9 digits
#   SERVICE                empty (the repository's name as a DNS label) or a DNS-1123 label
#   MODEL                  letters, digits, '.', '_', ':', '/', '-', at most 128, starting with a letter or digit
#   DOCS_REPOSITORY        empty (the PR's repository) or <owner>/<repo> by the owner and repo rules
#   DOCS_PROJECT_DIRECTORY '.' or a relative path without '.' or '..' segments
#   WORKING_DIRECTORY      '.' or a relative path without '.' or '..' segments
#   DOCS_BRANCH            a git branch name (no '..', '//', leading '-', trailing '/', '.' or '.lock')
#   CONTINUE_SESSION       true or false
#   OVERWRITE_MEMORY       true or false
#   TASK_REQUIREMENTS      empty or base64 (standard alphabet, padded), at most 65536 characters
#   GITHUB_WEB_URL         GitHub's web URL (stack config), the base of the repository URLs
#   NAMING                 the naming scheme (stack config): repository or pr-number (lib/names.sh)
#   OUTPUT_DIR             directory the outputs are written to
#
# Writes, one value per file in OUTPUT_DIR: ns (impl-<id>), release (<repo>-pr-<PR>, a DNS-1123
# label of at most 53), host (<id>.<DOMAIN>), mutex (implementation-dag-<id>), repository
# (<owner>/<repo> lowercased: the preview's owner, as annotated on its namespace), domain,
# image_tag, commit (lowercased, or empty), where <id> is lib/names.sh's preview_id of
# (NAMING, owner, repo, PR);
# and the validated values later tasks take instead of the raw parameters: owner, repo, pr,
# chartPath, valuesFile, min_success_pct, max_p95_ms, requests_per_endpoint; and, under the agent
# template's own names, task-id, service-id, repository-url (<GITHUB_WEB_URL>/<owner>/<repo>),
# docs-repository-url, docs-project-directory, working-directory, model, continue-session,
# overwrite-memory, docs-branch, task-requirements.
set -euo pipefail
export LC_ALL=C

RULE_REPO_DIRECTORY="must be '.' (the repository's root) or a relative path without '.' or '..' segments"
is_repo_directory() { [[ $1 == . ]] || is_relative_path "$1"; }

# Each parameter is read exactly as given: command substitution would drop trailing newlines, and
# nothing is trimmed. White space at either end, or a newline anywhere, is refused by the
# parameter's name (the mutex and the names must come from the value checked).
unpadded() { # PARAMETER VALUE
  if [[ $2 =~ ^[[:space:]] || $2 =~ [[:space:]]$ || $2 == *$'\n'* ]]; then
    bad "$1" "must not begin or end with white space or hold a newline (nothing is trimmed)"
  fi
}

owner=${OWNER-}
unpadded owner "$owner"
repo=${REPO-}
unpadded repo "$repo"
pr=${PR-}
unpadded pr "$pr"
commit=${COMMIT-}
unpadded commit "$commit"
domain=${DOMAIN-}
unpadded domain "$domain"
chart_path=${CHART_PATH-}
unpadded chartPath "$chart_path"
values_file=${VALUES_FILE-}
unpadded valuesFile "$values_file"
image_tag=${IMAGE_TAG-}
unpadded imageTag "$image_tag"
min_success_pct=${MIN_SUCCESS_PCT-}
unpadded min_success_pct "$min_success_pct"
max_p95_ms=${MAX_P95_MS-}
unpadded max_p95_ms "$max_p95_ms"
requests_per_endpoint=${REQUESTS_PER_ENDPOINT-}
unpadded requests_per_endpoint "$requests_per_endpoint"
task_id=${TASK_ID-}
unpadded taskId "$task_id"
service=${SERVICE-}
unpadded service "$service"
model=${MODEL-}
unpadded model "$model"
docs_repository=${DOCS_REPOSITORY-}
unpadded docsRepository "$docs_repository"
docs_project_directory=${DOCS_PROJECT_DIRECTORY-}
unpadded docsProjectDirectory "$docs_project_directory"
working_directory=${WORKING_DIRECTORY-}
unpadded workingDirectory "$working_directory"
docs_branch=${DOCS_BRANCH-}
unpadded docsBranch "$docs_branch"
continue_session=${CONTINUE_SESSION-}
unpadded continueSession "$continue_session"
overwrite_memory=${OVERWRITE_MEMORY-}
unpadded overwriteMemory "$overwrite_memory"
task_requirements=${TASK_REQUIREMENTS-}
unpadded taskRequirements "$task_requirements"
github_web_url=$(value GITHUB_WEB_URL)
naming=$(value NAMING)
output_dir=$(value OUTPUT_DIR)

is_github_owner "$owner" || bad owner "$RULE_OWNER"
is_github_repo "$repo" || bad repo "$RULE_REPO"
is_pr_number "$pr" || bad pr "$RULE_PR"
if ! [[ $commit =~ ^([0-9a-fA-F]{7,40})?$ ]]; then
  bad commit "must be empty (the PR head) or 7 to 40 hexadecimal digits"
fi
if ! is_dns_name "$domain" || ((${#domain} > 194)); then
  bad domain "must be a lowercase DNS name of at least two labels, at most 194 characters"
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
if [[ -n $task_id ]] && ! is_pr_number "$task_id"; then
  bad taskId "must be empty (the PR number) or a positive integer without a leading zero, at most 9 digits"
fi
if [[ -n $service ]] && ! is_dns_label "$service"; then
  bad service "must be empty (the repository's name) or a DNS-1123 label: lowercase letters, digits, '-', at most 63"
fi
if ! [[ $model =~ ^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$ ]]; then
  bad model "must be a model name: letters, digits, '.', '_', ':', '/', '-', at most 128, starting with a letter or digit"
fi
if [[ -n $docs_repository ]]; then
  if ! [[ $docs_repository == */* ]] || ! is_github_owner "${docs_repository%%/*}" || ! is_github_repo "${docs_repository#*/}"; then
    bad docsRepository "must be empty (the PR's repository) or <owner>/<repo>"
  fi
fi
is_repo_directory "$docs_project_directory" || bad docsProjectDirectory "$RULE_REPO_DIRECTORY"
is_repo_directory "$working_directory" || bad workingDirectory "$RULE_REPO_DIRECTORY"
if ! [[ $docs_branch =~ ^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$ ]] || [[ $docs_branch == *..* || $docs_branch == *//* || $docs_branch == */ || $docs_branch == *. || $docs_branch == *.lock ]]; then
  bad docsBranch "must be a git branch name: letters, digits, '.', '_', '/', '-', without '..', '//', or a trailing '/', '.' or '.lock'"
fi
[[ $continue_session == true || $continue_session == false ]] || bad continueSession "must be true or false"
[[ $overwrite_memory == true || $overwrite_memory == false ]] || bad overwriteMemory "must be true or false"
if ((${#task_requirements} > 65536)) || ! [[ $task_requirements =~ ^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$ ]]; then
  bad taskRequirements "must be empty or base64 (A-Z, a-z, 0-9, '+', '/', padded with '='), at most 65536 characters"
fi
if ! [[ $github_web_url =~ ^https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~/-]*)?$ ]]; then
  bad GITHUB_WEB_URL "must be an http(s) URL without query, quotes or white space"
fi
if [[ $naming != repository && $naming != pr-number ]]; then
  bad NAMING "must be repository or pr-number"
fi
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi

stop_on_bad_inputs

# The naming rules (the same as components/names.ts).
id=$(preview_id "$naming" "$owner" "$repo" "$pr")
ns="impl-${id}"
host="${id}.${domain}"
if ((${#host} > 253)); then
  die domain "is too long for the preview host ${id}.<domain> (at most 253 characters)"
fi
mutex="implementation-dag-${id}"
repository=$(printf '%s/%s' "$owner" "$repo" | tr '[:upper:]' '[:lower:]')
suffix="-pr-${pr}"
name=$(printf '%s' "$repo" | tr '[:upper:]' '[:lower:]')
name=${name//[^a-z0-9-]/-}
name=${name:0:$((53 - ${#suffix}))}
while [[ $name == -* ]]; do name=${name#-}; done
while [[ $name == *- ]]; do name=${name%-}; done
release="${name:-app}${suffix}"
tag=${image_tag:-pr-${pr}}
commit=$(printf '%s' "$commit" | tr '[:upper:]' '[:lower:]')
# What the agents are given (the agent template's parameter names).
if [[ -z $service ]]; then
  service=$(printf '%s' "$repo" | tr '[:upper:]' '[:lower:]')
  service=${service//[^a-z0-9-]/-}
  service=${service:0:63}
  while [[ $service == -* ]]; do service=${service#-}; done
  while [[ $service == *- ]]; do service=${service%-}; done
  service=${service:-app}
fi
web=${github_web_url%/}

mkdir -p "$output_dir"
printf '%s' "$ns" >"$output_dir/ns"
printf '%s' "$release" >"$output_dir/release"
printf '%s' "$host" >"$output_dir/host"
printf '%s' "$mutex" >"$output_dir/mutex"
printf '%s' "$repository" >"$output_dir/repository"
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
printf '%s' "${task_id:-$pr}" >"$output_dir/task-id"
printf '%s' "$service" >"$output_dir/service-id"
printf '%s' "$web/$owner/$repo" >"$output_dir/repository-url"
printf '%s' "$web/${docs_repository:-$owner/$repo}" >"$output_dir/docs-repository-url"
printf '%s' "$docs_project_directory" >"$output_dir/docs-project-directory"
printf '%s' "$working_directory" >"$output_dir/working-directory"
printf '%s' "$model" >"$output_dir/model"
printf '%s' "$continue_session" >"$output_dir/continue-session"
printf '%s' "$overwrite_memory" >"$output_dir/overwrite-memory"
printf '%s' "$docs_branch" >"$output_dir/docs-branch"
printf '%s' "$task_requirements" >"$output_dir/task-requirements"

printf 'namespace: %s\nrelease:   %s\nhost:      %s\nmutex:     %s\nimage tag: %s\ncommit:    %s\n' \
  "$ns" "$release" "$host" "$mutex" "$tag" "${commit:-<PR head>}"
