#!/usr/bin/env bash
# acceptance: black-box HTTP testing of the preview from the outside. First waits until every
# endpoint answers as expected K times in a row (readiness; not in the statistics), then sends the
# measured requests (closed model: `concurrency` in flight; open model: `rate` starts per second on a
# fixed schedule, latency measured from each scheduled start), times every request by phase with
# curl's own timers (never `date` around a process), and judges the figures against the thresholds.
# Writes the evidence whatever the outcome.
#
# Exit: 0 pass (every threshold holds), 1 fail (a threshold missed), 2 error (could not measure:
# bad input, bad urls.json (an endpoint on another host than the preview's included), a tool missing, an endpoint never ready, the load generator could not keep
# its schedule). report.json's "verdict" says the same; with "error" nothing was judged.
#
# Env (every value validated before any request; a bad one prints `ERROR: <input>: <rule>` for each
# bad input and exits 2 without measuring):
#   URLS_FILE              urls.json from deploy: {ns, release, hosts: [..], endpoints: [{host, path, url}],
#                          warnings: [..]}. Each endpoint's url is tested, and https://<host>/ for a host
#                          without endpoints. Its warnings (hosts discovery left out) go into the report.
#   HOST                   the preview's host (set-params' host), a lowercase DNS name. Every endpoint's
#                          host (its url's and its "host") must be HOST or under it (*.HOST): the chart
#                          that produced urls.json is the pull request's, so any other host is refused
#                          before any request (exit 2, each such host named).
#   REPORT_DIR             absolute directory the evidence is written to
#   MIN_SUCCESS_PCT, MAX_P95_MS, MAX_P99_MS, JUDGE, REQUESTS_PER_ENDPOINT, CONCURRENCY, TIMEOUT_MS, EXPECT,
#   PATHS, INSECURE, CONNECT_TO, READY_CONSECUTIVE, READY_TIMEOUT_S, RATE, DURATION_S
#                          the settings as set-params resolved them. Each one's meaning and rule is
#                          defined once, in components/parameters.ts (docs/acceptance.md's table), and
#                          checked here by check_parameter of lib/parameter-rules.sh, generated from it
#   STEP_IMAGE             the step's image, recorded in the report (not validated beyond being text)
#   TMPDIR                 scratch directory (absolute)
#
# Writes REPORT_DIR/report.json, summary.md, responses/ (the raw HTTP responses kept as evidence:
# per endpoint the first response and the first of each failure cause, at most 64 KiB each) and
# logs/requests.log (one line per request with its status, cause and phase timings).
# The figures, the verdict and the summary are jq programs of their own (lib/acceptance-figures.jq,
# lib/percentiles.jq, lib/acceptance-summary.jq), embedded at render as ACCEPTANCE_FIGURES_JQ and
# ACCEPTANCE_SUMMARY_JQ.
set -euo pipefail
export LC_ALL=C

readonly MAX_ENDPOINTS=100
readonly KEEP_BYTES=65536
readonly LATE_US=100000   # an open-model start this far behind its schedule is late
readonly MAX_IN_FLIGHT=256 # open model: curl processes that may run at once, all endpoints together

declare urls_file preview_host report_dir min_success_pct max_p95_ms requests_per_endpoint \
  concurrency timeout_ms expect paths_json insecure connect_to tmp_root max_p99_ms judge \
  ready_consecutive ready_timeout_s rate duration_s step_image
input urls_file URLS_FILE
input preview_host HOST
input report_dir REPORT_DIR
input min_success_pct MIN_SUCCESS_PCT
input max_p95_ms MAX_P95_MS
input requests_per_endpoint REQUESTS_PER_ENDPOINT
input concurrency CONCURRENCY
input timeout_ms TIMEOUT_MS
input expect EXPECT
input paths_json PATHS
input insecure INSECURE
input connect_to CONNECT_TO
input tmp_root TMPDIR
input max_p99_ms MAX_P99_MS
input judge JUDGE
input ready_consecutive READY_CONSECUTIVE
input ready_timeout_s READY_TIMEOUT_S
input rate RATE
input duration_s DURATION_S
input step_image STEP_IMAGE
: "${tmp_root:=/tmp}"

