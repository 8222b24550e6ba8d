# The acceptance gate's figures and verdict, from the table of measured requests.
#
# Run as `jq -n -r --arg mode report|log ... -f acceptance-figures.jq` (acceptance.sh embeds it):
#   $mode            report: report.json (figures, checks, verdict); log: the request log (TSV)
#   $endpoints       endpoints.tsv, one line per endpoint: index, url, host, path, accepted status
#                    ranges ("200-299 404-404"), readiness ("-", or "ready|not_ready <after us> <probes>")
#   $requests        requests.tsv, one line per request: phase (ready|measure|dropped), endpoint index,
#                    seq (empty: curl's urlnum + 1), scheduled offset us (empty: closed model), lag us,
#                    then curl -w's urlnum, http_code, exitcode, time_namelookup, time_connect,
#                    time_appconnect, time_pretransfer, time_starttransfer, time_total (seconds),
#                    size_download, num_connects, errormsg
#   $min, $p95, $p99 thresholds (success %, ms, ms or null); $judge total|ttfb|server; $model open|closed
#   $n, $c, $timeout, $wall, $rate, $duration, $scheduled, $late, $late_ms, $ready_k, $ready_s,
#   $discovery_warnings, $errors, $ns, $release, $ts, $curl_version, $image   the run's facts, reported as given
include "percentiles";

def us: if . == null or . == "" then 0 else (tonumber * 1000000 | round) end;
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
def phases: ["dns", "connect", "tls", "ttfb", "server", "total"] + (if $model == "open" then ["lag"] else [] end);

($endpoints | split("\n") | map(select(length > 0) | split("\t")
  | {index: (.[0] | tonumber), url: .[1], host: .[2], path: .[3],
     ranges: (.[4] | split(" ") | map(split("-") | map(tonumber))),
     ready: (.[5] | split(" ") | if .[0] == "-" then null
             else {ready: (.[0] == "ready"), after_ms: (.[1] | tonumber | ms), probes: (.[2] | tonumber)} end)})) as $eps
