# shellcheck shell=bash
# lib/deployments.sh: the preview on the pull request (GitHub Deployments API) and the state of
# previews' pull requests (one GraphQL query per repository and 100 pull requests). Needs
# lib/github.sh before it (scriptTemplate's `libraries: ["github", "deployments"]`).
#
# Functions (each validates its arguments, prints `ERROR: <input>: <rule>` and returns non-zero on a
# bad one; GitHub failures are printed by lib/github.sh and returned non-zero, the caller decides):
#   deployment_create OWNER REPO SHA ENVIRONMENT WORKFLOW
#       records a deployment of SHA in ENVIRONMENT (task deploy:preview, payload {workflow:
#       WORKFLOW}, transient, not production, no required contexts, and auto_merge false: GitHub's
#       default would merge the default branch into the PR's branch) and prints its id. Needs a
#       token with deployments:write on OWNER/REPO in GITHUB_TOKEN.
#       At most one deployment per call: creating one is not idempotent, and GitHub may record it
#       and still answer 5xx (or not answer at all). So a server error is not retried blindly:
#       deployment_find looks for this run's deployment first and uses it when GitHub did record
#       it; only when it is not there is the request sent again. GITHUB_RETRY_ATTEMPTS requests in
#       all; after each server error it waits GITHUB_RETRY_BASE_MS (doubled per try, at most 60 s)
#       before looking, so a deployment GitHub is still recording is found rather than doubled.
#       Rate limits are retried inside github_request (GitHub did nothing then). Fails with `ERROR: github: ...` when no deployment was
#       recorded after the last try, when GitHub refused the request (4xx), or when the look-up
#       failed (then whether one exists is unknown, and sending again could make a second one).
#   deployment_find OWNER REPO SHA ENVIRONMENT WORKFLOW
#       prints the id of the deployment a deployment_create for WORKFLOW left without an answer:
#       the newest deployment of SHA in ENVIRONMENT with task deploy:preview whose payload.workflow
#       is WORKFLOW and which has no status yet, or nothing when there is none. Whoever created a
#       deployment and got its id gave it a status (deploy adds in_progress at once); one GitHub
#       recorded while failing has none, as nobody knows its id. So an older run's deployment is
#       never taken for this one's, even where a workflow's name came back (Argo names are unique
#       only among existing workflows). One GET of the list (GitHub filters by sha, environment and
#       task; 100 per page), then one GET of the statuses of each candidate, newest first, at most
#       10. Fails when GitHub gives no answer. Same token.
#   deployment_status OWNER REPO ID STATE ENVIRONMENT_URL LOG_URL DESCRIPTION
#       adds a status (in_progress, success, failure, error or inactive) to deployment ID; the URLs
#       may be empty (then not sent). Same token.
#   pull_request_states OWNER REPO NUMBER...
#       prints `<number>\t<state>` for each of at most 100 pull requests: OPEN, CLOSED, MERGED, or
#       UNKNOWN when GitHub resolved no such pull request. One GraphQL query (read-only: the query
#       text is fixed, the numbers travel as variables). Fails (non-zero, nothing printed) when
#       GitHub gives no answer about the repository at all: an outage is never read as "closed".
#       Needs a token with pull_requests:read in GITHUB_TOKEN and GITHUB_GRAPHQL_URL.
#
# Env: GITHUB_TOKEN, GITHUB_GRAPHQL_URL (http(s) URL of GitHub's GraphQL endpoint), and what
# lib/github.sh reads (GITHUB_API_URL, GITHUB_RETRY_*, TMPDIR).
#
# REST calls go through github_request. github_request refuses GraphQL on purpose, so the one fixed,
# read-only query above is sent with lib/github.sh's own transport (_github_auth_file, _github_http
# with GITHUB_API_URL set to the GraphQL URL for that call, _github_done): the same bounded retries, rate-limit
# handling and private temporary files. That transport lets through, at the GraphQL endpoint, only
# this query's exact shape (lib/github.sh's _github_graphql_allowed): change the text here, change it there.

_deployments_fail() {
  printf 'ERROR: %s: %s\n' "$1" "$2" >&2
  return 1
}

_deployments_repo_ok() { # OWNER REPO
  [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$ && $2 =~ ^[A-Za-z0-9._-]{1,100}$ && $2 != . && $2 != .. ]]
}

# Checks deployment_create's and deployment_find's arguments; FUNCTION names the caller.
_deployments_check() { # FUNCTION OWNER REPO SHA ENVIRONMENT WORKFLOW
  _deployments_repo_ok "$2" "$3" || { _deployments_fail "$1" "OWNER/REPO must be a GitHub repository"; return 1; }
  [[ $4 =~ ^[0-9a-f]{40}$ ]] || { _deployments_fail "$1" "SHA must be a full 40-hex commit SHA"; return 1; }
  [[ $5 =~ ^[A-Za-z0-9._-]{1,255}$ ]] || { _deployments_fail "$1" "ENVIRONMENT must be letters, digits, '.', '_' or '-'"; return 1; }
  [[ $6 =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]] || { _deployments_fail "$1" "WORKFLOW must be a Kubernetes object name"; return 1; }
}

