/**
 * The acceptance step run for real (rendered template, bash, curl, jq) against loopback servers whose
 * answers the test controls: success share, latency figures by nearest rank, status rules, failures by
 * cause, bounded requests, evidence, and input validation before any request.
 */
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { findMergeVectors } from "../../components/no-merge";
import { ACCEPTANCE_POD_LABEL, acceptanceDefaults } from "../../components/workflow/acceptance";
import { closedPort, expectServerTimes, LOG, makeTestPki, runAcceptance, urlsFor, type Handler } from "../../simulator/acceptance-harness";
import { BASE, useAcceptanceStep } from "./step";


const step = useAcceptanceStep();
const serve = step.serve;

const totals = (log: string[][]) => log.filter((r) => r[LOG.phase] === "measure").map((r) => Number(r[LOG.total]));

describe("acceptance: the rendered template", () => {
  it("passes every value through env, never {{…}} in the source, and holds no merge vector", () => {
    const source = step.template.script!.source!;
    expect(source).not.toContain("{{");
    expect(findMergeVectors(JSON.stringify(step.template))).toEqual([]);
    const env = Object.fromEntries((step.template.script!.env ?? []).map((e) => [e.name, e.value]));
    expect(env.MIN_SUCCESS_PCT).toBe("{{inputs.parameters.min_success_pct}}");
    expect(env.CONNECT_TO).toBe("{{inputs.parameters.connect_to}}");
    expect(env.HOST).toBe("{{inputs.parameters.host}}");
    expect(step.template.metadata?.labels).toEqual(ACCEPTANCE_POD_LABEL);
    expect(step.template.automountServiceAccountToken).toBe(false);
    expect(step.template.outputs?.artifacts).toMatchObject([{ name: "acceptance-report", path: "/tmp/outputs/acceptance" }]);
  });
});

describe("acceptance: input defaults from the stack config", () => {
  const APP = { appId: "1", installationId: "2" };
  const config = (acceptance: Record<string, unknown>) =>
    parseConfig({
      "implementation-dag:github": JSON.stringify({ apps: { rex: APP, clippy: APP, qa: APP } }),
      "implementation-dag:acceptance": JSON.stringify(acceptance),
    }).acceptance;

  it("turns the values that mean off into empty inputs", () => {
    expect(acceptanceDefaults(config({}))).toMatchObject({
      rate: "", max_p99_ms: "", paths: "", expect: "2xx,3xx", judge: "total", insecure: "false",
      ready_consecutive: "3", ready_timeout_s: "120", duration_s: "10", concurrency: "4", timeout_ms: "10000",
    });
  });

  it("carries an open model, a p99 limit and per-path rules from the config", () => {
    const d = acceptanceDefaults(config({ rate: 2.5, durationSeconds: 30, maxP99Ms: 900, paths: { "/healthz": "200" }, insecure: true }));
    expect(d).toMatchObject({ rate: "2.5", duration_s: "30", max_p99_ms: "900", paths: '{"/healthz":"200"}', insecure: "true" });
  });

  it("refuses a config status rule or rate the step would refuse", () => {
    expect(() => config({ expect: "2xx;3xx" })).toThrow(/acceptance\.expect/);
    expect(() => config({ paths: { healthz: "200" } })).toThrow(/acceptance\.paths/);
    expect(() => config({ rate: 1.0005 })).toThrow(/acceptance\.rate/);
  });

  it("leaves the template without defaults: set-params gives every input, resolved for the repository", () => {
    expect((step.template.inputs?.parameters ?? []).filter((p) => p.value !== undefined)).toEqual([]);
    expect((step.template.inputs?.parameters ?? []).map((p) => p.name).sort()).toEqual(["host", ...Object.keys(acceptanceDefaults(config({})))].sort());
  });
});