| [$requests | split("\n")[] | select(length > 0) | split("\t")
  | (.[1] | tonumber) as $e
  | {phase: .[0], endpoint: $e,
     seq: (if .[2] == "" then (.[5] | tonumber) + 1 else (.[2] | tonumber) end),
     scheduled: (if .[3] == "" then null else (.[3] | tonumber) end), lag: (.[4] | tonumber),
     status: (.[6] // "0" | tonumber), exit: (.[7] // "-1" | tonumber),
     nl: (.[8] | us), co: (.[9] | us), ac: (.[10] | us), pt: (.[11] | us), st: (.[12] | us), tt: (.[13] | us),
     bytes: (.[14] // "0" | tonumber), error: (.[16:] | join(" "))}
  | .dns = .nl
  | .connect = (if .co > 0 then .co - .nl else 0 end)
  | .tls = (if .ac > 0 then .ac - .co else 0 end)
  | .ttfb = .st
  | .server = (if .st > 0 then .st - .pt else 0 end)
  | .total = .tt
  # The judged figure; in the open model from the scheduled start (the lag behind the schedule included).
  | .latency = (if $judge == "server" then .server elif $judge == "ttfb" then .ttfb + .lag else .total + .lag end)
  | .ok = (.phase != "dropped" and .exit == 0 and in_ranges(.status; $eps[$e].ranges))
  | .cause = (if .phase == "dropped" then "dropped" elif .ok then null else cause(.exit; .status) end)] as $all_rows
| if $mode == "log" then
    ["# phase", "endpoint", "seq", "status", "exit", "result", "scheduled_ms", "lag_ms", "dns_ms", "connect_ms", "tls_ms",
     "ttfb_ms", "server_ms", "total_ms", "latency_ms", "bytes", "url", "error"],
    ($all_rows[] | [.phase, "e\(.endpoint)", .seq, .status, .exit, (.cause // "ok"), (.scheduled | ms // "-"),
                    (.lag, .dns, .connect, .tls, .ttfb, .server, .total, .latency | ms), .bytes, $eps[.endpoint].url,
                    (if .error == "" then "-" else .error end)])
    | @tsv
  else
  ($all_rows | map(select(.phase == "measure"))) as $reqs
  | def figures($rs):
      ($rs | length) as $n | ($rs | map(select(.ok))) as $good
      | {success_pct: (if $n == 0 then null else ($good | length) * 100 / $n | . * 1000 | round / 1000 end),
         total_requests: $n, successful_requests: ($good | length), failed_requests: ($n - ($good | length)),
         latency: ($good | map(.latency) | stats),
         phases: (reduce phases[] as $p ({}; .[$p] = ($good | map(.[$p]) | stats))),
         failures_by_cause: ($rs | map(select(.ok | not) | .cause) | group_by(.) | map({key: .[0], value: length}) | from_entries)};
    def judged_label: "\($judge)" + (if $model == "open" and $judge != "server" then " from scheduled start" else "" end);
    def checks($scope; $f):
      [{name: "success_pct", scope: $scope, metric: "success %", op: ">=", value: $f.success_pct, limit: $min,
        n: $f.total_requests,
        verdict: (if $f.total_requests > 0 and $f.successful_requests * 100 >= $min * $f.total_requests then "pass" else "fail" end)},
       {name: "p95_ms", scope: $scope, metric: "p95 of \(judged_label) (ms)", op: "<=", value: $f.latency.p95_ms, limit: $p95,
        n: $f.latency.n,
        verdict: (if $f.latency.p95_ms != null and $f.latency.p95_ms <= $p95 then "pass" else "fail" end)}]
      + (if $p99 == null then [] else
         [{name: "p99_ms", scope: $scope, metric: "p99 of \(judged_label) (ms)", op: "<=", value: $f.latency.p99_ms, limit: $p99,
           n: $f.latency.n,
           verdict: (if $f.latency.p99_ms != null and $f.latency.p99_ms <= $p99 then "pass" else "fail" end)}] end);
    # Ten-odd buckets of a round width over the successful requests judged latencies.
    def histogram($vals):
      if ($vals | length) == 0 then null
      else ($vals | max / 1000 / 10) as $raw
        | ([1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 60000] | map(select(. >= $raw)) | first // 60000) as $w
        | ($vals | map(. / 1000 / $w | floor) | max + 1) as $nb
        | {bucket_ms: $w, buckets: [range(0; $nb) as $b | {from_ms: ($b * $w), to_ms: (($b + 1) * $w),
                                     count: ($vals | map(select(. / 1000 >= $b * $w and . / 1000 < ($b + 1) * $w)) | length)}]}
      end;
    def row: {seq, status, result: (.cause // "ok"), lag_ms: (.lag | ms), dns_ms: (.dns | ms), connect_ms: (.connect | ms),
              tls_ms: (.tls | ms), ttfb_ms: (.ttfb | ms), server_ms: (.server | ms), total_ms: (.total | ms), latency_ms: (.latency | ms)};
    figures($reqs) as $all
  | ($eps | map(. as $ep | ($reqs | map(select(.endpoint == $ep.index))) as $rs | figures($rs) as $f
      | {url, host, path, expect: (.ranges | map("\(.[0])-\(.[1])") | join(",")), ready, figures: $f,
         slowest: ($rs | sort_by(.latency) | reverse | .[:5] | map(row)),
         responses: ([($rs | min_by(.seq) | {name: "first", seq, status}),
                      ($rs | map(select(.ok | not)) | group_by(.cause)[] | min_by(.seq) | {name: .cause, seq, status})]
                     | map(select(.status != null and .status > 0) | {name, seq, file: "responses/e\($ep.index)-\(.name).http"}))})) as $per
  | ($all_rows | map(select(.phase == "dropped")) | length) as $ndropped
  | (if ($errors | length) > 0 then [] else checks("overall"; $all) + ($per | map(checks(.url; .figures)) | add) end) as $checks
  | (if ($errors | length) > 0 then "error" elif ($checks | all(.verdict == "pass")) then "pass" else "fail" end) as $verdict
  | {verdict: $verdict,
     exit_code: ({pass: 0, fail: 1, error: 2}[$verdict]),
     judged: ($verdict != "error"),
     errors: $errors,
     note: (if $verdict == "error" then "nothing was judged: the measurement could not be made or is not trustworthy" else null end),
     summary: {success_pct: $all.success_pct, p95_ms: $all.latency.p95_ms, total_requests: $all.total_requests,
               successful_requests: $all.successful_requests, failed_requests: $all.failed_requests,
               p50_ms: $all.latency.p50_ms, p90_ms: $all.latency.p90_ms, p99_ms: $all.latency.p99_ms,
               max_ms: $all.latency.max_ms, min_ms: $all.latency.min_ms, mean_ms: $all.latency.mean_ms,
               failures_by_cause: $all.failures_by_cause},
     thresholds: ({min_success_pct: $min, max_p95_ms: $p95} + (if $p99 == null then {} else {max_p99_ms: $p99} end)),
     checks: $checks,
     method: {judged: $judge, judged_label: judged_label,
              latency_from: (if $model == "open" and $judge != "server" then "scheduled start" else "request start" end),
              percentiles: "nearest rank: the p-th percentile of n sorted samples is sample ceil(p*n/100), over successful requests",
              phases: "curl -w timers of each request, in ms: dns = time_namelookup, connect = time_connect - time_namelookup, tls = time_appconnect - time_connect, ttfb = time_starttransfer, server = time_starttransfer - time_pretransfer, total = time_total; lag = start behind the schedule (open model)",
              connection: "a fresh HTTP/1.1 connection per request (Connection: close)",
              model: $model},
     load: ({model: $model, timeout_ms: $timeout, measure_wall_ms: ($wall | ms)}
            + (if $model == "open" then {rate_per_s: $rate, duration_s: $duration, scheduled: ($scheduled * ($eps | length)),
                                         started: (($scheduled * ($eps | length)) - $ndropped), late: $late, dropped: $ndropped,
                                         late_after_ms: $late_ms}
               else {requests_per_endpoint: $n, concurrency: $c} end)),
     readiness: {consecutive: $ready_k, timeout_s: $ready_s, enabled: ($ready_k > 0),
                 probes_in_statistics: false},
     phases: $all.phases,
     histogram: histogram($reqs | map(select(.ok) | .latency)),
     endpoints: $per,
     warnings: ($discovery_warnings
                + ([$checks[] | select((.name == "p95_ms" or .name == "p99_ms") and .n > 0 and .n < 20)
                    | "\(.name | sub("_ms"; "")) of \(.scope) is over \(.n) samples (fewer than 20): by nearest rank it is the slowest request"] | unique)),
     environment: {namespace: $ns, release: $release, timestamp: $ts, curl_version: $curl_version, image: $image}}
  end
