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
#   IMAGE_TAG              empty (deploy derives the tag from the commit it deploys, by the stack's
#                          deploy.imageTagPattern) or a valid image tag (then pulled Always)
#   MIN_SUCCESS_PCT        empty (the repository's setting, else the stack's) or a percentage 0-100
#                          (a fraction between 0 and 1 is ambiguous and refused)
#   MAX_P95_MS             empty (as above) or a positive integer of milliseconds, at most 7 digits
#   REQUESTS_PER_ENDPOINT  empty (as above) or an integer 1-10000
#   The acceptance settings (stack config, rendered at install time; never from the pull request):
#   ACCEPTANCE_GLOBAL      JSON object: every acceptance input (text) from the global settings
#   ACCEPTANCE_REPOSITORIES JSON object: lowercased <owner>/<repo> to the inputs that repository sets
#                          (the resolved settings must also fit acceptance's 3-minute budget)
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
# image_tag (as given, or empty: deploy derives it from the deployed commit), commit (lowercased, or empty), where <id> is lib/names.sh's preview_id of
# (NAMING, owner, repo, PR);
# and the validated values later tasks take instead of the raw parameters: owner, repo, pr,
# chartPath, valuesFile; every input of acceptance (min_success_pct, max_p95_ms,
# requests_per_endpoint, max_p99_ms, judge, concurrency, timeout_ms, expect, paths, insecure, connect_to,
# ready_consecutive, ready_timeout_s, rate, duration_s), resolved for the repository: a threshold
# given as a parameter, else the repository's entry, else the global setting, each checked with the
# acceptance step's rules so a bad table never reaches it; and, under the agent
# template's own names, task-id, service-id, repository-url (<GITHUB_WEB_URL>/<owner>/<repo>),
# docs-repository-url, docs-project-directory, working-directory, model, continue-session,
# overwrite-memory, docs-branch, task-requirements.
#
# Tools: jq (the acceptance settings), tr, sha256sum, cut (GNU or busybox).
set -euo pipefail
export LC_ALL=C

RULE_REPO_DIRECTORY="must be '.' (the repository's root) or a relative path without '.' or '..' segments"
is_repo_directory() { [[ $1 == . ]] || is_relative_path "$1"; }

# ---- acceptance settings -----------------------------------------------------------------------
# Every input of the acceptance step, in the order of components/workflow/acceptance.ts.
ACCEPTANCE_INPUTS=(min_success_pct max_p95_ms requests_per_endpoint max_p99_ms judge concurrency timeout_ms expect paths
  insecure connect_to ready_consecutive ready_timeout_s rate duration_s)