describe("acceptance: figures", () => {
  it("passes when every request answers 200, and writes the evidence", async () => {
    const s = await serve(() => ({}));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), BASE);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.report.verdict).toBe("pass");
    expect(r.report.summary).toMatchObject({ success_pct: 100, total_requests: 10, successful_requests: 10, failed_requests: 0 });
    expect(r.report.thresholds).toEqual({ min_success_pct: 95, max_p95_ms: 2000 });
    expect(r.report.environment.namespace).toBe("impl-pr-7");
    expect(r.report.environment.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(s.received).toHaveLength(10);
    expect(r.log).toHaveLength(10);
    expect(r.report.checks.filter((c: { scope: string }) => c.scope === "overall").map((c: { name: string; verdict: string; n: number }) => [c.name, c.verdict, c.n]))
      .toEqual([["success_pct", "pass", 10], ["p95_ms", "pass", 10]]);
    expect(r.summary).toContain("| check | scope | value | limit | n | verdict |");
    expect(r.summary).toContain("xychart-beta");
    const first = readFileSync(path.join(r.dir, "responses", "e0-first.http"), "utf8");
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(first).toContain("ok ");
  });

  it("counts a share of 503s exactly and judges it against min_success_pct", async () => {
    const every4th: Handler = ({ n }) => ({ status: n % 4 === 0 ? 503 : 200 });
    const s1 = await serve(every4th);
    const pass = await runAcceptance(step.template, urlsFor(`${s1.origin}/`), { ...BASE, requests_per_endpoint: "20", min_success_pct: "75" });
    expect(pass.code).toBe(0);
    expect(pass.report.summary).toMatchObject({ success_pct: 75, total_requests: 20, successful_requests: 15, failed_requests: 5 });
    expect(pass.report.summary.failures_by_cause).toEqual({ status_503: 5 });
    expect(existsSync(path.join(pass.dir, "responses", "e0-status_503.http"))).toBe(true);

    const s2 = await serve(every4th);
    const fail = await runAcceptance(step.template, urlsFor(`${s2.origin}/`), { ...BASE, requests_per_endpoint: "20", min_success_pct: "75.1" });
    expect(fail.code).toBe(1);
    expect(fail.report.verdict).toBe("fail");
    const success = fail.report.checks.find((c: { name: string; scope: string }) => c.name === "success_pct" && c.scope === "overall");
    expect(success).toMatchObject({ value: 75, limit: 75.1, verdict: "fail", n: 20 });
  });

  it("reports a fixed 30 ms latency as curl measured it, not with process overhead", async () => {
    const s = await serve(() => ({ delayMs: 30 }));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), { ...BASE, requests_per_endpoint: "20" });
    expect(r.code).toBe(0);
    expect(r.report.summary.p95_ms).toBeGreaterThanOrEqual(30);
    expectServerTimes(r.report.summary, s, 30);
    // The figures are curl's own measurements (time_total, as logged), not the process's wall time.
    const measured = totals(r.log).sort((a, b) => a - b);
    expect(measured).toHaveLength(20);
    expect(r.report.summary.p50_ms).toBe(measured[9]);
    expect(r.report.summary.p95_ms).toBe(measured[18]);
  });

  it("takes p50 and p95 by nearest rank: 100..180 ms and one 900 ms give 140 and 900", async () => {
    const delays = [100, 110, 120, 130, 140, 150, 160, 170, 180, 900];
    const s = await serve(({ n }) => ({ delayMs: delays[n - 1] ?? 0 }));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), { ...BASE, concurrency: "1", max_p95_ms: "800" });
    const sorted = totals(r.log).sort((a, b) => a - b);
    expect(sorted).toHaveLength(10);
    // The 5th and the 10th of 10 samples, whatever the machine added to each.
    expect(r.report.summary.p50_ms).toBe(sorted[4]);
    expect(r.report.summary.p95_ms).toBe(sorted[9]);
    expect(r.report.summary.p50_ms).toBeGreaterThanOrEqual(140);
    expect(r.report.summary.p95_ms).toBeGreaterThanOrEqual(900);
    // 900 > 800: the p95 threshold fails; with n < 20 the summary says p95 is the slowest request.
    expect(r.code).toBe(1);
    expect(r.report.checks.find((c: { name: string; scope: string }) => c.name === "p95_ms" && c.scope === "overall"))
      .toMatchObject({ verdict: "fail", limit: 800, n: 10 });
    expect(r.summary).toMatch(/fewer than 20.*slowest request/);
  });

  it("fails 404s under the default rule and passes them under the seed's lenient <500 or a per-path rule", async () => {
    const s = await serve(() => ({ status: 404 }));
    const urls = urlsFor(`${s.origin}/missing`);
    const strict = await runAcceptance(step.template, urls, BASE);
    expect(strict.code).toBe(1);
    expect(strict.report.summary).toMatchObject({ success_pct: 0, failed_requests: 10, p95_ms: null });
    expect(strict.report.summary.failures_by_cause).toEqual({ status_404: 10 });

    const lenient = await runAcceptance(step.template, urls, { ...BASE, expect: "<500" });
    expect(lenient.code).toBe(0);
    expect(lenient.report.summary.success_pct).toBe(100);

    const perPath = await runAcceptance(step.template, urls, { ...BASE, paths: JSON.stringify({ "/missing": "404", "/*": "2xx" }) });
    expect(perPath.code).toBe(0);
    expect(perPath.report.endpoints[0].expect).toBe("404-404");
  });

  it("counts connection refused as failures by cause and still writes the report", async () => {
    const port = await closedPort();
    const r = await runAcceptance(step.template, urlsFor(`http://127.0.0.1:${port}/`), BASE);
    expect(r.code).toBe(1);
    expect(r.report.verdict).toBe("fail");
    expect(r.report.summary).toMatchObject({ success_pct: 0, total_requests: 10, failed_requests: 10, p95_ms: null });
    expect(r.report.summary.failures_by_cause).toEqual({ connection_refused: 10 });
    expect(r.summary).toContain("connection_refused: 10");
  });

  it("bounds each request by timeout_ms and counts the ones that outlive it as timeouts", async () => {
    const s = await serve(({ n }) => ({ delayMs: n === 1 ? 5000 : 0 }));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), { ...BASE, requests_per_endpoint: "4", concurrency: "4", timeout_ms: "300" });
    expect(r.code).toBe(1);
    expect(r.report.summary).toMatchObject({ total_requests: 4, successful_requests: 3, failed_requests: 1 });
    expect(r.report.summary.failures_by_cause).toEqual({ timeout: 1 });
    const timedOut = r.log.find((row) => row[LOG.result] === "timeout")!;
    // curl enforces --max-time: it gave up long before the server would have answered.
    expect(Number(timedOut[LOG.total])).toBeGreaterThanOrEqual(290);
    expect(Number(timedOut[LOG.total])).toBeLessThan(5000);
  });

  it("judges each endpoint as well as the whole: one broken endpoint among good ones fails", async () => {
    const good = await serve(() => ({}));
    const broken = await serve(() => ({ status: 500 }));
    const urls = urlsFor(...Array.from({ length: 4 }, (_, i) => `${good.origin}/ok${i}`), `${broken.origin}/broken`);
    const r = await runAcceptance(step.template, urls, { ...BASE, min_success_pct: "80" });
    expect(r.report.summary.success_pct).toBe(80);
    expect(r.code).toBe(1);
    const failed = r.report.checks.filter((c: { verdict: string }) => c.verdict === "fail");
    expect(failed.map((c: { name: string; scope: string }) => [c.name, c.scope])).toEqual([
      ["success_pct", `${broken.origin}/broken`],
      ["p95_ms", `${broken.origin}/broken`],
    ]);
  });
});

