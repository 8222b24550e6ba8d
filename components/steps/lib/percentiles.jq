# Nearest-rank percentiles, the acceptance gate's one definition of them (included by
# acceptance-figures.jq; the benchmark computes the truth it compares with from the same file).
# Samples are microseconds; the figures are milliseconds rounded to 0.001 ms.

# Microseconds to milliseconds, rounded to 0.001 ms; null stays null.
def ms: if . == null then null else (. / 1000 | . * 1000 | round / 1000) end;
# The 1-based nearest rank of the p-th percentile of n sorted samples: ceil(p*n/100).
def rank($p; $n): ((($p * $n) + 99) / 100 | floor);
def pct($s; $p): $s[rank($p; $s | length) - 1];
# The figures of microsecond samples: count, min, p50, p90, p95, p99, max and mean, in ms.
def stats: sort as $s | ($s | length) as $n
  | if $n == 0 then {n: 0, min_ms: null, p50_ms: null, p90_ms: null, p95_ms: null, p99_ms: null, max_ms: null, mean_ms: null}
    else {n: $n, min_ms: ($s[0] | ms), p50_ms: (pct($s; 50) | ms), p90_ms: (pct($s; 90) | ms),
          p95_ms: (pct($s; 95) | ms), p99_ms: (pct($s; 99) | ms), max_ms: ($s[-1] | ms),
          mean_ms: (($s | add) / $n | ms)} end;