# A status rule: items NNN, Nxx, NNN-MMM (NNN <= MMM) or <NNN (above 100) separated by commas; the
# grammar of acceptance.sh's rule_ranges, without the blanks and the trailing comma it tolerates
# (zod refuses those, and set-params applies zod's rule).
STATUS_RULE_CHARS='^[0-9x<-]+(,[0-9x<-]+)*$'
STATUS_ITEM='^([1-5]xx|[1-5][0-9]{2}|([1-5][0-9]{2})-([1-5][0-9]{2})|<([1-6][0-9]{2}))$'
is_status_rule() {
  local items item
  [[ $1 =~ $STATUS_RULE_CHARS ]] || return 1
  IFS=, read -ra items <<<"$1"
  for item in "${items[@]}"; do
    [[ $item =~ $STATUS_ITEM ]] || return 1
    if [[ -n ${BASH_REMATCH[2]} ]] && ((10#${BASH_REMATCH[2]} > 10#${BASH_REMATCH[3]})); then return 1; fi
    if [[ -n ${BASH_REMATCH[4]} ]] && ((10#${BASH_REMATCH[4]} <= 100)); then return 1; fi
  done
}

# PATHS: empty, or a JSON object from a path ("/x", or a prefix "/api/*") to a status rule.
is_paths() {
  local pairs key rule url_chars="A-Za-z0-9._~!\$&'()*+,;=:@%/?-"
  [[ -z $1 ]] && return 0
  [[ $1 != *[[:cntrl:]\\]* ]] || return 1
  pairs=$(jq -r 'if type == "object" then to_entries[] | [.key, (.value | if type == "string" then . else "" end)] | @tsv
    else error("not an object") end' <<<"$1" 2>/dev/null) || return 1
  [[ -n $pairs ]] || return 0
  while IFS=$'\t' read -r key rule; do
    [[ ${key%\*} =~ ^/[${url_chars}]*$ && ${key%\*} != *\** ]] || return 1
    is_status_rule "$rule" || return 1
  done <<<"$pairs"
}

# check_acceptance INPUT VALUE [WHERE]: refuses (with `bad`) a VALUE the acceptance step would refuse
# (acceptance.sh's input checks; where zod is stricter, zod's rule). The stack config's schema applies
# the same rules (components/config.ts); test/steps/set-params.test.ts holds the three to one table.
check_acceptance() {
  local input=$1 v=$2 where=${3:+ (from the stack config $3)} rule=""
  case $input in
    min_success_pct)
      if ! [[ $v =~ ^(100(\.0+)?|[1-9]?[0-9](\.[0-9]+)?)$ ]]; then
        rule="must be a percentage from 0 to 100 (digits, no leading zero)"
      elif [[ $v =~ ^0\.[0-9]*[1-9] ]]; then
        rule="is a percentage (0-100); $v between 0 and 1 is ambiguous: write the percentage (95 for 95%)"
      fi ;;
    max_p95_ms) [[ $v =~ ^[1-9][0-9]{0,6}$ ]] || rule="must be a positive integer of milliseconds (at most 7 digits)" ;;
    max_p99_ms) [[ $v =~ ^([1-9][0-9]{0,6})?$ ]] || rule="must be empty (not checked) or a positive integer of milliseconds (at most 7 digits)" ;;
    requests_per_endpoint)
      [[ $v =~ ^[1-9][0-9]{0,4}$ ]] && ((10#$v <= 10000)) || rule="must be an integer from 1 to 10000" ;;
    judge) [[ $v == total || $v == ttfb || $v == server ]] || rule="must be total, ttfb or server" ;;
    concurrency) [[ $v =~ ^[1-9][0-9]?$ ]] && ((10#$v <= 64)) || rule="must be an integer from 1 to 64" ;;
    timeout_ms)
      [[ $v =~ ^[1-9][0-9]{2,4}$ ]] && ((10#$v <= 60000)) || rule="must be an integer of milliseconds from 100 to 60000" ;;
    expect) is_status_rule "$v" || rule="must be status items NNN, Nxx, NNN-NNN or <NNN separated by commas (e.g. 2xx,3xx or <500)" ;;
    paths) is_paths "$v" || rule="must be empty or a JSON object from a path (a trailing * makes it a prefix) to a status rule" ;;
    insecure) [[ $v == true || $v == false ]] || rule="must be true or false" ;;
    connect_to)
      if [[ -n $v ]] && ! { [[ $v =~ ^[A-Za-z0-9.-]+:([0-9]{1,5})$ ]] && ((10#${BASH_REMATCH[1]} >= 1 && 10#${BASH_REMATCH[1]} <= 65535)); }; then
        rule="must be empty or host:port (port 1-65535)"
      fi ;;
    ready_consecutive) [[ $v =~ ^(0|[1-9][0-9]?|100)$ ]] || rule="must be an integer from 0 (no readiness wait) to 100" ;;
    ready_timeout_s | duration_s)
      [[ $v =~ ^[1-9][0-9]{0,2}$ ]] && ((10#$v <= 170)) || rule="must be an integer of seconds from 1 to 170" ;;
    rate)
      if [[ -n $v ]]; then
        if ! [[ $v =~ ^([0-9]{1,4})(\.([0-9]{1,3}))?$ ]]; then
          rule="must be empty (closed model) or requests per second, a number up to 1000 with at most 3 decimals"
        else
          local frac=${BASH_REMATCH[3]}000
          local milli=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
          ((milli >= 1 && milli <= 1000000)) || rule="must be more than 0 and at most 1000 requests per second"
        fi
      fi ;;
    *) rule="is not an input of acceptance" ;;
  esac
  [[ -z $rule ]] || bad "$input" "$rule$where"
}

# acceptance_budget: acceptance.sh's budget rule on the resolved settings, so a combination acceptance
# would refuse stops the run here: readiness (ready_timeout_s, unless ready_consecutive is 0) plus the
# measurement's worst case (closed: ceil(requests_per_endpoint / concurrency) x timeout_ms; open:
# duration_s + timeout_ms) must fit in 170 s, and an open-model schedule must hold a request.
acceptance_budget() {
  local n=$((10#${acceptance[requests_per_endpoint]})) c=$((10#${acceptance[concurrency]})) t_ms=$((10#${acceptance[timeout_ms]}))
  local ready_s=$((10#${acceptance[ready_timeout_s]})) dur_s=$((10#${acceptance[duration_s]})) rate=${acceptance[rate]} worst_ms what
  ((10#${acceptance[ready_consecutive]} > 0)) || ready_s=0
  if [[ -n $rate ]]; then
    [[ $rate =~ ^([0-9]+)(\.([0-9]+))?$ ]]
    local frac=${BASH_REMATCH[3]}000
    local rate_milli=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
    ((rate_milli * dur_s / 1000 >= 1)) || die rate "$rate per second for $dur_s s (duration_s) schedules no request"
    worst_ms=$((dur_s * 1000 + t_ms))
    what="duration_s: a $dur_s s schedule plus timeout_ms $t_ms"
  else
    local rounds=$(((n + c - 1) / c))
    worst_ms=$((rounds * t_ms))
    what="requests_per_endpoint: $n requests at concurrency $c with timeout_ms $t_ms"
  fi
  if ((ready_s * 1000 + worst_ms > 170000)); then
    die "${what%%:*}" "${what#*: } may take $((worst_ms / 1000)) s after up to ${ready_s} s of readiness (ready_timeout_s); acceptance must finish within 170 s (lower ready_timeout_s or timeout_ms, or send fewer requests)"
  fi
}

is_json_object() { jq -en --argjson v "$1" '$v | type == "object"' >/dev/null 2>&1; }

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
    | @tsv' --args "${ACCEPTANCE_INPUTS[@]}"
}

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
acceptance_global=$(value ACCEPTANCE_GLOBAL)
acceptance_repositories=$(value ACCEPTANCE_REPOSITORIES)
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
  bad imageTag "must be empty (the tag is derived from the deployed commit) or an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
fi
# A threshold given at submit wins over the stack config's, checked by the same rule.
[[ -z $min_success_pct ]] || check_acceptance min_success_pct "$min_success_pct"
[[ -z $max_p95_ms ]] || check_acceptance max_p95_ms "$max_p95_ms"
[[ -z $requests_per_endpoint ]] || check_acceptance requests_per_endpoint "$requests_per_endpoint"
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
command -v jq >/dev/null 2>&1 || bad jq "is required on PATH and missing"
is_json_object "$acceptance_global" || bad ACCEPTANCE_GLOBAL "must be a JSON object (the render writes it from the stack config)"
is_json_object "$acceptance_repositories" || bad ACCEPTANCE_REPOSITORIES "must be a JSON object (the render writes it from the stack config)"
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
declare -A acceptance=(
  [min_success_pct]=$min_success_pct [max_p95_ms]=$max_p95_ms [requests_per_endpoint]=$requests_per_endpoint
)
settings=$(resolve_acceptance "$repository" "$acceptance_global" "$acceptance_repositories")
while IFS=$'\t' read -r input where setting; do
  if [[ $input == ! ]]; then
    bad "$where" "$setting"
  elif [[ -z ${acceptance[$input]-} ]]; then
    acceptance[$input]=$setting
    check_acceptance "$input" "$setting" "$where"
  fi
done <<<"$settings"
stop_on_bad_inputs
acceptance_budget

# The naming rules (the same as components/names.ts).
id=$(preview_id "$naming" "$owner" "$repo" "$pr")
ns=$(preview_namespace "$id")
host="${id}.${domain}"
if ((${#host} > 253)); then
  die domain "is too long for the preview host ${id}.<domain> (at most 253 characters)"
fi
mutex=$(preview_mutex "$id")
suffix="-pr-${pr}"
name=$(printf '%s' "$repo" | tr '[:upper:]' '[:lower:]')
name=${name//[^a-z0-9-]/-}
name=${name:0:$((53 - ${#suffix}))}
while [[ $name == -* ]]; do name=${name#-}; done
while [[ $name == *- ]]; do name=${name%-}; done
release="${name:-app}${suffix}"
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
printf '%s' "$image_tag" >"$output_dir/image_tag"
printf '%s' "$commit" >"$output_dir/commit"
printf '%s' "$owner" >"$output_dir/owner"
printf '%s' "$repo" >"$output_dir/repo"
printf '%s' "$pr" >"$output_dir/pr"
printf '%s' "$chart_path" >"$output_dir/chartPath"
printf '%s' "$values_file" >"$output_dir/valuesFile"
for input in "${ACCEPTANCE_INPUTS[@]}"; do
  printf '%s' "${acceptance[$input]}" >"$output_dir/$input"
done
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
  "$ns" "$release" "$host" "$mutex" "${image_tag:-<derived from the deployed commit>}" "${commit:-<PR head>}"