deployment_find() {
  local owner="${1-}" repo="${2-}" sha="${3-}" environment="${4-}" workflow="${5-}" list
  _deployments_check deployment_find "$owner" "$repo" "$sha" "$environment" "$workflow" || return 1
  # GET is idempotent: github_request retries it as usual. ENVIRONMENT's characters need no encoding.
  list=$(GITHUB_RETRY_SERVER_ERRORS=yes github_request GET "/repos/$owner/$repo/deployments?sha=$sha&environment=$environment&task=deploy:preview&per_page=100") || return 1
  if ! jq -e 'type == "array"' >/dev/null 2>&1 <<<"$list"; then
    _deployments_fail github "GitHub's list of deployments of $owner/$repo is not a list"
    return 1
  fi
  # GitHub lists the newest first.
  local candidates id statuses
  candidates=$(jq -r --arg sha "$sha" --arg environment "$environment" --arg workflow "$workflow" '
    [.[] | select((.id | type) == "number" and .sha == $sha and .environment == $environment
                  and .task == "deploy:preview" and (.payload | type) == "object" and .payload.workflow == $workflow)]
    | .[0:10][] | .id' <<<"$list") || return 1
  # The candidates come on fd 3, so nothing in the loop can read them from stdin.
  while IFS= read -r -u 3 id; do
    [[ $id =~ ^[1-9][0-9]{0,18}$ ]] || continue
    statuses=$(GITHUB_RETRY_SERVER_ERRORS=yes github_request GET "/repos/$owner/$repo/deployments/$id/statuses?per_page=1") || return 1
    if jq -e 'type == "array" and length == 0' >/dev/null 2>&1 <<<"$statuses"; then
      printf '%s\n' "$id"
      return 0
    fi
  done 3<<<"$candidates"
}

deployment_create() {
  local owner="${1-}" repo="${2-}" sha="${3-}" environment="${4-}" workflow="${5-}" id
  local try=1 attempts base_ms wait_ms status response
  _deployments_check deployment_create "$owner" "$repo" "$sha" "$environment" "$workflow" || return 1
  _github_int_setting attempts GITHUB_RETRY_ATTEMPTS 5 1 10 || return 1
  _github_int_setting base_ms GITHUB_RETRY_BASE_MS 1000 0 60000 || return 1
  _github_tmpdir || return 1
  response="$_GITHUB_TMP/deployment.json"
  while :; do
    # One statement, so the no-merge scan sees auto_merge false in the request that creates it.
    # Written to a file, not captured, so GITHUB_STATUS survives for the decision below.
    if GITHUB_RETRY_SERVER_ERRORS=no github_request POST "/repos/$owner/$repo/deployments" "$(jq -cn --arg sha "$sha" --arg environment "$environment" --arg workflow "$workflow" \
      '{ref: $sha, environment: $environment, auto_merge: false, required_contexts: [], transient_environment: true, production_environment: false, task: "deploy:preview", description: ("implementation-dag " + $workflow), payload: {workflow: $workflow}}')" >"$response"; then
      id=$(jq -r 'if (.id | type) == "number" then .id else "" end' "$response" 2>/dev/null) || id=""
      rm -f "$response"
      [[ $id =~ ^[1-9][0-9]{0,18}$ ]] || { _deployments_fail github "GitHub's answer to the deployment request holds no deployment id"; return 1; }
      printf '%s\n' "$id"
      return 0
    fi
    status="$GITHUB_STATUS"
    rm -f "$response"
    # A 4xx (or a rate limit lib/github.sh gave up on): GitHub recorded nothing; it said why.
    case "$status" in
      000 | 5??) ;;
      *) return 1 ;;
    esac
    # GitHub may have recorded the deployment before failing (or still be recording it): wait,
    # then look for it before sending it again.
    wait_ms=$((base_ms << (try - 1)))
    ((wait_ms <= 60000)) || wait_ms=60000
    printf 'github: deployment of %s/%s@%s in %s: HTTP %s; looking for it in %d.%03ds\n' \
      "$owner" "$repo" "$sha" "$environment" "$status" $((wait_ms / 1000)) $((wait_ms % 1000)) >&2
    sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
    if ! id=$(deployment_find "$owner" "$repo" "$sha" "$environment" "$workflow"); then
      _deployments_fail github "deployment of $owner/$repo@$sha in $environment: HTTP $status, and the look-up for it failed; not sending it again (that could record a second one)"
      return 1
    fi
    if [[ -n $id ]]; then
      printf 'github: deployment of %s/%s@%s in %s: GitHub recorded it as %s; using that one\n' "$owner" "$repo" "$sha" "$environment" "$id" >&2
      printf '%s\n' "$id"
      return 0
    fi
    if ((try >= attempts)); then
      _deployments_fail github "no deployment of $owner/$repo@$sha in $environment recorded after $try tries (last HTTP $status)"
      return 1
    fi
    printf 'github: deployment of %s/%s@%s in %s: not recorded; sending it again (try %d of %d)\n' \
      "$owner" "$repo" "$sha" "$environment" $((try + 1)) "$attempts" >&2
    try=$((try + 1))
  done
}

