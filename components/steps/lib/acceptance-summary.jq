# The acceptance report as Markdown (summary.md, the review body's evidence): `jq -r -f
# acceptance-summary.jq report.json` (acceptance.sh embeds it).
def cell: if . == null then "-" else tostring end;
def mermaid_list: map(cell | if . == "-" then "0" else . end) | join(", ");
"## Acceptance: \(.verdict | ascii_upcase)\n",
(if .verdict == "error" then
   "> **Nothing was judged.** The measurement could not be made or is not trustworthy; this is not a verdict on the preview.\n",
   (.errors[] | "- \(.)"), ""
 else empty end),
"Judged: p95 of **\(.method.judged_label)** in ms; percentiles by nearest rank over successful requests; \(.method.connection).",
(.load | if .model == "open" then
   "Load: open model, \(.rate_per_s) requests/s per endpoint for \(.duration_s) s: \(.scheduled) scheduled, \(.started) started, \(.late) late (over \(.late_after_ms) ms), \(.dropped) dropped."
 else "Load: closed model, \(.requests_per_endpoint) requests per endpoint, \(.concurrency) in flight." end),
(if .readiness.enabled then
   "Readiness: \(.readiness.consecutive) expected answers in a row within \(.readiness.timeout_s) s, not counted: " +
   (.endpoints | map("\(.url) " + (if .ready.ready then "ready after \(.ready.after_ms) ms (\(.ready.probes) probes)" else "NOT ready after \(.ready.after_ms) ms (\(.ready.probes) probes)" end)) | join("; "))
 else "Readiness: not awaited (ready_consecutive 0)." end),
"",
(if (.checks | length) > 0 then
   "| check | scope | value | limit | n | verdict |",
   "|---|---|---|---|---|---|",
   (.checks[] | "| \(.metric) \(.op) | \(.scope) | \(.value | cell) | \(.limit) | \(.n) | \(.verdict) |"),
   ""
 else empty end),
"Requests: \(.summary.total_requests), successful: \(.summary.successful_requests), failed: \(.summary.failed_requests)" +
  (if (.summary.failures_by_cause | length) > 0 then " (" + (.summary.failures_by_cause | to_entries | map("\(.key): \(.value)") | join(", ")) + ")" else "" end),
"",
(.warnings[] | "> **Warning:** \(.)\n"),
"| endpoint | requests | success % | p50 ms | p95 ms | p99 ms | max ms |",
"|---|---|---|---|---|---|---|",
(.endpoints[] | "| \(.url) | \(.figures.total_requests) | \(.figures.success_pct | cell) | \(.figures.latency.p50_ms | cell) | \(.figures.latency.p95_ms | cell) | \(.figures.latency.p99_ms | cell) | \(.figures.latency.max_ms | cell) |"),
"",
"Phases of successful requests (ms, as curl timed them):",
"",
"| phase | p50 | p95 | p99 | max |",
"|---|---|---|---|---|",
(.phases | to_entries[] | "| \(.key) | \(.value.p50_ms | cell) | \(.value.p95_ms | cell) | \(.value.p99_ms | cell) | \(.value.max_ms | cell) |"),
"",
(select(.summary.successful_requests > 0) | .phases as $ph | ($ph | keys_unsorted) as $names
  | "```mermaid",
    "xychart-beta",
    "    title \"Latency by phase (ms): bars p95, line p50\"",
    "    x-axis [\($names | map("\"\(.)\"") | join(", "))]",
    "    y-axis \"ms\"",
    "    bar [\($names | map($ph[.].p95_ms) | mermaid_list)]",
    "    line [\($names | map($ph[.].p50_ms) | mermaid_list)]",
    "```",
    ""),
(.histogram | select(. != null)
  | "```mermaid",
    "xychart-beta",
    "    title \"Distribution of the judged latency (ms)\"",
    "    x-axis \"ms\" [\(.buckets | map("\"\(.from_ms)-\(.to_ms)\"") | join(", "))]",
    "    y-axis \"requests\"",
    "    bar [\(.buckets | map(.count) | mermaid_list)]",
    "```",
    ""),
# At most ten endpoints (the slowest first) keep the summary short enough for a review body.
(.endpoints | map(select((.slowest | length) > 0)) | sort_by(-(.slowest[0].latency_ms)) | .[:10][]
  | "Five slowest requests of \(.url):",
    "",
    "| seq | status | result | lag | dns | connect | tls | ttfb | server | total | judged |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    (.slowest[] | "| \(.seq) | \(.status) | \(.result) | \(.lag_ms) | \(.dns_ms) | \(.connect_ms) | \(.tls_ms) | \(.ttfb_ms) | \(.server_ms) | \(.total_ms) | \(.latency_ms) |"),
    ""),
(if (.endpoints | length) > 10 then "The five slowest requests of the other endpoints are in report.json.\n" else empty end),
"<sub>\(.environment.curl_version | split(" ")[0:2] | join(" ")), image \(.environment.image | cell), \(.environment.timestamp)</sub>"
