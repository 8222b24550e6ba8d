#!/usr/bin/env bash
# set-params: validates every workflow parameter and derives the names of the preview once.
# Later steps take these names from its outputs and never recompute them.
#
# Env (each validated; any violation prints every bad parameter and exits 1 before writing anything;
# a value with white space at either end or a newline anywhere is refused, never trimmed):
#   the workflow parameters, each in its env (PARAMETER_ENV of lib/parameter-rules.sh: OWNER, REPO, PR,
#   COMMIT, DOMAIN, CHART_PATH, VALUES_FILE, IMAGE_TAG, MIN_SUCCESS_PCT, MAX_P95_MS,
#   REQUESTS_PER_ENDPOINT, TASK_ID, SERVICE, MODEL, DOCS_REPOSITORY, DOCS_PROJECT_DIRECTORY,
#   WORKING_DIRECTORY, DOCS_BRANCH, CONTINUE_SESSION, OVERWRITE_MEMORY, TASK_REQUIREMENTS): each one's
#   meaning and rule is defined once in components/parameters.ts (the README's parameter table) and
#   checked by check_parameter of lib/parameter-rules.sh, generated from it. An empty value of a
#   parameter in PARAMETERS_FILLED is filled in here instead (the acceptance thresholds: the
#   repository's setting, else the stack's; taskId: the PR number; service: the repository's name as
#   a DNS label; docsRepository: the PR's repository). Each value is substituted into the agents'
#   child Workflow manifests as text, which the rules allow for: none admits a quote, a backslash,
#   white space or a newline.
#   The acceptance settings (stack config, rendered at install time; never from the pull request):
#   ACCEPTANCE_GLOBAL      JSON object: every acceptance input (text) from the global settings
#   ACCEPTANCE_REPOSITORIES JSON object: lowercased <owner>/<repo> to the inputs that repository sets
#                          (the resolved settings must also fit acceptance's 3-minute budget)
#   GITHUB_WEB_URL         GitHub's web URL (stack config), the base of the repository URLs
#   NAMING                 the naming scheme (stack config): repository or pr-number (lib/names.sh)
#   OUTPUT_DIR             directory the outputs are written to
#
# Writes, one value per file in OUTPUT_DIR: ns (impl-<id>), release (<repo>-pr-<PR>, a DNS-1123
# label of at most 53), host (<id>.<DOMAIN>), mutex (implementation-dag-<id>), repository
# (<owner>/<repo> lowercased: the preview's owner, as annotated on its namespace), domain,
# image_tag (as given, or empty: deploy derives it from the deployed commit), commit (lowercased, or empty), where <id> is lib/names.sh's set_preview_id of
# (NAMING, owner, repo, PR);
# and the validated values later tasks take instead of the raw parameters, each under its
# PARAMETER_OUTPUT name: every workflow parameter (the agents' under the agent template's own names:
# task-id, service-id, docs-repository-url (<GITHUB_WEB_URL>/<docsRepository>), …) and every setting of
# acceptance (PARAMETERS_ACCEPTANCE), resolved for the repository: a threshold given as a parameter,
# else the repository's entry, else the global setting, each checked by its rule so a bad table never
# reaches acceptance; and repository-url (<GITHUB_WEB_URL>/<owner>/<repo>).
#
# Tools: jq (the acceptance settings), sha256sum (GNU or busybox).
set -euo pipefail
export LC_ALL=C

# json_objects TEXT...: prints one line holding, for each TEXT in order, "yes" when it is one JSON
# object, else "no" (one jq for all; fromjson parses a text as --argjson would).
json_objects() {
  jq -rn '[$ARGS.positional[] | if (try (fromjson | type == "object") catch false) then "yes" else "no" end] | join(" ")' \
    --args "$@" 2>/dev/null
}