safe_path='^/[A-Za-z0-9._/-]*$'
status_item='^([1-5]xx|[1-5][0-9][0-9]|[1-5][0-9][0-9]-[1-5][0-9][0-9]|<[1-6][0-9][0-9])$'
url_chars="A-Za-z0-9._~!\$&'()*+,;=:@%/?-"
url_re="^(https?)://([A-Za-z0-9.-]+)(:([0-9]{1,5}))?(/[${url_chars}]*)?$"
path_key_re="^/[${url_chars}]*$"
host_re='^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$'

# Prints the status ranges ("lo-hi lo-hi") of a status rule; returns 1 when the rule is not valid.
rule_ranges() {
  local rule=${1// /} item out=() lo hi
  [[ -n $rule ]] || return 1
  local IFS=,
  for item in $rule; do
    [[ $item =~ $status_item ]] || return 1
    case $item in
      ?xx) out+=("${item:0:1}00-${item:0:1}99") ;;
      "<"*) hi=$((10#${item:1} - 1)); ((hi >= 100)) || return 1; out+=("100-$hi") ;;
      *-*) lo=${item%-*}; hi=${item#*-}; ((10#$lo <= 10#$hi)) || return 1; out+=("$lo-$hi") ;;
      *) out+=("$item-$item") ;;
    esac
  done
  [[ -n $item ]] || return 1
  IFS=' '
  printf '%s' "${out[*]}"
}

