# shellcheck shell=bash
# lib/parameter-rules.sh: GENERATED from components/parameters.ts by `npm run parameters`; do not edit.
# The rule of every workflow parameter and acceptance setting, the same clauses zod applies to the
# stack config. Needs lib/rules.sh (bad, is_relative_path, is_github_owner, is_github_repo).
#
#   check_parameter NAME VALUE [SUFFIX]  `bad NAME <message>SUFFIX` when VALUE breaks NAME's rule
#   parameter_problem NAME VALUE         sets PARAMETER_PROBLEM to the message (empty: it holds)
#   PARAMETER_ENV[NAME]                  the env variable NAME is read from
#   PARAMETERS_SUBMITTED                 the workflow parameters, in order
#   PARAMETERS_FILLED                    those whose empty value set-params fills in
#   PARAMETERS_ACCEPTANCE                acceptance's settings, in order
#   PARAMETERS_CONFIGURED                those of them the stack config sets (set-params resolves them)
#   PARAMETERS_DEPLOY                    the parameters deploy reads, each as input PARAMETER_OUTPUT[NAME]
#   PARAMETER_OUTPUT[NAME]               the set-params output NAME is passed on as
#   ACCEPTANCE_BUDGET_SECONDS            what acceptance may spend on readiness and measurement (lib/acceptance-budget.sh)
# shellcheck disable=SC2034 # the arrays are read by the steps this file is inserted into

parameter_is_relativePath() {
  is_relative_path "$1"
}

parameter_is_repoDirectory() {
  [[ $1 == . ]] || is_relative_path "$1"
}

