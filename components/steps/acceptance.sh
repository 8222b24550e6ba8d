#!/usr/bin/env bash
# acceptance: black-box HTTP testing of the preview from the outside. Sends requests to every
# endpoint in urls.json, measures each request with curl's own timers (never `date` around a
# process), and judges the figures against the thresholds. Writes the evidence even when a
# threshold is missed.
#
# Exit: 0 pass (every threshold holds), 1 fail (a threshold missed), 2 error (could not measure:
# bad input, bad urls.json, a tool missing). report.json's "verdict" says the same.
#
# Env (every value validated before any request; a bad one prints `ERROR: <input>: <rule>` for each
# bad input and exits 2 without measuring):
#   URLS_FILE              urls.json from deploy: {ns, release, hosts: [..], endpoints: [{host, path, url}]}.
#                          Each endpoint's url is tested, and https://<host>/ for a host without endpoints.
#   REPORT_DIR             absolute directory the evidence is written to
#   MIN_SUCCESS_PCT        minimum share of successful requests, a percentage 0-100 (a value between
#                          0 and 1 is ambiguous and refused)
#   MAX_P95_MS             maximum p95 latency, positive integer of milliseconds
#   REQUESTS_PER_ENDPOINT  requests sent to each endpoint, 1-10000
#   CONCURRENCY            requests in flight per endpoint, 1-64
#   TIMEOUT_MS             bound of each request (curl --max-time), 100-60000 ms
#   EXPECT                 status rule of a success for paths not listed in PATHS (default 2xx,3xx):
#                          comma-separated items NNN, Nxx, NNN-NNN or <NNN (`<500` = the seed's rule)
#   PATHS                  empty, or a JSON object from a path ("/x", or a prefix "/api/*") to a rule
#   INSECURE               true|false: skip TLS verification
#   CONNECT_TO             empty, or host:port every request is sent to, keeping the URL's Host header
#                          and TLS server name (curl --connect-to), e.g. the ingress controller's Service
#   TMPDIR                 scratch directory (absolute)
#
# Writes REPORT_DIR/report.json, summary.md, responses/ (the raw HTTP responses kept as evidence:
# per endpoint the first response and the first of each failure cause, at most 64 KiB each) and
# logs/requests.log (one line per request with its status, cause and phase timings).
set -euo pipefail
export LC_ALL=C

readonly MAX_ENDPOINTS=100
readonly BUDGET_S=170 # the seed's 3 minutes, less room to start and to write the report
readonly KEEP_BYTES=65536

errors=()
bad() { errors+=("ERROR: $1: $2"); }
value() { printf '%s' "${!1-}"; }