# resolve_acceptance REPOSITORY GLOBAL TABLE (JSON objects): prints, per acceptance input, a line
# `<input>\t<where>\t<value>`: the repository's entry of TABLE when it sets the input, else GLOBAL's.
# A line `!\t<env>\t<problem>` reports a table unlike what the render writes.
resolve_acceptance() {
  jq -rn --arg repository "$1" --argjson global "$2" --argjson table "$3" '
    ($table[$repository] // {}) as $entry
    | if ($entry | type) != "object" then ["!", "ACCEPTANCE_REPOSITORIES", "the entry of \($repository) must be a JSON object"]
      else
        (($entry | keys) - $ARGS.positional)[] as $k
        | ["!", "ACCEPTANCE_REPOSITORIES", "the entry of \($repository) sets \($k), which is not an input of acceptance"]
      end,
      ($entry | select(type == "object") | $ARGS.positional[] as $k
       | if $entry | has($k) then [$k, "acceptance.repositories \($repository)", $entry[$k]] else [$k, "acceptance", $global[$k]] end
       | if (.[2] | type) == "string" then .
         else ["!", (if .[1] == "acceptance" then "ACCEPTANCE_GLOBAL" else "ACCEPTANCE_REPOSITORIES" end), "\(.[0]) of \(.[1]) must be text"] end)
    | @tsv' --args "${PARAMETERS_CONFIGURED[@]}"
}

# Each parameter is read exactly as given: command substitution would drop trailing newlines, and
# nothing is trimmed. White space at either end, or a newline anywhere, is refused by the
# parameter's name (the mutex and the names must come from the value checked).
unpadded() { # PARAMETER VALUE
  if [[ $2 =~ ^[[:space:]] || $2 =~ [[:space:]]$ || $2 == *$'\n'* ]]; then
    bad "$1" "must not begin or end with white space or hold a newline (nothing is trimmed)"
  fi
}

# Every workflow parameter, by its rule (lib/parameter-rules.sh); an empty one that set-params fills
# in is not checked.
declare -A given=()
for name in "${PARAMETERS_SUBMITTED[@]}"; do
  env=${PARAMETER_ENV[$name]}
  given[$name]=${!env-}
  unpadded "$name" "${given[$name]}"
  if [[ -z ${given[$name]} && " ${PARAMETERS_FILLED[*]} " == *" $name "* ]]; then continue; fi
  check_parameter "$name" "${given[$name]}"
done
owner=${given[owner]}
repo=${given[repo]}
pr=${given[pr]}
commit=${given[commit]}
domain=${given[domain]}
image_tag=${given[imageTag]}
service=${given[service]}
docs_repository=${given[docsRepository]}
declare acceptance_global acceptance_repositories github_web_url naming output_dir
input acceptance_global ACCEPTANCE_GLOBAL
input acceptance_repositories ACCEPTANCE_REPOSITORIES
input github_web_url GITHUB_WEB_URL
input naming NAMING
input output_dir OUTPUT_DIR

if ! [[ $github_web_url =~ ^https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~/-]*)?$ ]]; then
  bad GITHUB_WEB_URL "must be an http(s) URL without query, quotes or white space"
fi
command -v jq >/dev/null 2>&1 || bad jq "is required on PATH and missing"
read -r global_is_object repositories_is_object <<<"$(json_objects "$acceptance_global" "$acceptance_repositories")"
[[ $global_is_object == yes ]] || bad ACCEPTANCE_GLOBAL "must be a JSON object (the render writes it from the stack config)"
[[ $repositories_is_object == yes ]] || bad ACCEPTANCE_REPOSITORIES "must be a JSON object (the render writes it from the stack config)"
if [[ $naming != repository && $naming != pr-number ]]; then
  bad NAMING "must be repository or pr-number"
fi
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi

stop_on_bad_inputs

repository=$(repository_key "$owner" "$repo")

# The run's acceptance settings: a threshold given at submit, else the repository's entry, else the
# global setting; each checked as acceptance would, so a bad table stops the run here.
declare -A acceptance=()
for name in "${PARAMETERS_ACCEPTANCE[@]}"; do acceptance[$name]=${given[$name]-}; done
settings=$(resolve_acceptance "$repository" "$acceptance_global" "$acceptance_repositories")
while IFS=$'\t' read -r input where setting; do
  if [[ $input == ! ]]; then
    bad "$where" "$setting"
  elif [[ -z ${acceptance[$input]-} ]]; then
    acceptance[$input]=$setting
    check_parameter "$input" "$setting" " (from the stack config $where)"
  fi
done <<<"$settings"
stop_on_bad_inputs
# acceptance's budget rule (lib/acceptance-budget.sh) on them, so a run acceptance would refuse stops here.
acceptance_budget_problem acceptance
[[ -z $BUDGET_PROBLEM ]] || die "$BUDGET_INPUT" "$BUDGET_PROBLEM"

# The naming rules (the same as components/names.ts).
set_preview_id "$naming" "$owner" "$repo" "$pr"
id=$PREVIEW_ID
ns=$(preview_namespace "$id")
host="${id}.${domain}"
if ((${#host} > 253)); then
  die domain "is too long for the preview host ${id}.<domain> (at most 253 characters)"
fi
mutex=$(preview_mutex "$id")
suffix="-pr-${pr}"
name=${repo,,}
name=${name//[^a-z0-9-]/-}
name=${name:0:$((53 - ${#suffix}))}
while [[ $name == -* ]]; do name=${name#-}; done
while [[ $name == *- ]]; do name=${name%-}; done
release="${name:-app}${suffix}"
commit=${commit,,}
# What the agents are given (the agent template's parameter names).
if [[ -z $service ]]; then
  service=${repo,,}
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
printf '%s' "$web/$owner/$repo" >"$output_dir/repository-url"
# Each parameter and setting under its output name: as given, or as filled in and derived here.
declare -A passed=()
for name in "${PARAMETERS_SUBMITTED[@]}"; do passed[$name]=${given[$name]}; done
for name in "${PARAMETERS_ACCEPTANCE[@]}"; do passed[$name]=${acceptance[$name]}; done
passed[commit]=$commit
passed[taskId]=${given[taskId]:-$pr}
passed[service]=$service
passed[docsRepository]=$web/${docs_repository:-$owner/$repo}
for name in "${!passed[@]}"; do
  printf '%s' "${passed[$name]}" >"$output_dir/${PARAMETER_OUTPUT[$name]}"
done

printf 'namespace: %s\nrelease:   %s\nhost:      %s\nmutex:     %s\nimage tag: %s\ncommit:    %s\n' \
  "$ns" "$release" "$host" "$mutex" "${image_tag:-<derived from the deployed commit>}" "${commit:-<PR head>}"
