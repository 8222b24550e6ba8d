/**
 * The gate's arithmetic on its own: lib/percentiles.jq, lib/acceptance-figures.jq and
 * lib/acceptance-summary.jq run by jq on fixed samples, with exact expected figures. No server, no
 * clock: what these tests prove holds on any machine, however loaded.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { jqProgram, stepSource, STEPS_DIR } from "../../components/argo/script-template";
import { ACCEPTANCE_PROGRAMS } from "../../components/workflow/acceptance";
import { nearestRank } from "../../simulator/acceptance-harness";

const LIB = path.join(STEPS_DIR, "lib");

/** Runs `include "percentiles"; <expr>` with `$v` bound to `values`. */
function percentiles(values: number[], expr: string): unknown {
  const out = execFileSync("jq", ["-n", "-c", "-L", LIB, "--argjson", "v", JSON.stringify(values), `include "percentiles"; ${expr}`], { encoding: "utf8" });
  return JSON.parse(out);
}

describe("lib/percentiles.jq: nearest rank", () => {
  it.each([
    // [n, p, 1-based rank]: ceil(p*n/100), never below 1.
    [1, 50, 1], [1, 99, 1], [2, 50, 1], [3, 50, 2], [10, 95, 10], [20, 95, 19], [20, 50, 10],
    [100, 99, 99], [100, 95, 95], [101, 99, 100], [13, 50, 7], [13, 95, 13],
   ])("of n=%i samples, p%i is sample %i", (n, p, expected) => {
    expect(percentiles([], `rank(${p}; ${n})`)).toBe(expected);
  });

  it("reports count, min, p50, p90, p95, p99, max and mean of microseconds in ms to 0.001", () => {
    // 1..100 ms in a shuffled order, plus nothing else: the p-th percentile is p ms.
    const us = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100 + 1) * 1000);
    expect(percentiles(us, "$v | stats")).toEqual({
      n: 100, min_ms: 1, p50_ms: 50, p90_ms: 90, p95_ms: 95, p99_ms: 99, max_ms: 100, mean_ms: 50.5,
    });
    expect(percentiles([1234, 5678, 999], "$v | stats")).toEqual({
      n: 3, min_ms: 0.999, p50_ms: 1.234, p90_ms: 5.678, p95_ms: 5.678, p99_ms: 5.678, max_ms: 5.678, mean_ms: 2.637,
    });
    expect(percentiles([], "$v | stats")).toEqual({
      n: 0, min_ms: null, p50_ms: null, p90_ms: null, p95_ms: null, p99_ms: null, max_ms: null, mean_ms: null,
    });
  });

  it("is the rank the benchmark and the timing tests compare with (harness.nearestRank runs it)", () => {
    expect(nearestRank([30, 10, 20], 50)).toBe(20);
    expect(nearestRank([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(nearestRank([7.5], 99)).toBe(7.5);
  });
});

/** Two endpoints: e0 accepts 2xx and was ready after 1.5 ms; e1 also accepts 404 and was ready after 2.5 ms. */
const ENDPOINTS = [
  "0\thttps://pr-1.example.com/\tpr-1.example.com\t/\t200-299\tready 1500 2",
  "1\thttps://pr-1.example.com/api\tpr-1.example.com\t/api\t200-299 404-404\tready 2500 3",
].join("\n") + "\n";

/** One closed-model request row (seq from curl's urlnum), the timers given in ms. */
function request(endpoint: number, urlnum: number, status: number, exit: number, totalMs: number, error = ""): string {
  const s = (ms: number) => (ms / 1000).toFixed(6);
  // namelookup 1 ms, connect 2 ms, no TLS, pretransfer 2 ms, first byte 1 ms before the end.
  const timers = exit === 0 ? [1, 2, 0, 2, totalMs - 1, totalMs] : [1, 0, 0, 0, 0, totalMs];
  return ["measure", endpoint, "", "", 0, urlnum, status, exit, ...timers.map(s), exit === 0 ? 120 : 0, 1, error].join("\t");
}

/** e0: ten 200s of 10..100 ms; e1: 200 in 20 ms, 404 in 30 ms, 200 in 40 ms, and a timeout. */
const REQUESTS = [
  ...Array.from({ length: 10 }, (_, i) => request(0, i, 200, 0, (i + 1) * 10)),
  request(1, 0, 200, 0, 20),
  request(1, 1, 404, 0, 30),
  request(1, 2, 200, 0, 40),
  request(1, 3, 0, 28, 2000, "Operation timed out after 2000 milliseconds"),
].join("\n") + "\n";

/** The run's facts, as acceptance.sh passes them (closed model, judged on total). */
const FACTS = {
  min: 90, p95: 150, p99: null as number | null, judge: "total", model: "closed", n: 10, c: 2, timeout: 2000, wall: 250000,
  rate: null as number | null, duration: 0, scheduled: 0, late: 0, late_ms: 50, ready_k: 2, ready_s: 30, discovery_warnings: [] as string[],
  errors: [] as string[], ns: "impl-pr-1", release: "app-pr-1", ts: "2026-11-30T00:00:00Z", curl_version: "curl 8.5.0 (x86_64-pc-linux-gnu)",
  image: "docker.io/alpine/k8s:1.32.3",
};

function figures(mode: "report" | "log", facts: Partial<typeof FACTS> = {}, requests = REQUESTS): string {
  const f = { ...FACTS, ...facts };
  const args = ["-n", "-r", "--arg", "mode", mode, "--arg", "endpoints", ENDPOINTS, "--arg", "requests", requests];
  for (const [k, v] of Object.entries(f)) {
    if (typeof v === "string") args.push("--arg", k, v);
    else args.push("--argjson", k, JSON.stringify(v));
  }
  // The program as the step gets it: includes resolved, so no library path is needed.
  return execFileSync("jq", [...args, jqProgram("acceptance-figures")], { encoding: "utf8" });
}
// `any`: report.json is the jq program's output, checked field by field by the tests below.
const report = (facts: Partial<typeof FACTS> = {}, requests = REQUESTS): any => JSON.parse(figures("report", facts, requests));

describe("lib/acceptance-figures.jq: figures and verdict from fixed samples", () => {
  it("computes the overall and per-endpoint figures exactly", () => {
    const r = report();
    expect(r.summary).toEqual({
      success_pct: 92.857, p95_ms: 100, total_requests: 14, successful_requests: 13, failed_requests: 1,
      p50_ms: 40, p90_ms: 90, p99_ms: 100, max_ms: 100, min_ms: 10, mean_ms: 49.231,
      failures_by_cause: { timeout: 1 },
    });
    const [e0, e1] = r.endpoints;
    expect(e0.figures).toMatchObject({ success_pct: 100, total_requests: 10, successful_requests: 10, failures_by_cause: {} });
    expect(e0.figures.latency).toEqual({ n: 10, min_ms: 10, p50_ms: 50, p90_ms: 90, p95_ms: 100, p99_ms: 100, max_ms: 100, mean_ms: 55 });
    expect(e0.ready).toEqual({ ready: true, after_ms: 1.5, probes: 2 });
    expect(e0.expect).toBe("200-299");
    expect(e1.figures).toMatchObject({ success_pct: 75, total_requests: 4, successful_requests: 3, failed_requests: 1, failures_by_cause: { timeout: 1 } });
    expect(e1.figures.latency).toMatchObject({ n: 3, p50_ms: 30, p95_ms: 40, max_ms: 40 });
    expect(e1.ready).toEqual({ ready: true, after_ms: 2.5, probes: 3 });
    expect(e1.expect).toBe("200-299,404-404");
    // The phases, of successful requests only: dns 1 ms, connect 1 ms, ttfb = total - 1 ms, server = ttfb - 2 ms.
    expect(r.phases.dns).toMatchObject({ n: 13, p50_ms: 1, max_ms: 1 });
    expect(r.phases.connect).toMatchObject({ n: 13, p50_ms: 1 });
    expect(r.phases.ttfb).toMatchObject({ n: 13, p50_ms: 39, max_ms: 99 });
    expect(r.phases.server).toMatchObject({ n: 13, p50_ms: 37, max_ms: 97 });
    expect(r.phases.lag).toBeUndefined();
  });

  it("judges overall and per endpoint: one endpoint below the success share fails the gate", () => {
    const r = report();
    const verdicts = r.checks.map((c: { name: string; scope: string; verdict: string; value: number; limit: number; n: number }) =>
      [c.name, c.scope, c.value, c.limit, c.n, c.verdict]);
    expect(verdicts).toEqual([
      ["success_pct", "overall", 92.857, 90, 14, "pass"],
      ["p95_ms", "overall", 100, 150, 13, "pass"],
      ["success_pct", "https://pr-1.example.com/", 100, 90, 10, "pass"],
      ["p95_ms", "https://pr-1.example.com/", 100, 150, 10, "pass"],
      ["success_pct", "https://pr-1.example.com/api", 75, 90, 4, "fail"],
      ["p95_ms", "https://pr-1.example.com/api", 40, 150, 3, "pass"],
    ]);
    expect(r).toMatchObject({ verdict: "fail", exit_code: 1, judged: true, errors: [], note: null });
    expect(r.thresholds).toEqual({ min_success_pct: 90, max_p95_ms: 150 });
  });

  it("passes at the boundary: the share is compared as counts (13 of 14 against 92.857...%)", () => {
    expect(report({ min: 75 }).verdict).toBe("pass");
    // 13 * 100 >= 92 * 14 (1300 >= 1288), but not 93 * 14 (1302).
    expect(report({ min: 92 }).checks[0].verdict).toBe("pass");
    expect(report({ min: 93 }).checks[0].verdict).toBe("fail");
    // p95 equal to the limit passes; one below fails.
    expect(report({ min: 75, p95: 100 }).verdict).toBe("pass");
    expect(report({ min: 75, p95: 99 }).verdict).toBe("fail");
  });

  it("adds p99 checks only when a p99 limit is given", () => {
    const r = report({ min: 75, p99: 99 });
    expect(r.checks.filter((c: { name: string }) => c.name === "p99_ms")).toHaveLength(3);
    expect(r.checks.find((c: { name: string; scope: string }) => c.name === "p99_ms" && c.scope === "overall"))
      .toMatchObject({ value: 100, limit: 99, verdict: "fail", metric: "p99 of total (ms)" });
    expect(r.thresholds).toEqual({ min_success_pct: 75, max_p95_ms: 150, max_p99_ms: 99 });
    expect(r.verdict).toBe("fail");
  });

  it("judges nothing when the measurement broke: verdict error, no checks", () => {
    const r = report({ errors: ["ERROR: curl: reported 3 of 4 requests to x (the measurement broke)"] });
    expect(r).toMatchObject({ verdict: "error", exit_code: 2, judged: false, checks: [] });
    expect(r.note).toMatch(/^nothing was judged/);
  });

  it("judges a success share of no requests as a failure, not a division by zero", () => {
    const r = report({}, "");
    expect(r.summary).toMatchObject({ success_pct: null, total_requests: 0, p95_ms: null });
    expect(r.checks[0]).toMatchObject({ name: "success_pct", verdict: "fail" });
    expect(r.verdict).toBe("fail");
  });

  it("measures the open model from the scheduled start and counts dropped starts as failures", () => {
    const open = [
      ["measure", 0, 1, 0, 5000, 0, 200, 0, "0.001", "0.002", "0", "0.002", "0.009", "0.010", 120, 1, ""].join("\t"),
      ["measure", 0, 2, 100000, 0, 0, 200, 0, "0.001", "0.002", "0", "0.002", "0.019", "0.020", 120, 1, ""].join("\t"),
      ["dropped", 0, 3, 200000, 60000].join("\t"),
    ].join("\n") + "\n";
    const r = report({ model: "open", rate: 10, duration: 1, scheduled: 3 }, open);
    // 10 ms + 5 ms lag, 20 ms + no lag: judged 15 and 20.
    expect(r.endpoints[0].figures.latency).toMatchObject({ n: 2, min_ms: 15, max_ms: 20 });
    expect(r.summary).toMatchObject({ total_requests: 2, successful_requests: 2 });
    expect(r.load).toMatchObject({ model: "open", scheduled: 6, started: 5, dropped: 1 });
    expect(r.method.latency_from).toBe("scheduled start");
    expect(r.phases.lag).toMatchObject({ n: 2, max_ms: 5 });
  });

  it("warns when a percentile rests on fewer than 20 samples", () => {
    expect(report().warnings).toEqual([
      "p95 of https://pr-1.example.com/ is over 10 samples (fewer than 20): by nearest rank it is the slowest request",
      "p95 of https://pr-1.example.com/api is over 3 samples (fewer than 20): by nearest rank it is the slowest request",
      "p95 of overall is over 13 samples (fewer than 20): by nearest rank it is the slowest request",
    ]);
  });

  it("writes the request log: one row per request with its cause and timers in ms", () => {
    const rows = figures("log").trimEnd().split("\n").map((l) => l.split("\t"));
    expect(rows[0][0]).toBe("# phase");
    expect(rows).toHaveLength(15);
    expect(rows[1]).toEqual(["measure", "e0", "1", "200", "0", "ok", "-", "0", "1", "1", "0", "9", "7", "10", "10", "120", "https://pr-1.example.com/", "-"]);
    expect(rows[14].slice(0, 6)).toEqual(["measure", "e1", "4", "0", "28", "timeout"]);
    expect(rows[14].at(-1)).toBe("Operation timed out after 2000 milliseconds");
  });
});

describe("lib/acceptance-summary.jq: the Markdown of a report", () => {
  const summary = (r: unknown) => execFileSync("jq", ["-r", jqProgram("acceptance-summary")], { input: JSON.stringify(r), encoding: "utf8" });

  it("puts the verdict, every check and every endpoint's figures in tables", () => {
    const md = summary(report());
    expect(md.startsWith("## Acceptance: FAIL\n")).toBe(true);
    expect(md).toContain([
      "| check | scope | value | limit | n | verdict |",
      "|---|---|---|---|---|---|",
      "| success % >= | overall | 92.857 | 90 | 14 | pass |",
      "| p95 of total (ms) <= | overall | 100 | 150 | 13 | pass |",
      "| success % >= | https://pr-1.example.com/ | 100 | 90 | 10 | pass |",
      "| p95 of total (ms) <= | https://pr-1.example.com/ | 100 | 150 | 10 | pass |",
      "| success % >= | https://pr-1.example.com/api | 75 | 90 | 4 | fail |",
      "| p95 of total (ms) <= | https://pr-1.example.com/api | 40 | 150 | 3 | pass |",
    ].join("\n"));
    expect(md).toContain("Requests: 14, successful: 13, failed: 1 (timeout: 1)");
    expect(md).toContain("| https://pr-1.example.com/api | 4 | 75 | 30 | 40 | 40 | 40 |");
    expect(md).toContain("Readiness: 2 expected answers in a row within 30 s, not counted: https://pr-1.example.com/ ready after 1.5 ms (2 probes); https://pr-1.example.com/api ready after 2.5 ms (3 probes)");
    expect(md).toContain("Load: closed model, 10 requests per endpoint, 2 in flight.");
    expect(md).toContain("    bar [1, 1, 0, 99, 97, 100]");
    expect(md.trimEnd().split("\n").at(-1)).toBe("<sub>curl 8.5.0, image docker.io/alpine/k8s:1.32.3, 2026-11-30T00:00:00Z</sub>");
  });

  it("says plainly that nothing was judged when the measurement broke", () => {
    const md = summary(report({ errors: ["ERROR: rate: the load generator could not keep up"] }));
    expect(md).toContain("## Acceptance: ERROR\n");
    expect(md).toContain("> **Nothing was judged.**");
    expect(md).toContain("- ERROR: rate: the load generator could not keep up");
    expect(md).not.toContain("| check |");
  });
});

describe("the acceptance step embeds the programs it runs", () => {
  it("holds each program verbatim, includes resolved, in the variable the script reads", () => {
    const source = stepSource("acceptance", ACCEPTANCE_PROGRAMS);
    for (const [name, variable] of [["acceptance-figures", "ACCEPTANCE_FIGURES_JQ"], ["acceptance-summary", "ACCEPTANCE_SUMMARY_JQ"]]) {
      expect(source).toContain(`IFS= read -r -d '' ${variable} <<'END_OF_${variable}' || true\n${jqProgram(name)}END_OF_${variable}\n`);
      expect(source).toContain(`"$${variable}"`);
    }
    expect(jqProgram("acceptance-figures")).not.toMatch(/^include /m);
    expect(jqProgram("acceptance-figures")).toContain("def rank($p; $n)");
    // The script itself carries no jq program of the gate's: its figures are in the files above.
    expect(stepSource("acceptance")).not.toContain("def rank(");
  });
});