# ---- inputs ----------------------------------------------------------------------------------
is_dns_name "$preview_host" || bad host "must be the preview's host (set-params' host), a lowercase DNS name"
if [[ $report_dir != /* ]]; then bad REPORT_DIR "must be an absolute directory path"; fi
if ! [[ $tmp_root =~ $safe_path ]]; then bad TMPDIR "must be an absolute path of letters, digits, '.', '_', '-', '/'"; fi
# The settings: each by its rule in lib/parameter-rules.sh (components/parameters.ts), the rule
# set-params and the stack config's schema apply too, so nothing reaches here that they let through
# and this refuses. The raw env is checked (an empty value is not defaulted here: set-params fills
# every setting in).
declare -A settings=()
for name in "${PARAMETERS_ACCEPTANCE[@]}"; do
  input "settings[$name]" "${PARAMETER_ENV[$name]}"
  check_parameter "$name" "${settings[$name]}"
done
default_ranges=$(rule_ranges "$expect") || true
# PATHS (valid by now, or reported above): a JSON object from path (or prefix ending in *) to a status rule.
path_keys=()
path_ranges=()
if [[ -n $paths_json ]] && command -v jq >/dev/null 2>&1 &&
  path_tsv=$(jq -r 'if type == "object" then to_entries[] | [.key, (.value | if type == "string" then . else "" end)] | @tsv else error("not an object") end' <<<"$paths_json" 2>/dev/null); then
  while IFS=$'\t' read -r key rule; do
    [[ -n $key || -n $rule ]] || continue
    if r=$(rule_ranges "$rule"); then
      path_keys+=("$key")
      path_ranges+=("$r")
    fi
  done <<<"$path_tsv"
fi

for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || bad "$tool" "is required on PATH and missing"
done
if command -v curl >/dev/null 2>&1; then
  curl_full_version=$(curl --version 2>/dev/null | head -n 1 || true)
  read -r _ curl_version _ <<<"$curl_full_version"
  # --parallel with per-transfer %{urlnum}, %{exitcode} and %{errormsg} need curl 7.75.
  if ! [[ ${curl_version-} =~ ^([0-9]+)\.([0-9]+) ]] ||
    ((10#${BASH_REMATCH[1]} * 1000 + 10#${BASH_REMATCH[2]} < 7075)); then
    bad curl "must be version 7.75 or later (found '${curl_version-unknown}')"
  fi
fi

# Writes an error report (when the report directory is usable), prints the errors and exits 2.
error_exit() {
  printf '%s\n' "$@" >&2
  if [[ $report_dir == /* ]] && command -v jq >/dev/null 2>&1 && mkdir -p "$report_dir" 2>/dev/null; then
    local ts
    utc_time ts -1
    jq -n --arg ts "$ts" --arg ns "${namespace-}" --arg image "$step_image" \
      --arg curl_version "${curl_full_version-}" \
      --arg min "$min_success_pct" --arg p95 "$max_p95_ms" '
      {verdict: "error", exit_code: 2, judged: false,
       note: "nothing was judged: the measurement could not be made",
       errors: $ARGS.positional,
       summary: {success_pct: null, p95_ms: null, total_requests: 0, successful_requests: 0, failed_requests: 0},
       thresholds: {min_success_pct: (try ($min | tonumber) catch $min), max_p95_ms: (try ($p95 | tonumber) catch $p95)},
       checks: [],
       environment: {namespace: $ns, timestamp: $ts, curl_version: $curl_version, image: $image}}' --args "$@" >"$report_dir/report.json" 2>/dev/null || true
    {
      printf '## Acceptance: error (nothing was judged)\n\n'
      printf -- '- %s\n' "$@"
    } >"$report_dir/summary.md" 2>/dev/null || true
  fi
  exit 2
}

if ((${#errors[@]} > 0)); then error_exit "${errors[@]}"; fi

# ---- urls.json -------------------------------------------------------------------------------
[[ -f $urls_file && -r $urls_file ]] || error_exit "ERROR: deploy-urls: $urls_file is missing or unreadable"
if ! targets=$(jq -r '
    if type != "object" then error("not an object") else . end
    | (.endpoints // []) as $eps | (.hosts // []) as $hosts
    | if ($eps | type) != "array" or ($hosts | type) != "array" then error("endpoints and hosts must be arrays") else . end
    | ($eps | map(select(type == "object") | .host)) as $covered
    | ($eps[] | if type == "object" then [(.url | tostring), (.host // "" | tostring), (.path // "" | tostring)] else ["", "", ""] end),
      ($hosts[] | tostring | select(. as $h | $covered | index([$h]) | not) | ["https://" + . + "/", ., "/"])
    | @tsv' "$urls_file" 2>/dev/null); then
  error_exit "ERROR: deploy-urls: is not urls.json ({ns, release, hosts: [..], endpoints: [{host, path, url}]})"
fi
namespace=$(jq -r '.ns // "" | tostring' "$urls_file")
# What discovery left out (hosts that are not the preview's), carried into the report: at most 20, short.
discovery_warnings=$(jq -c '[(.warnings // []) | if type == "array" then .[] else empty end | tostring | .[0:300]] | .[0:20]' "$urls_file") || discovery_warnings='[]'
release=$(jq -r '.release // "" | tostring' "$urls_file")
[[ $namespace =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$ ]] || error_exit "ERROR: deploy-urls: ns must be a DNS-1123 label"
[[ $release =~ ^([a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?)?$ ]] || error_exit "ERROR: deploy-urls: release must be a DNS-1123 label"

ep_url=()
ep_host=()
ep_path=()
ep_ranges=()
foreign_hosts=()
# The preview's host or a host under it; DNS names are case-insensitive.
is_preview_host() { [[ ${1,,} == "$preview_host" || ${1,,} == *".$preview_host" ]]; }
while IFS=$'\t' read -r url host path; do
  [[ -n $url || -n $host ]] || continue
  if ! [[ $url =~ $url_re ]]; then
    errors+=("ERROR: deploy-urls: endpoint url '$url' must be http(s)://host[:port]/path without spaces, quotes or brackets")
    continue
  fi
  url_host=${BASH_REMATCH[2]}
  url_path=${BASH_REMATCH[5]%%\?*}
  if [[ -n ${BASH_REMATCH[4]} ]] && ((10#${BASH_REMATCH[4]} < 1 || 10#${BASH_REMATCH[4]} > 65535)); then
    errors+=("ERROR: deploy-urls: endpoint url '$url' has a port outside 1-65535")
    continue
  fi
  [[ $url_host =~ $host_re ]] || { errors+=("ERROR: deploy-urls: host of '$url' is not a DNS name or IPv4 address"); continue; }
  : "${host:=$url_host}"
  [[ $host =~ $host_re ]] || { errors+=("ERROR: deploy-urls: host '$host' is not a DNS name"); continue; }
  for h in "$url_host" "$host"; do
    if ! is_preview_host "$h" && [[ " ${foreign_hosts[*]} " != *" ${h,,} "* ]]; then foreign_hosts+=("${h,,}"); fi
  done
  [[ -n $path ]] || path=${url_path:-/}
  [[ $path =~ $path_key_re ]] || { errors+=("ERROR: deploy-urls: path '$path' must start with /"); continue; }
  dup=false
  for u in "${ep_url[@]}"; do [[ $u != "$url" ]] || dup=true; done
  $dup && continue
  # The path's rule: an exact key, else the longest matching prefix key, else EXPECT.
  ranges=$default_ranges best=-1
  for i in "${!path_keys[@]}"; do
    key=${path_keys[i]}
    if [[ $key == "$path" ]]; then ranges=${path_ranges[i]}; best=100000; break; fi
    if [[ $key == *\* && $path == "${key%\*}"* ]] && ((${#key} > best)); then ranges=${path_ranges[i]}; best=${#key}; fi
  done
  ep_url+=("$url")
  ep_host+=("$host")
  ep_path+=("$path")
  ep_ranges+=("$ranges")
done <<<"$targets"
for h in "${foreign_hosts[@]}"; do
  errors+=("ERROR: host: urls.json names $h, which is not the preview host $preview_host or under it (*.$preview_host); acceptance requests only the preview, so nothing was requested")
done
if ((${#errors[@]} > 0)); then error_exit "${errors[@]}"; fi
endpoints=${#ep_url[@]}
((endpoints > 0)) || error_exit "ERROR: deploy-urls: has no endpoints and no hosts: nothing to test"
((endpoints <= MAX_ENDPOINTS)) || error_exit "ERROR: deploy-urls: has $endpoints endpoints; at most $MAX_ENDPOINTS are tested"

# ---- budget: the worst case must fit in the seed's 3 minutes -----------------------------------
n=$((10#$requests_per_endpoint))
c=$((10#$concurrency))
t_ms=$((10#$timeout_ms))
t_us=$((t_ms * 1000))
k=$((10#$ready_consecutive))
ready_s=$((10#$ready_timeout_s))
((k > 0)) || ready_s=0
dur_s=$((10#$duration_s))
# The rule set-params applied already (lib/acceptance-budget.sh), held again here: the settings are this step's inputs.
acceptance_budget_problem settings
[[ -z $BUDGET_PROBLEM ]] || error_exit "ERROR: $BUDGET_INPUT: $BUDGET_PROBLEM"
# shellcheck disable=SC2153 # set by acceptance_budget_problem (lib/acceptance-budget.sh)
rate_milli=$RATE_MILLI
if ((rate_milli > 0)); then
  model=open
  scheduled=$((rate_milli * dur_s / 1000))
  # Every scheduled request may still be running when the next starts, until its timeout.
  in_flight=$(((rate_milli * t_ms + 999999) / 1000000 + 1))
  if ((in_flight * endpoints > MAX_IN_FLIGHT)); then
    error_exit "ERROR: rate: $rate per second with timeout_ms $t_ms may keep $((in_flight * endpoints)) requests in flight over $endpoints endpoints; at most $MAX_IN_FLIGHT (lower rate or timeout_ms)"
  fi
else
  model=closed
  scheduled=$n
fi

# ---- setup -----------------------------------------------------------------------------------
work=$(mktemp -d "$tmp_root/acceptance.XXXXXX")
# Anything that breaks after this point is a broken measurement: exit 2 with an error report.
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
  local rc=$?
  trap - EXIT
  rm -rf "$work"
  if ((rc > 2)); then error_exit "ERROR: acceptance: the step broke (exit $rc) before it could judge; see the log above"; fi
  exit "$rc"
}
trap on_exit EXIT
mkdir -p "$report_dir/responses" "$report_dir/logs" "$work/ready"
for ((e = 0; e < endpoints; e++)); do mkdir -p "$work/e$e"; done

# Microseconds as seconds with 3 decimals (whole milliseconds, at least one) for curl's --max-time,
# into $secs: curl 8.14 reads a fraction of exactly six digits as ten times less (--max-time
# 0.300000 gives up after 30 ms).
curl_seconds() {
  local ms=$(($1 / 1000))
  ((ms > 0)) || ms=1
  printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
# Sleeps without a process: read on a FIFO nobody writes to times out after the given microseconds
# (read -t takes seconds with up to 6 decimals).
mkfifo "$work/sleep.fifo"
exec {sleep_fd}<>"$work/sleep.fifo"
sleep_us() {
  local wait
  if (($1 > 0)); then
    printf -v wait '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000))
    read -r -t "$wait" -u "$sleep_fd" _ || true
  fi
}

# One fresh HTTP/1.1 connection per request (Connection: close): every sample pays what a new
# visitor pays (DNS, TCP, TLS). Redirects are not followed: a 3xx is an answer.
curl_args=(-q --silent --show-error --no-progress-meter --globoff --http1.1 --proto "=http,https" --include
  --header "Connection: close" --user-agent "implementation-dag-acceptance/1")
if [[ $insecure == true ]]; then curl_args+=(--insecure); fi
if [[ -n $connect_to ]]; then curl_args+=(--connect-to "::$connect_to"); fi
# One tab-separated line per transfer, timers in seconds as curl measures them.
wfmt='%{urlnum}\t%{http_code}\t%{exitcode}\t%{time_namelookup}\t%{time_connect}\t%{time_appconnect}\t%{time_pretransfer}\t%{time_starttransfer}\t%{time_total}\t%{size_download}\t%{num_connects}\t%{errormsg}\n'
curl_seconds "$t_us"
max_time=$secs

# Whether an HTTP status is in an endpoint's ranges ("lo-hi lo-hi").
status_ok() {
  local status=$1 range
  for range in $2; do
    if ((10#$status >= 10#${range%-*} && 10#$status <= 10#${range#*-})); then return 0; fi
  done
  return 1
}

declare timestamp
utc_time timestamp -1

# ---- readiness: K expected answers in a row per endpoint, not in the statistics ----------------
# Writes ready/e<i>.w (one curl line per probe) and ready/e<i>.result: "ready|not_ready <us> <probes>".
ready_endpoint() {
  local e=$1 start=$2 deadline=$(($2 + ready_s * 1000000)) now left probes=0 streak=0 line status rc
  while :; do
    now=${EPOCHREALTIME/./}
    left=$((deadline - now))
    if ((left < 100000)); then
      printf 'not_ready\t%d\t%d\n' $((now - start)) "$probes" >"$work/ready/e$e.result"
      return 0
    fi
    probes=$((probes + 1))
    curl_seconds $((left < t_us ? left : t_us))
    line=$(curl "${curl_args[@]}" --max-time "$secs" -o /dev/null \
      -w "$wfmt" --url "${ep_url[e]}" 2>/dev/null) || true
    printf 'ready\t%d\t%d\t\t0\t%s\n' "$e" "$probes" "$line" >>"$work/ready/e$e.w"
    IFS=$'\t' read -r _ status rc _ <<<"$line"
    if [[ ${rc-} == 0 && ${status-} =~ ^[0-9]{3}$ ]] && status_ok "$status" "${ep_ranges[e]}"; then
      streak=$((streak + 1))
      if ((streak >= k)); then
        printf 'ready\t%d\t%d\n' $((${EPOCHREALTIME/./} - start)) "$probes" >"$work/ready/e$e.result"
        return 0
      fi
      sleep_us 100000
    else
      streak=0
      sleep_us 500000
    fi
  done
}

measure_errors=()
if ((k > 0)); then
  ready_start=${EPOCHREALTIME/./}
  pids=()
  for ((e = 0; e < endpoints; e++)); do
    ready_endpoint "$e" "$ready_start" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  for ((e = 0; e < endpoints; e++)); do
    IFS=$'\t' read -r state _ _ <"$work/ready/e$e.result" || state=broken
    if [[ $state != ready ]]; then
      measure_errors+=("ERROR: readiness: ${ep_url[e]} did not answer as expected ($k in a row) within ${ready_s} s; nothing was measured")
    fi
  done
fi

# ---- measure ---------------------------------------------------------------------------------
# Closed model: one curl per endpoint keeps `concurrency` transfers in flight, each timed by curl.
measure_closed() {
  local e pids=()
  for ((e = 0; e < endpoints; e++)); do
    for ((i = 1; i <= n; i++)); do
      printf 'url = "%s"\noutput = "%s/e%d/%d.http"\n' "${ep_url[e]}" "$work" "$e" "$i"
    done >"$work/e$e.curlrc"
    curl "${curl_args[@]}" --max-time "$max_time" --parallel --parallel-immediate --parallel-max "$c" -w "$wfmt" \
      --config "$work/e$e.curlrc" >"$work/e$e.w" 2>"$work/e$e.err" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}

# Open model, one endpoint: request i starts at t0 + i/rate whatever the earlier ones are doing;
# its lag behind the schedule is recorded (and added to its latency). A start more than timeout_ms
# behind is dropped. Writes e<i>.sched: "started|dropped <seq> <scheduled offset us> <lag us>".
# Requests in flight stay bounded: each ends within timeout_ms (checked against MAX_IN_FLIGHT above).
open_endpoint() {
  local e=$1 t0=$2 i sched now lag out=()
  for ((i = 0; i < scheduled; i++)); do
    sched=$((t0 + i * 1000000000 / rate_milli))
    now=${EPOCHREALTIME/./}
    if ((sched > now)); then
      sleep_us $((sched - now))
      now=${EPOCHREALTIME/./}
    fi
    lag=$((now - sched))
    if ((lag > t_us)); then
      out+=("dropped $((i + 1)) $((sched - t0)) $lag")
      continue
    fi
    curl "${curl_args[@]}" --max-time "$max_time" -o "$work/e$e/$((i + 1)).http" -w "$wfmt" --url "${ep_url[e]}" \
      >"$work/e$e/$((i + 1)).w" 2>/dev/null &
    out+=("started $((i + 1)) $((sched - t0)) $lag")
  done
  wait || true
  printf '%s\n' "${out[@]}" >"$work/e$e.sched"
}

measure_open() {
  local e pids=() t0
  t0=$((${EPOCHREALTIME/./} + 100000))
  for ((e = 0; e < endpoints; e++)); do
    open_endpoint "$e" "$t0" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}

measure_us=0
if ((${#measure_errors[@]} == 0)); then
  measure_start=${EPOCHREALTIME/./}
  if [[ $model == open ]]; then measure_open; else measure_closed; fi
  measure_us=$((${EPOCHREALTIME/./} - measure_start))
fi

# All requests as one table: phase, endpoint, seq, scheduled offset us, lag us, then curl's fields
# (closed-model rows take their seq from curl's urlnum).
late=0
dropped=0
for ((e = 0; e < endpoints; e++)); do
  if [[ -f $work/ready/e$e.w ]]; then cat "$work/ready/e$e.w"; fi
  ((${#measure_errors[@]} == 0)) || continue
  lines=0
  if [[ $model == closed ]]; then
    while IFS= read -r line; do
      printf 'measure\t%d\t\t\t0\t%s\n' "$e" "$line"
      lines=$((lines + 1))
    done <"$work/e$e.w"
  else
    while read -r state seq offset lag; do
      if [[ $state == dropped ]]; then
        printf 'dropped\t%d\t%d\t%d\t%d\n' "$e" "$seq" "$offset" "$lag"
        dropped=$((dropped + 1))
        lines=$((lines + 1))
        continue
      fi
      ((lag <= LATE_US)) || late=$((late + 1))
      line=
      if [[ -f $work/e$e/$seq.w ]]; then IFS= read -r line <"$work/e$e/$seq.w" || true; fi
      [[ -n $line ]] || continue
      printf 'measure\t%d\t%d\t%d\t%d\t%s\n' "$e" "$seq" "$offset" "$lag" "$line"
      lines=$((lines + 1))
    done <"$work/e$e.sched"
  fi
  if ((lines != scheduled)); then
    measure_errors+=("ERROR: curl: reported $lines of $scheduled requests to ${ep_url[e]} (the measurement broke)")
  fi
done >"$work/requests.tsv"
if [[ $model == open ]] && ((${#measure_errors[@]} == 0 && (late + dropped) * 100 > scheduled * endpoints)); then
  measure_errors+=("ERROR: rate: the load generator could not keep up: $late late (over $((LATE_US / 1000)) ms) and $dropped dropped of $((scheduled * endpoints)) scheduled starts, over 1%; the figures are not trustworthy")
fi

for ((e = 0; e < endpoints; e++)); do
  ready_field=-
  if [[ -f $work/ready/e$e.result ]]; then ready_field=$(tr '\t' ' ' <"$work/ready/e$e.result"); fi
  printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$e" "${ep_url[e]}" "${ep_host[e]}" "${ep_path[e]}" "${ep_ranges[e]}" "$ready_field"
done >"$work/endpoints.tsv"

# ---- figures and verdict ---------------------------------------------------------------------
# lib/acceptance-figures.jq (embedded as ACCEPTANCE_FIGURES_JQ) parses the requests once; $mode
# picks the report or the request log.
figures() {
  local p99=null
  if [[ -n $max_p99_ms ]]; then p99=$((10#$max_p99_ms)); fi
  jq -n -r --arg mode "$1" --rawfile endpoints "$work/endpoints.tsv" --rawfile requests "$work/requests.tsv" \
    --argjson min "$min_success_pct" --argjson p95 "$((10#$max_p95_ms))" --argjson p99 "$p99" \
    --arg judge "$judge" --arg model "$model" \
    --argjson n "$n" --argjson c "$c" --argjson timeout "$t_ms" --argjson wall "$measure_us" \
    --argjson rate "$(if ((rate_milli > 0)); then printf '%d.%03d' $((rate_milli / 1000)) $((rate_milli % 1000)); else printf null; fi)" \
    --argjson duration "$dur_s" --argjson scheduled "$scheduled" --argjson late "$late" --argjson late_ms $((LATE_US / 1000)) \
    --argjson ready_k "$k" --argjson ready_s "$ready_s" --argjson discovery_warnings "$discovery_warnings" \
    --argjson errors "$(if ((${#measure_errors[@]} > 0)); then printf '%s\n' "${measure_errors[@]}" | jq -R . | jq -s .; else printf '[]'; fi)" \
    --arg ns "$namespace" --arg release "$release" --arg ts "$timestamp" \
    --arg curl_version "$curl_full_version" --arg image "$step_image" "$ACCEPTANCE_FIGURES_JQ"
}
figures report >"$report_dir/report.json"
figures log >"$report_dir/logs/requests.log"
if ((${#measure_errors[@]} > 0)); then printf '%s\n' "${measure_errors[@]}" >&2; fi

# ---- evidence --------------------------------------------------------------------------------
# The raw responses the report names: per endpoint the first and the first of each failure cause.
jq -r '.endpoints | to_entries[] | .key as $e | .value.responses[] | "\($e)\t\(.seq)\t\(.file)"' \
  "$report_dir/report.json" >"$work/keep.tsv"
while IFS=$'\t' read -r e seq file; do
  src="$work/e$e/$seq.http"
  if [[ -f $src ]]; then head -c "$KEEP_BYTES" "$src" >"$report_dir/$file"; fi
done <"$work/keep.tsv"

# The Markdown summary: lib/acceptance-summary.jq, embedded as ACCEPTANCE_SUMMARY_JQ.
jq -r "$ACCEPTANCE_SUMMARY_JQ" "$report_dir/report.json" >"$report_dir/summary.md"

verdict=$(jq -r .verdict "$report_dir/report.json")
jq -r '"acceptance: \(.verdict): success \(.summary.success_pct)% of \(.summary.total_requests) requests, p95 \(.summary.p95_ms) ms (\(.method.judged_label))"' "$report_dir/report.json"
case $verdict in
  pass) exit 0 ;;
  fail) exit 1 ;;
  *) exit 2 ;;
esac