urls_file=$(value URLS_FILE)
report_dir=$(value REPORT_DIR)
min_success_pct=$(value MIN_SUCCESS_PCT)
max_p95_ms=$(value MAX_P95_MS)
requests_per_endpoint=$(value REQUESTS_PER_ENDPOINT)
concurrency=$(value CONCURRENCY)
timeout_ms=$(value TIMEOUT_MS)
expect=$(value EXPECT)
paths_json=$(value PATHS)
insecure=$(value INSECURE)
connect_to=$(value CONNECT_TO)
tmp_root=$(value TMPDIR)
: "${expect:=2xx,3xx}"
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
if [[ $report_dir != /* ]]; then bad REPORT_DIR "must be an absolute directory path"; fi
if ! [[ $tmp_root =~ $safe_path ]]; then bad TMPDIR "must be an absolute path of letters, digits, '.', '_', '-', '/'"; fi
if ! [[ $min_success_pct =~ ^(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)$ ]]; then
  bad min_success_pct "must be a percentage from 0 to 100"
elif [[ $min_success_pct =~ ^0\.[0-9]*[1-9] ]]; then
  bad min_success_pct "is a percentage (0-100); $min_success_pct between 0 and 1 is ambiguous (a fraction where a percentage belongs)"
fi
if ! [[ $max_p95_ms =~ ^[1-9][0-9]{0,6}$ ]]; then
  bad max_p95_ms "must be a positive integer of milliseconds (at most 7 digits)"
fi
if ! [[ $requests_per_endpoint =~ ^[1-9][0-9]{0,4}$ ]] || ((10#$requests_per_endpoint > 10000)); then
  bad requests_per_endpoint "must be an integer from 1 to 10000"
fi
if ! [[ $concurrency =~ ^[1-9][0-9]?$ ]] || ((10#$concurrency > 64)); then
  bad concurrency "must be an integer from 1 to 64"
fi
if ! [[ $timeout_ms =~ ^[1-9][0-9]{2,4}$ ]] || ((10#$timeout_ms < 100 || 10#$timeout_ms > 60000)); then
  bad timeout_ms "must be an integer of milliseconds from 100 to 60000"
fi
if ! default_ranges=$(rule_ranges "$expect"); then
  bad expect "must be status items NNN, Nxx, NNN-NNN or <NNN separated by commas (e.g. 2xx,3xx or <500)"
fi
if [[ $insecure != true && $insecure != false ]]; then
  bad insecure "must be true or false"
fi
if [[ -n $connect_to ]]; then
  if ! [[ $connect_to =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || ((10#${BASH_REMATCH[2]} < 1 || 10#${BASH_REMATCH[2]} > 65535)); then
    bad connect_to "must be empty or host:port (port 1-65535)"
  fi
fi
# PATHS: a JSON object from path (or prefix ending in *) to a status rule.
path_keys=()
path_ranges=()
if [[ -n $paths_json ]]; then
  if ! command -v jq >/dev/null 2>&1; then
    : # reported below with the other tools
  elif ! path_tsv=$(jq -r 'if type == "object" then to_entries[] | [.key, (.value | if type == "string" then . else "" end)] | @tsv else error("not an object") end' <<<"$paths_json" 2>/dev/null); then
    bad paths "must be empty or a JSON object from a path to a status rule, e.g. {\"/health\": \"200\", \"/api/*\": \"<500\"}"
  else
    while IFS=$'\t' read -r key rule; do
      [[ -n $key || -n $rule ]] || continue
      prefix=${key%\*}
      if ! [[ $prefix =~ $path_key_re ]] || [[ $prefix == *\** ]]; then
        bad paths "key '$key' must be a path starting with / (a trailing * makes it a prefix)"
      elif ! r=$(rule_ranges "$rule"); then
        bad paths "rule of '$key' must be status items NNN, Nxx, NNN-NNN or <NNN separated by commas"
      else
        path_keys+=("$key")
        path_ranges+=("$r")
      fi
    done <<<"$path_tsv"
  fi
fi

for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || bad "$tool" "is required on PATH and missing"
done
if command -v curl >/dev/null 2>&1; then
  read -r _ curl_version _ < <(curl --version 2>/dev/null || true)
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
    jq -n --arg ts "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg ns "${namespace-}" \
      --arg min "$min_success_pct" --arg p95 "$max_p95_ms" '
      {verdict: "error", exit_code: 2, judged: false,
       note: "nothing was judged: the measurement could not be made",
       errors: $ARGS.positional,
       summary: {success_pct: null, p95_ms: null, total_requests: 0, successful_requests: 0, failed_requests: 0},
       thresholds: {min_success_pct: (try ($min | tonumber) catch $min), max_p95_ms: (try ($p95 | tonumber) catch $p95)},
       checks: [],
       environment: {namespace: $ns, timestamp: $ts}}' --args "$@" >"$report_dir/report.json" 2>/dev/null || true
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
release=$(jq -r '.release // "" | tostring' "$urls_file")
[[ $namespace =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$ ]] || error_exit "ERROR: deploy-urls: ns must be a DNS-1123 label"
[[ $release =~ ^([a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?)?$ ]] || error_exit "ERROR: deploy-urls: release must be a DNS-1123 label"

ep_url=()
ep_host=()
ep_path=()
ep_ranges=()
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
if ((${#errors[@]} > 0)); then error_exit "${errors[@]}"; fi
endpoints=${#ep_url[@]}
((endpoints > 0)) || error_exit "ERROR: deploy-urls: has no endpoints and no hosts: nothing to test"
((endpoints <= MAX_ENDPOINTS)) || error_exit "ERROR: deploy-urls: has $endpoints endpoints; at most $MAX_ENDPOINTS are tested"

# ---- budget: the worst case must fit in the seed's 3 minutes -----------------------------------
n=$((10#$requests_per_endpoint))
c=$((10#$concurrency))
t_ms=$((10#$timeout_ms))
rounds=$(((n + c - 1) / c))
worst_ms=$((rounds * t_ms))
if ((worst_ms > BUDGET_S * 1000)); then
  error_exit "ERROR: requests_per_endpoint: $n requests at concurrency $c with timeout_ms $t_ms may take $((worst_ms / 1000)) s; the step must finish within ${BUDGET_S} s (raise concurrency or lower timeout_ms)"
fi

# ---- measure ---------------------------------------------------------------------------------
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
mkdir -p "$report_dir/responses" "$report_dir/logs"

max_time=$(printf '%d.%03d' $((t_ms / 1000)) $((t_ms % 1000)))
# One fresh HTTP/1.1 connection per request (Connection: close): every sample pays what a new
# visitor pays (DNS, TCP, TLS). Redirects are not followed: a 3xx is an answer.
curl_args=(-q --silent --show-error --no-progress-meter --globoff --http1.1 --proto "=http,https" --include
  --header "Connection: close" --user-agent "implementation-dag-acceptance/1" --max-time "$max_time")
if [[ $insecure == true ]]; then curl_args+=(--insecure); fi
if [[ -n $connect_to ]]; then curl_args+=(--connect-to "::$connect_to"); fi
# One tab-separated line per transfer, timers in seconds as curl measures them.
wfmt='%{urlnum}\t%{http_code}\t%{exitcode}\t%{time_namelookup}\t%{time_connect}\t%{time_appconnect}\t%{time_pretransfer}\t%{time_starttransfer}\t%{time_total}\t%{size_download}\t%{num_connects}\t%{errormsg}\n'

timestamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
measure_start=${EPOCHREALTIME/./}
pids=()
for ((e = 0; e < endpoints; e++)); do
  mkdir -p "$work/e$e"
  for ((i = 1; i <= n; i++)); do
    printf 'url = "%s"\noutput = "%s/e%d/%d.http"\n' "${ep_url[e]}" "$work" "$e" "$i"
  done >"$work/e$e.curlrc"
  # Closed model: curl keeps `concurrency` transfers of this endpoint in flight, each timed by curl.
  curl "${curl_args[@]}" --parallel --parallel-immediate --parallel-max "$c" -w "$wfmt" \
    --config "$work/e$e.curlrc" >"$work/e$e.w" 2>"$work/e$e.err" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
measure_us=$((${EPOCHREALTIME/./} - measure_start))

# All requests as one table: phase, endpoint, seq, then curl's fields.
for ((e = 0; e < endpoints; e++)); do
  lines=0
  while IFS= read -r line; do
    printf 'measure\t%d\t%s\n' "$e" "$line"
    lines=$((lines + 1))
  done <"$work/e$e.w"
  if ((lines != n)); then
    error_exit "ERROR: curl: reported $lines of $n requests to ${ep_url[e]} (the measurement broke)"
  fi
done >"$work/requests.tsv"

for ((e = 0; e < endpoints; e++)); do
  printf '%d\t%s\t%s\t%s\t%s\n' "$e" "${ep_url[e]}" "${ep_host[e]}" "${ep_path[e]}" "${ep_ranges[e]}"
done >"$work/endpoints.tsv"

# ---- figures and verdict ---------------------------------------------------------------------
# One jq program parses the requests once; $mode picks the report or the request log.
# shellcheck disable=SC2016 # a jq program: $names are jq's
figures_program='
def us: (tonumber * 1000000 | round);
def ms: if . == null then null else (. / 1000 | . * 1000 | round / 1000) end;
def rank($p; $n): ((($p * $n) + 99) / 100 | floor);
def pct($s; $p): $s[rank($p; $s | length) - 1];
# Nearest-rank percentiles of microsecond values, in milliseconds.
def stats: sort as $s | ($s | length) as $n
  | if $n == 0 then {n: 0, min_ms: null, p50_ms: null, p90_ms: null, p95_ms: null, p99_ms: null, max_ms: null, mean_ms: null}
    else {n: $n, min_ms: ($s[0] | ms), p50_ms: (pct($s; 50) | ms), p90_ms: (pct($s; 90) | ms),
          p95_ms: (pct($s; 95) | ms), p99_ms: (pct($s; 99) | ms), max_ms: ($s[-1] | ms),
          mean_ms: (($s | add) / $n | ms)} end;
def cause($exit; $code):
  if $exit == 0 then "status_\($code)"
  elif $exit == 28 then "timeout"
  elif $exit == 7 then "connection_refused"
  elif $exit == 6 then "dns"
  elif ([35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91] | index([$exit])) then "tls"
  elif $exit == 52 then "empty_reply"
  elif $exit == 56 then "connection_reset"
  else "curl_exit_\($exit)" end;
def in_ranges($code; $ranges): any($ranges[]; $code >= .[0] and $code <= .[1]);

($endpoints | split("\n") | map(select(length > 0) | split("\t")
  | {index: (.[0] | tonumber), url: .[1], host: .[2], path: .[3],
     ranges: (.[4] | split(" ") | map(split("-") | map(tonumber)))})) as $eps
| [$requests | split("\n")[] | select(length > 0) | split("\t")
  | (.[1] | tonumber) as $e
  | {phase: .[0], endpoint: $e, seq: ((.[2] | tonumber) + 1), status: (.[3] | tonumber), exit: (.[4] | tonumber),
     nl: (.[5] | us), co: (.[6] | us), ac: (.[7] | us), pt: (.[8] | us), st: (.[9] | us), tt: (.[10] | us),
     bytes: (.[11] | tonumber), connects: (.[12] | tonumber), error: (.[13:] | join(" "))}
  | .dns = .nl
  | .connect = (if .co > 0 then .co - .nl else 0 end)
  | .tls = (if .ac > 0 then .ac - .co else 0 end)
  | .ttfb = .st
  | .server = (if .st > 0 then .st - .pt else 0 end)
  | .total = .tt
  | .latency = .total
  | .ok = (.exit == 0 and in_ranges(.status; $eps[$e].ranges))
  | .cause = (if .ok then null else cause(.exit; .status) end)] as $reqs
| if $mode == "log" then
    ["# phase", "endpoint", "seq", "status", "exit", "result", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "server_ms", "total_ms", "bytes", "url", "error"],
    ($reqs[] | [.phase, "e\(.endpoint)", .seq, .status, .exit, (.cause // "ok"),
                (.dns, .connect, .tls, .ttfb, .server, .total | ms), .bytes, $eps[.endpoint].url,
                (if .error == "" then "-" else .error end)])
    | @tsv
  else
  def figures($rs):
    ($rs | length) as $n | ($rs | map(select(.ok))) as $good
    | {success_pct: (if $n == 0 then null else ($good | length) * 100 / $n | . * 1000 | round / 1000 end),
       total_requests: $n, successful_requests: ($good | length), failed_requests: ($n - ($good | length)),
       latency: ($good | map(.latency) | stats),
       failures_by_cause: ($rs | map(select(.ok | not) | .cause) | group_by(.) | map({key: .[0], value: length}) | from_entries)};
  def checks($scope; $f):
    [{name: "success_pct", scope: $scope, metric: "success %", op: ">=", value: $f.success_pct, limit: $min,
      n: $f.total_requests,
      verdict: (if $f.total_requests > 0 and $f.successful_requests * 100 >= $min * $f.total_requests then "pass" else "fail" end)},
     {name: "p95_ms", scope: $scope, metric: "p95 of total (ms)", op: "<=", value: $f.latency.p95_ms, limit: $p95,
      n: $f.latency.n,
      verdict: (if $f.latency.p95_ms != null and $f.latency.p95_ms <= $p95 then "pass" else "fail" end)}];
  # Ten buckets of a round width over the successful requests latencies.
  def histogram($vals):
    if ($vals | length) == 0 then null
    else ($vals | max / 1000 / 10) as $raw
      | ([1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 60000] | map(select(. >= $raw)) | first // 60000) as $w
      | ($vals | map(. / 1000 / $w | floor) | max + 1) as $nb
      | {bucket_ms: $w, buckets: [range(0; $nb) as $b | {from_ms: ($b * $w), to_ms: (($b + 1) * $w),
                                   count: ($vals | map(select(. / 1000 >= $b * $w and . / 1000 < ($b + 1) * $w)) | length)}]}
    end;
  figures($reqs) as $all
  | ($eps | map(. as $ep | ($reqs | map(select(.endpoint == $ep.index))) as $rs | figures($rs) as $f
      | {url, host, path, expect: (.ranges | map("\(.[0])-\(.[1])") | join(",")), figures: $f,
         responses: ([($rs | min_by(.seq) | {name: "first", seq, status}),
                      ($rs | map(select(.ok | not)) | group_by(.cause)[] | min_by(.seq) | {name: .cause, seq, status})]
                     | map(select(.status > 0) | {name, seq, file: "responses/e\($ep.index)-\(.name).http"}))})) as $per
  | (checks("overall"; $all) + ($per | map(checks(.url; .figures)) | add)) as $checks
  | ($checks | all(.verdict == "pass")) as $passed
  | {verdict: (if $passed then "pass" else "fail" end),
     exit_code: (if $passed then 0 else 1 end),
     judged: true,
     summary: {success_pct: $all.success_pct, p95_ms: $all.latency.p95_ms, total_requests: $all.total_requests,
               successful_requests: $all.successful_requests, failed_requests: $all.failed_requests,
               p50_ms: $all.latency.p50_ms, p90_ms: $all.latency.p90_ms, p99_ms: $all.latency.p99_ms,
               max_ms: $all.latency.max_ms, min_ms: $all.latency.min_ms, mean_ms: $all.latency.mean_ms,
               failures_by_cause: $all.failures_by_cause},
     thresholds: {min_success_pct: $min, max_p95_ms: $p95},
     checks: $checks,
     method: {latency: "curl time_total of each request: DNS + connect + TLS + request + response, a fresh connection per request",
              percentiles: "nearest rank over successful requests", model: "closed"},
     load: {requests_per_endpoint: $n, concurrency: $c, timeout_ms: $timeout, measure_wall_ms: ($wall | ms)},
     histogram: histogram($reqs | map(select(.ok) | .latency)),
     endpoints: $per,
     warnings: ([$checks[] | select(.name == "p95_ms" and .n > 0 and .n < 20)
                 | "p95 of \(.scope) is over \(.n) samples (fewer than 20): by nearest rank it is the slowest request"] | unique),
     environment: {namespace: $ns, release: $release, timestamp: $ts}}
  end
'
figures() {
  jq -n -r --arg mode "$1" --rawfile endpoints "$work/endpoints.tsv" --rawfile requests "$work/requests.tsv" \
    --argjson min "$min_success_pct" --argjson p95 "$((10#$max_p95_ms))" \
    --argjson n "$n" --argjson c "$c" --argjson timeout "$t_ms" --argjson wall "$measure_us" \
    --arg ns "$namespace" --arg release "$release" --arg ts "$timestamp" "$figures_program"
}
figures report >"$report_dir/report.json"
figures log >"$report_dir/logs/requests.log"

# ---- evidence --------------------------------------------------------------------------------
# The raw responses the report names: per endpoint the first and the first of each failure cause.
jq -r '.endpoints | to_entries[] | .key as $e | .value.responses[] | "\($e)\t\(.seq)\t\(.file)"' \
  "$report_dir/report.json" >"$work/keep.tsv"
while IFS=$'\t' read -r e seq file; do
  src="$work/e$e/$seq.http"
  if [[ -f $src ]]; then head -c "$KEEP_BYTES" "$src" >"$report_dir/$file"; fi
done <"$work/keep.tsv"

jq -r '
def cell: if . == null then "-" else tostring end;
"## Acceptance: \(.verdict)\n",
"| check | scope | value | limit | n | verdict |",
"|---|---|---|---|---|---|",
(.checks[] | "| \(.name) \(.op) | \(.scope) | \(.value | cell) | \(.limit) | \(.n) | \(.verdict) |"),
"",
"Requests: \(.summary.total_requests), successful: \(.summary.successful_requests), failed: \(.summary.failed_requests)" +
  (if (.summary.failures_by_cause | length) > 0 then " (" + (.summary.failures_by_cause | to_entries | map("\(.key): \(.value)") | join(", ")) + ")" else "" end),
"Latency (ms, total, nearest rank over successful requests): p50 \(.summary.p50_ms | cell), p95 \(.summary.p95_ms | cell), p99 \(.summary.p99_ms | cell), max \(.summary.max_ms | cell)",
"",
(.warnings[] | "> **Warning:** \(.)\n"),
"| endpoint | requests | success % | p50 ms | p95 ms | p99 ms | max ms |",
"|---|---|---|---|---|---|---|",
(.endpoints[] | "| \(.url) | \(.figures.total_requests) | \(.figures.success_pct | cell) | \(.figures.latency.p50_ms | cell) | \(.figures.latency.p95_ms | cell) | \(.figures.latency.p99_ms | cell) | \(.figures.latency.max_ms | cell) |"),
"",
(.histogram | select(. != null)
  | "```mermaid",
    "xychart-beta",
    "    title \"Latency of successful requests (total, ms)\"",
    "    x-axis \"ms\" [\(.buckets | map("\"\(.from_ms)-\(.to_ms)\"") | join(", "))]",
    "    y-axis \"requests\"",
    "    bar [\(.buckets | map(.count | tostring) | join(", "))]",
    "```",
    "")
' "$report_dir/report.json" >"$report_dir/summary.md"

verdict=$(jq -r .verdict "$report_dir/report.json")
jq -r '"acceptance: \(.verdict): success \(.summary.success_pct)% of \(.summary.total_requests) requests, p95 \(.summary.p95_ms) ms"' "$report_dir/report.json"
case $verdict in
  pass) exit 0 ;;
  fail) exit 1 ;;
  *) exit 2 ;;
esac