parameter_is_chartPath() {
  [[ $1 == oci://* ]] || is_relative_path "$1"
}

parameter_is_ociReference() {
  [[ $1 == oci://* ]] || return 0
  local re='^oci://[A-Za-z0-9._:-]+(/[A-Za-z0-9._-]+)*/[A-Za-z0-9._-]+(:[A-Za-z0-9][A-Za-z0-9._+-]*)?$' last=${1##*/}
  [[ $1 =~ $re && ${last%%:*} != . && ${last%%:*} != .. ]]
}

parameter_is_githubRepository() {
  [[ $1 == */* ]] && is_github_owner "${1%%/*}" && is_github_repo "${1#*/}"
}

parameter_is_statusRule() {
  local items item chars='^[0-9x<-]+(,[0-9x<-]+)*$' re='^([1-5]xx|[1-5][0-9]{2}|([1-5][0-9]{2})-([1-5][0-9]{2})|<([1-6][0-9]{2}))$'
  [[ $1 =~ $chars ]] || return 1
  IFS=, read -ra items <<<"$1"
  for item in "${items[@]}"; do
    [[ $item =~ $re ]] || return 1
    if [[ -n ${BASH_REMATCH[2]} ]] && ((10#${BASH_REMATCH[2]} > 10#${BASH_REMATCH[3]})); then return 1; fi
    if [[ -n ${BASH_REMATCH[4]} ]] && ((10#${BASH_REMATCH[4]} <= 100)); then return 1; fi
  done
}

parameter_is_paths() {
  local pairs key rule url_chars="A-Za-z0-9._~!\$&'()*+,;=:@%/?-"
  [[ -z $1 ]] && return 0
  [[ $1 != *[[:cntrl:]\\]* ]] || return 1
  pairs=$(jq -r 'if type == "object" then to_entries[] | [.key, (.value | if type == "string" then . else "" end)] | @tsv
    else error("not an object") end' <<<"$1" 2>/dev/null) || return 1
  [[ -n $pairs ]] || return 0
  while IFS=$'\t' read -r key rule; do
    [[ ${key%\*} =~ ^/[${url_chars}]*$ && ${key%\*} != *\** ]] || return 1
    parameter_is_statusRule "$rule" || return 1
  done <<<"$pairs"
}

parameter_is_port() {
  [[ -z $1 ]] || { local port=${1##*:}; ((10#$port >= 1 && 10#$port <= 65535)); }
}

parameter_is_rate() {
  [[ -z $1 ]] && return 0
  local whole=${1%%.*} frac=000
  [[ $1 == *.* ]] && frac=${1#*.}000
  local milli=$((10#$whole * 1000 + 10#${frac:0:3}))
  ((milli >= 1 && milli <= 1000000))
}

parameter_problem() { # NAME VALUE
  local v=$2 re
  PARAMETER_PROBLEM=""
  case $1 in
    owner)
      if ! { { re='^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$' && [[ $v =~ $re ]]; } && { re='--' && ! [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a GitHub owner: letters, digits and single '\''-'\'', not at either end, at most 39 characters'; return; fi
      ;;
    repo)
      if ! { { re='^[A-Za-z0-9._-]{1,100}$' && [[ $v =~ $re ]]; } && { re='^[.][.]?$' && ! [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a GitHub repository name: letters, digits, '\''.'\'', '\''-'\'', '\''_'\'', at most 100 characters, not '\''.'\'' or '\''..'\'''; return; fi
      ;;
    pr)
      if ! { { re='^[1-9][0-9]{0,8}$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a positive integer without a leading zero, at most 9 digits'; return; fi
      ;;
    commit)
      if ! { { re='^([0-9a-fA-F]{7,40})?$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be empty (the PR head) or 7 to 40 hexadecimal digits'; return; fi
      ;;
    domain)
      if ! { { re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$' && [[ $v =~ $re ]]; } && ((${#v} <= 194)); }; then PARAMETER_PROBLEM='must be a lowercase DNS name of at least two labels, at most 194 characters (the preview host adds a label of up to 58)'; return; fi
      ;;
    chartPath)
      if ! { parameter_is_ociReference "$v"; }; then PARAMETER_PROBLEM='must be an oci:// reference: oci://<registry>/<path>/<chart>[:<version>]'; return; fi
      if ! { parameter_is_chartPath "$v"; }; then PARAMETER_PROBLEM='must be a relative path without '\''.'\'' or '\''..'\'' segments, or an oci:// reference'; return; fi
      ;;
    valuesFile)
      if ! { parameter_is_relativePath "$v"; }; then PARAMETER_PROBLEM='must be a relative path without '\''.'\'' or '\''..'\'' segments'; return; fi
      ;;
    imageTag)
      if ! { { re='^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be empty (derived from the commit) or an image tag: letters, digits, '\''_'\'', '\''.'\'', '\''-'\'', at most 128, not starting with '\''.'\'' or '\''-'\'''; return; fi
      ;;
    min_success_pct)
      if ! { { re='^(100([.]0+)?|[1-9]?[0-9]([.][0-9]+)?)$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a percentage from 0 to 100 (digits, no leading zero)'; return; fi
      if ! { { re='^0[.][0-9]*[1-9]' && ! [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='is a percentage (0-100); a value between 0 and 1 is ambiguous: write the percentage (95 for 95%)'; return; fi
      ;;
    max_p95_ms)
      if ! { { re='^[1-9][0-9]{0,6}$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a positive integer of milliseconds (at most 7 digits)'; return; fi
      ;;
    requests_per_endpoint)
      if ! { { re='^[1-9][0-9]{0,4}$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 1)); } && { [[ -z $v ]] || ((10#$v <= 10000)); }; }; then PARAMETER_PROBLEM='must be an integer from 1 to 10000'; return; fi
      ;;
    taskId)
      if ! { { re='^[1-9][0-9]{0,8}$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a positive integer without a leading zero, at most 9 digits'; return; fi
      ;;
    service)
      if ! { { re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a DNS-1123 label: lowercase letters, digits, '\''-'\'', at most 63'; return; fi
      ;;
    model)
      if ! { { re='^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a model name: letters, digits, '\''.'\'', '\''_'\'', '\'':'\'', '\''/'\'', '\''-'\'', at most 128, starting with a letter or digit'; return; fi
      ;;
    docsRepository)
      if ! { parameter_is_githubRepository "$v"; }; then PARAMETER_PROBLEM='must be <owner>/<repo> by the owner and repo rules'; return; fi
      ;;
    docsProjectDirectory)
      if ! { parameter_is_repoDirectory "$v"; }; then PARAMETER_PROBLEM='must be '\''.'\'' (the repository'\''s root) or a relative path without '\''.'\'' or '\''..'\'' segments'; return; fi
      ;;
    workingDirectory)
      if ! { parameter_is_repoDirectory "$v"; }; then PARAMETER_PROBLEM='must be '\''.'\'' (the repository'\''s root) or a relative path without '\''.'\'' or '\''..'\'' segments'; return; fi
      ;;
    docsBranch)
      if ! { { re='^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$' && [[ $v =~ $re ]]; } && { re='([.][.]|//|/$|[.]$|[.]lock$)' && ! [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be a branch name: letters, digits, '\''.'\'', '\''_'\'', '\''/'\'', '\''-'\'', without '\''..'\'', '\''//'\'', or a trailing '\''/'\'', '\''.'\'' or '\''.lock'\'''; return; fi
      ;;
    continueSession)
      if ! { { re='^(true|false)$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be true or false'; return; fi
      ;;
    overwriteMemory)
      if ! { { re='^(true|false)$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be true or false'; return; fi
      ;;
    taskRequirements)
      if ! { { re='^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' && [[ $v =~ $re ]]; } && ((${#v} <= 65536)); }; then PARAMETER_PROBLEM='must be empty or base64 (A-Z, a-z, 0-9, '\''+'\'', '\''/'\'', padded with '\''='\''), at most 65536 characters'; return; fi
      ;;
    max_p99_ms)
      if ! { { re='^([1-9][0-9]{0,6})?$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be empty (not checked) or a positive integer of milliseconds (at most 7 digits)'; return; fi
      ;;
    judge)
      if ! { { re='^(total|ttfb|server)$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be total, ttfb or server'; return; fi
      ;;
    concurrency)
      if ! { { re='^[1-9][0-9]?$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 1)); } && { [[ -z $v ]] || ((10#$v <= 64)); }; }; then PARAMETER_PROBLEM='must be an integer from 1 to 64'; return; fi
      ;;
    timeout_ms)
      if ! { { re='^[1-9][0-9]{2,4}$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 100)); } && { [[ -z $v ]] || ((10#$v <= 60000)); }; }; then PARAMETER_PROBLEM='must be an integer of milliseconds from 100 to 60000'; return; fi
      ;;
    expect)
      if ! { parameter_is_statusRule "$v"; }; then PARAMETER_PROBLEM='must be status items NNN, Nxx, NNN-MMM (NNN <= MMM) or <NNN (above 100) separated by commas (e.g. 2xx,3xx or <500)'; return; fi
      ;;
    paths)
      if ! { parameter_is_paths "$v"; }; then PARAMETER_PROBLEM='must be empty or a JSON object from a path starting with / (a trailing * makes it a prefix) to a status rule'; return; fi
      ;;
    insecure)
      if ! { { re='^(true|false)$' && [[ $v =~ $re ]]; }; }; then PARAMETER_PROBLEM='must be true or false'; return; fi
      ;;
    connect_to)
      if ! { { re='^([A-Za-z0-9.-]+:[0-9]{1,5})?$' && [[ $v =~ $re ]]; } && parameter_is_port "$v"; }; then PARAMETER_PROBLEM='must be empty or host:port (port 1-65535)'; return; fi
      ;;
    ready_consecutive)
      if ! { { re='^(0|[1-9][0-9]{0,2})$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 0)); } && { [[ -z $v ]] || ((10#$v <= 100)); }; }; then PARAMETER_PROBLEM='must be an integer from 0 (no readiness wait) to 100'; return; fi
      ;;
    ready_timeout_s)
      if ! { { re='^[1-9][0-9]{0,2}$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 1)); } && { [[ -z $v ]] || ((10#$v <= 170)); }; }; then PARAMETER_PROBLEM='must be an integer of seconds from 1 to 170'; return; fi
      ;;
    rate)
      if ! { { re='^([0-9]{1,4}([.][0-9]{1,3})?)?$' && [[ $v =~ $re ]]; } && parameter_is_rate "$v"; }; then PARAMETER_PROBLEM='must be empty (closed model) or requests per second, more than 0 and at most 1000, with at most 3 decimals'; return; fi
      ;;
    duration_s)
      if ! { { re='^[1-9][0-9]{0,2}$' && [[ $v =~ $re ]]; } && { [[ -z $v ]] || ((10#$v >= 1)); } && { [[ -z $v ]] || ((10#$v <= 170)); }; }; then PARAMETER_PROBLEM='must be an integer of seconds from 1 to 170'; return; fi
      ;;
    *) PARAMETER_PROBLEM="is not a parameter of components/parameters.ts" ;;
  esac
}

check_parameter() { # NAME VALUE [SUFFIX]
  parameter_problem "$1" "$2"
  [[ -z $PARAMETER_PROBLEM ]] || bad "$1" "$PARAMETER_PROBLEM${3-}"
}

PARAMETERS_SUBMITTED=(owner repo pr commit domain chartPath valuesFile imageTag min_success_pct max_p95_ms requests_per_endpoint taskId service model docsRepository docsProjectDirectory workingDirectory docsBranch continueSession overwriteMemory taskRequirements)
PARAMETERS_FILLED=(min_success_pct max_p95_ms requests_per_endpoint taskId service docsRepository)
PARAMETERS_ACCEPTANCE=(min_success_pct max_p95_ms requests_per_endpoint max_p99_ms judge concurrency timeout_ms expect paths insecure connect_to ready_consecutive ready_timeout_s rate duration_s)
PARAMETERS_DEPLOY=(owner repo pr commit chartPath valuesFile imageTag)
PARAMETERS_CONFIGURED=(min_success_pct max_p95_ms requests_per_endpoint max_p99_ms judge concurrency timeout_ms expect paths insecure connect_to ready_consecutive ready_timeout_s rate duration_s)
declare -A PARAMETER_ENV=([owner]=OWNER [repo]=REPO [pr]=PR [commit]=COMMIT [domain]=DOMAIN [chartPath]=CHART_PATH [valuesFile]=VALUES_FILE [imageTag]=IMAGE_TAG [min_success_pct]=MIN_SUCCESS_PCT [max_p95_ms]=MAX_P95_MS [requests_per_endpoint]=REQUESTS_PER_ENDPOINT [taskId]=TASK_ID [service]=SERVICE [model]=MODEL [docsRepository]=DOCS_REPOSITORY [docsProjectDirectory]=DOCS_PROJECT_DIRECTORY [workingDirectory]=WORKING_DIRECTORY [docsBranch]=DOCS_BRANCH [continueSession]=CONTINUE_SESSION [overwriteMemory]=OVERWRITE_MEMORY [taskRequirements]=TASK_REQUIREMENTS [max_p99_ms]=MAX_P99_MS [judge]=JUDGE [concurrency]=CONCURRENCY [timeout_ms]=TIMEOUT_MS [expect]=EXPECT [paths]=PATHS [insecure]=INSECURE [connect_to]=CONNECT_TO [ready_consecutive]=READY_CONSECUTIVE [ready_timeout_s]=READY_TIMEOUT_S [rate]=RATE [duration_s]=DURATION_S)
ACCEPTANCE_BUDGET_SECONDS=170
declare -A PARAMETER_OUTPUT=([owner]=owner [repo]=repo [pr]=pr [commit]=commit [domain]=domain [chartPath]=chartPath [valuesFile]=valuesFile [imageTag]=image_tag [min_success_pct]=min_success_pct [max_p95_ms]=max_p95_ms [requests_per_endpoint]=requests_per_endpoint [taskId]=task-id [service]=service-id [model]=model [docsRepository]=docs-repository-url [docsProjectDirectory]=docs-project-directory [workingDirectory]=working-directory [docsBranch]=docs-branch [continueSession]=continue-session [overwriteMemory]=overwrite-memory [taskRequirements]=task-requirements [max_p99_ms]=max_p99_ms [judge]=judge [concurrency]=concurrency [timeout_ms]=timeout_ms [expect]=expect [paths]=paths [insecure]=insecure [connect_to]=connect_to [ready_consecutive]=ready_consecutive [ready_timeout_s]=ready_timeout_s [rate]=rate [duration_s]=duration_s)