deployment_status() {
  local owner="${1-}" repo="${2-}" id="${3-}" state="${4-}" environment_url="${5-}" log_url="${6-}" description="${7-}" body
  _deployments_repo_ok "$owner" "$repo" || { _deployments_fail deployment_status "OWNER/REPO must be a GitHub repository"; return 1; }
  [[ $id =~ ^[1-9][0-9]{0,18}$ ]] || { _deployments_fail deployment_status "ID must be a deployment id"; return 1; }
  case "$state" in
    in_progress | success | failure | error | inactive | queued | pending) ;;
    *) _deployments_fail deployment_status "STATE must be a deployment status state"; return 1 ;;
  esac
  local url_rule='^(https?://[^[:space:]"<>`]+)?$'
  [[ $environment_url =~ $url_rule && $log_url =~ $url_rule ]] ||
    { _deployments_fail deployment_status "ENVIRONMENT_URL and LOG_URL must be empty or http(s) URLs"; return 1; }
  # GitHub keeps at most 140 characters of a description.
  body=$(jq -cn --arg state "$state" --arg env_url "$environment_url" --arg log_url "$log_url" --arg description "${description:0:140}" \
    '{state: $state, description: $description}
     + (if $env_url == "" then {} else {environment_url: $env_url} end)
     + (if $log_url == "" then {} else {log_url: $log_url} end)')
  github_request POST "/repos/$owner/$repo/deployments/$id/statuses" "$body" >/dev/null
}

pull_request_states() {
  local owner="${1-}" repo="${2-}" numbers body response rc auth url="${GITHUB_GRAPHQL_URL-}"
  shift 2 || true
  _deployments_repo_ok "$owner" "$repo" || { _deployments_fail pull_request_states "OWNER/REPO must be a GitHub repository"; return 1; }
  if (($# < 1 || $# > 100)); then
    _deployments_fail pull_request_states "give 1 to 100 pull request numbers"
    return 1
  fi
  local n
  for n in "$@"; do
    [[ $n =~ ^[1-9][0-9]{0,8}$ ]] || { _deployments_fail pull_request_states "NUMBER must be a pull request number"; return 1; }
  done
  [[ $url =~ ^https?://[^[:space:]\"\'\\]+$ ]] || { _deployments_fail GITHUB_GRAPHQL_URL "must be an http(s) URL"; return 1; }
  _github_is_token "${GITHUB_TOKEN-}" || { _deployments_fail GITHUB_TOKEN "must be set to a token"; return 1; }
  # A JSON list of the numbers, each checked above to be digits without a leading zero.
  printf -v numbers '%s,' "$@"
  numbers="[${numbers%,}]"
  # The query's text is made of fixed words and list indices only; owner, name and numbers are
  # GraphQL variables. The dollar signs below are GraphQL's, inside a jq string.
  # shellcheck disable=SC2016
  body=$(jq -cn --arg owner "$owner" --arg name "$repo" --argjson numbers "$numbers" '
    ($numbers | to_entries) as $e
    | { query: ("query PreviewPullRequestStates($owner: String!, $name: String!"
          + ([$e[] | ", $n\(.key): Int!"] | join("")) + ") { repository(owner: $owner, name: $name) { "
          + ([$e[] | "p\(.key): pullRequest(number: $n\(.key)) { number state }"] | join(" ")) + " } }"),
        variables: ({owner: $owner, name: $name} + ([$e[] | {key: "n\(.key)", value: .value}] | from_entries)) }')
  _github_auth_file auth "$GITHUB_TOKEN" || return 1
  rc=0
  response=$(GITHUB_API_URL="$url" _github_http POST "" "$body" "$auth") || rc=$?
  _github_done "$auth"
  ((rc == 0)) || return 1
  # No repository in the answer (GitHub's errors, a rate limit, a token that cannot see it): no
  # state is known. Otherwise each alias is a pull request, or null when GitHub resolved none.
  if ! jq -e '(.data.repository | type) == "object"' >/dev/null 2>&1 <<<"$response"; then
    local message
    message=$(jq -r '[(.errors // [])[] | (.message // "") | tostring] | join("; ") | .[0:300]' <<<"$response" 2>/dev/null) || message=""
    _deployments_fail github "GraphQL: no pull request states for $owner/$repo: ${message:-no data}"
    return 1
  fi
  jq -r --argjson numbers "$numbers" '
    .data.repository as $r
    | $numbers | to_entries[]
    | "\(.value)\t\(($r["p\(.key)"] // {}).state // "UNKNOWN" | if . == "OPEN" or . == "CLOSED" or . == "MERGED" then . else "UNKNOWN" end)"' <<<"$response"
}