describe("acceptance: TLS and connect_to", () => {
  const host = "pr-7.preview.example.com";
  let pki: ReturnType<typeof makeTestPki>;
  beforeAll(() => {
    pki = makeTestPki([host]);
  });
  const hostOnly = { ns: "impl-pr-7", release: "app-pr-7", hosts: [host], endpoints: [] };

  it("tests https://<host>/ for a host without endpoints through connect_to, keeping Host and TLS name", async () => {
    const s = await serve(() => ({}), pki);
    const r = await runAcceptance(step.template, hostOnly, { ...BASE, host, connect_to: `127.0.0.1:${s.port}` }, { env: { CURL_CA_BUNDLE: pki.caFile } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.report.endpoints.map((e: { url: string }) => e.url)).toEqual([`https://${host}/`]);
    expect(s.received).toHaveLength(10);
    expect(new Set(s.received.map((x) => `${x.host} ${x.servername}`))).toEqual(new Set([`${host} ${host}`]));
  });

  it("verifies TLS unless insecure is true", async () => {
    const s = await serve(() => ({}), pki);
    const verified = await runAcceptance(step.template, hostOnly, { ...BASE, host, connect_to: `127.0.0.1:${s.port}` });
    expect(verified.code).toBe(1);
    expect(verified.report.summary.failures_by_cause).toEqual({ tls: 10 });
    const skipped = await runAcceptance(step.template, hostOnly, { ...BASE, host, connect_to: `127.0.0.1:${s.port}`, insecure: "true" });
    expect(skipped.code).toBe(0);
  });
});

describe("acceptance: only the preview's host", () => {
  const preview = "pr-7.preview.example.com";
  const hostile = ["argo-server.argo.svc.cluster.local", "kubernetes.default.svc", "169.254.169.254.nip.io", "pr-8.preview.example.com"];

  it("refuses every endpoint on another host before any request: exit 2, naming each such host", async () => {
    const s = await serve(() => ({}));
    const urls = {
      ns: "impl-pr-7", release: "app-pr-7",
      hosts: [preview, `api.${preview}`, hostile[3]],
      endpoints: [
        { host: preview, path: "/", url: `http://${preview}/` },
        { host: hostile[0], path: "/", url: `http://${hostile[0]}/` },
        { host: hostile[1], path: "/api", url: `https://${hostile[1]}/api` },
        { host: hostile[2], path: "/latest/meta-data/", url: `http://${hostile[2]}/latest/meta-data/` },
        { host: `X${preview}`.toUpperCase(), path: "/", url: `http://X${preview}/` },
      ],
    };
    // connect_to sends every request to the test server, so a request to any host would be seen there.
    const r = await runAcceptance(step.template, urls, { ...BASE, host: preview, connect_to: `127.0.0.1:${s.port}` });
    expect(r.code).toBe(2);
    expect(s.received).toEqual([]);
    const refused = [hostile[0], hostile[1], hostile[2], `x${preview}`, hostile[3]];
    expect(r.stderr.trim().split("\n")).toEqual(refused.map(
      (h) => `ERROR: host: urls.json names ${h}, which is not the preview host ${preview} or under it (*.${preview}); acceptance requests only the preview, so nothing was requested`,
    ));
    expect(r.report).toMatchObject({ verdict: "error", judged: false, checks: [] });
    for (const h of refused) expect(r.summary).toContain(h);
  });

  it("refuses an endpoint whose url leaves the preview even when its host field names the preview", async () => {
    const s = await serve(() => ({}));
    const urls = { ns: "impl-pr-7", release: "app-pr-7", hosts: [], endpoints: [{ host: preview, path: "/", url: `http://${preview}.evil.example/` }] };
    const r = await runAcceptance(step.template, urls, { ...BASE, host: preview, connect_to: `127.0.0.1:${s.port}` });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ERROR: host: urls.json names ${preview}.evil.example, which is not the preview host`);
    expect(s.received).toEqual([]);
  });

  it("tests the preview's host and hosts under it, and carries discovery's warnings into the report", async () => {
    const s = await serve(() => ({}));
    const warning = `ingress host ${hostile[0]} (Ingress argo) is not the preview host ${preview} or under it: left out, acceptance does not request it`;
    const urls = {
      ns: "impl-pr-7", release: "app-pr-7", hosts: [preview, `api.${preview}`],
      endpoints: [{ host: preview, path: "/", url: `http://${preview}/` }, { host: `api.${preview}`, path: "/v1", url: `http://api.${preview}/v1` }],
      warnings: [warning],
    };
    const r = await runAcceptance(step.template, urls, { ...BASE, host: preview, connect_to: `127.0.0.1:${s.port}` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(new Set(s.received.map((x) => x.host))).toEqual(new Set([preview, `api.${preview}`]));
    expect(r.report.warnings).toContain(warning);
    expect(r.summary).toContain(`> **Warning:** ${warning}`);
  });

  it("refuses a host input that is not a lowercase DNS name", async () => {
    const s = await serve(() => ({}));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), { ...BASE, host: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ERROR: host: must be the preview's host/m);
    expect(s.received).toEqual([]);
  });
});

describe("acceptance: errors before any request", () => {
  it("refuses urls.json without endpoints or hosts: exit 2, verdict error, nothing sent", async () => {
    const r = await runAcceptance(step.template, { ns: "impl-pr-7", release: "app-pr-7", hosts: [], endpoints: [] }, BASE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ERROR: deploy-urls: .*nothing to test/m);
    expect(r.report).toMatchObject({ verdict: "error", judged: false, checks: [] });
    expect(r.summary).toContain("nothing was judged");
  });

  it.each([
    ["text that is not JSON", "not json"],
    ["an ftp URL", JSON.stringify(urlsFor("ftp://127.0.0.1/"))],
    ["a URL with a quote", JSON.stringify({ ns: "impl-pr-7", hosts: [], endpoints: [{ host: "a", path: "/", url: 'http://a/"x' }] })],
    ["a URL with a space", JSON.stringify({ ns: "impl-pr-7", hosts: [], endpoints: [{ host: "a", path: "/", url: "http://a/ x" }] })],
  ])("refuses a urls.json with %s", async (_what, text) => {
    const r = await runAcceptance(step.template, text, BASE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ERROR: deploy-urls: /m);
  });

  const bad: Array<[string, Record<string, string>, string, RegExp?]> = [
    ["a fraction as min_success_pct", { min_success_pct: "0.95" }, "min_success_pct", /is a percentage \(0-100\)/],
    ["a percentage over 100", { min_success_pct: "101" }, "min_success_pct"],
    ["a negative percentage", { min_success_pct: "-1" }, "min_success_pct"],
    ["a word as min_success_pct", { min_success_pct: "high" }, "min_success_pct"],
    ["a percentage with a leading zero", { min_success_pct: "05" }, "min_success_pct"],
    ["a negative max_p95_ms", { max_p95_ms: "-5" }, "max_p95_ms"],
    ["zero max_p95_ms", { max_p95_ms: "0" }, "max_p95_ms"],
    ["a non-number max_p95_ms", { max_p95_ms: "2s" }, "max_p95_ms"],
    ["zero requests", { requests_per_endpoint: "0" }, "requests_per_endpoint"],
    ["a non-number of requests", { requests_per_endpoint: "ten" }, "requests_per_endpoint"],
    ["more than 10000 requests", { requests_per_endpoint: "10001" }, "requests_per_endpoint"],
    ["zero concurrency", { concurrency: "0" }, "concurrency"],
    ["a concurrency over 64", { concurrency: "65" }, "concurrency"],
    ["a timeout under 100 ms", { timeout_ms: "50" }, "timeout_ms"],
    ["a status rule with a semicolon", { expect: "2xx;3xx" }, "expect"],
    ["a status rule of 600", { expect: "600" }, "expect"],
    ["paths that are not JSON", { paths: "/health=200" }, "paths"],
    ["a paths key without a slash", { paths: '{"health": "200"}' }, "paths"],
    ["a paths rule that is not a rule", { paths: '{"/health": "ok"}' }, "paths"],
    ["insecure of yes", { insecure: "yes" }, "insecure"],
    ["connect_to without a port", { connect_to: "ingress" }, "connect_to"],
    ["connect_to with command substitution", { connect_to: "$(touch PWNED):80" }, "connect_to"],
    ["a worst case beyond the 3-minute budget", { requests_per_endpoint: "1000", concurrency: "1", timeout_ms: "10000" }, "requests_per_endpoint", /170 s/],
    ["readiness and measurement together beyond the budget", { ready_consecutive: "3", ready_timeout_s: "160", requests_per_endpoint: "20", concurrency: "1", timeout_ms: "1000" }, "requests_per_endpoint", /ready_timeout_s/],
    ["an unknown judge", { judge: "p95" }, "judge"],
    ["a negative ready_consecutive", { ready_consecutive: "-1" }, "ready_consecutive"],
    ["ready_consecutive over 100", { ready_consecutive: "101" }, "ready_consecutive"],
    ["a zero ready_timeout_s", { ready_timeout_s: "0" }, "ready_timeout_s"],
    ["a ready_timeout_s beyond the budget", { ready_timeout_s: "171" }, "ready_timeout_s"],
    ["a rate of zero", { rate: "0" }, "rate"],
    ["a rate that is not a number", { rate: "fast" }, "rate"],
    ["a rate over 1000", { rate: "1001" }, "rate"],
    ["a rate with four decimals", { rate: "1.2345" }, "rate"],
    ["a zero duration_s", { rate: "10", duration_s: "0" }, "duration_s"],
    ["an open-model schedule beyond the budget", { rate: "1", duration_s: "170", timeout_ms: "1000" }, "duration_s", /170 s/],
    ["an open model that would keep too many requests in flight", { rate: "100", timeout_ms: "60000", duration_s: "10" }, "rate", /in flight/],
    ["a negative max_p99_ms", { max_p99_ms: "-1" }, "max_p99_ms"],
  ];

  it.each(bad)("refuses %s before any request: exit 2 naming the input", async (_what, overrides, input, message) => {
    const s = await serve(() => ({}));
    const r = await runAcceptance(step.template, urlsFor(`${s.origin}/`), { ...BASE, ...overrides });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    if (message) expect(r.stderr).toMatch(message);
    expect(s.received).toEqual([]);
    expect(r.report).toMatchObject({ verdict: "error", judged: false });
    expect(existsSync(path.join(r.root, "PWNED"))).toBe(false);
  });

  it("lists every bad input at once", async () => {
    const r = await runAcceptance(step.template, urlsFor("http://127.0.0.1:1/"), { ...BASE, min_success_pct: "0.5", max_p95_ms: "x", concurrency: "0" });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").map((l) => l.split(":")[1].trim())).toEqual(["min_success_pct", "max_p95_ms", "concurrency"]);
  });
});
