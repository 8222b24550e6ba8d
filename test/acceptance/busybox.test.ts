/**
 * The acceptance step with busybox's tools first on PATH (the step image is Alpine-based): every
 * tool it calls is busybox's applet, except bash, curl and jq.
 */
import { describe, expect, it } from "vitest";
import { busyboxDir } from "../helpers/busybox";
import { closedPort, expectServerTimes, LOG, runAcceptance, runKeepingSchedule, urlsFor } from "../../simulator/acceptance-harness";
import { BASE, useAcceptanceStep } from "./step";

const step = useAcceptanceStep();
const serve = step.serve;
const bin = busyboxDir();

const run = (urls: unknown, params: Record<string, string>) => runAcceptance(step.template, urls, { ...BASE, ...params }, { pathPrepend: [bin] });

describe("acceptance with busybox tools", () => {
  it("measures a share of 503s and a fixed latency exactly as with GNU tools", async () => {
    const s = await serve(({ n }) => ({ status: n % 5 === 0 ? 503 : 200, delayMs: 30 }));
    const r = await run(urlsFor(`${s.origin}/`), { requests_per_endpoint: "20", min_success_pct: "80" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.report.summary).toMatchObject({ success_pct: 80, total_requests: 20, successful_requests: 16, failed_requests: 4 });
    expect(r.report.summary.failures_by_cause).toEqual({ status_503: 4 });
    expect(r.report.summary.p95_ms).toBeGreaterThanOrEqual(30);
    expectServerTimes(r.report.summary, s, 30);
    expect(r.log).toHaveLength(20);
    expect(r.summary).toContain("xychart-beta");
  });

  it("fails 404s under the default rule, counts refused connections and timeouts by cause", async () => {
    const notFound = await serve(() => ({ status: 404 }));
    const slow = await serve(({ n }) => ({ delayMs: n === 1 ? 5000 : 0 }));
    const port = await closedPort();
    const r = await run(urlsFor(`${notFound.origin}/x`, `${slow.origin}/`, `http://127.0.0.1:${port}/`), { requests_per_endpoint: "3", timeout_ms: "300" });
    expect(r.code).toBe(1);
    expect(r.report.summary.failures_by_cause).toEqual({ status_404: 3, timeout: 1, connection_refused: 3 });
    const timedOut = r.log.find((row) => row[LOG.result] === "timeout")!;
    // curl enforces --max-time to within a few milliseconds.
    expect(Number(timedOut[LOG.total])).toBeGreaterThanOrEqual(290);
  });

  it("waits for readiness (503s for a while, then 200s) without counting the probes", async () => {
    let first = -1;
    const s = await serve(({ at }) => {
      if (first < 0) first = at;
      return { status: at - first < 1000 ? 503 : 200 };
    });
    const r = await run(urlsFor(`${s.origin}/`), { ready_consecutive: "2", ready_timeout_s: "10" });
    expect(r.code).toBe(0);
    expect(r.report.summary).toMatchObject({ success_pct: 100, total_requests: 10 });
    expect(r.report.endpoints[0].ready.ready).toBe(true);
    expect(r.report.endpoints[0].ready.after_ms).toBeGreaterThanOrEqual(1000);
    expect(r.log.filter((row) => row[LOG.phase] === "ready" && row[LOG.result] === "status_503").length).toBeGreaterThan(0);
  });

  it("runs the open model on its schedule", async () => {
    const r = await runKeepingSchedule(async () => run(urlsFor(`${(await serve(() => ({ delayMs: 5 }))).origin}/`), { rate: "20", duration_s: "1" }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.report.load).toMatchObject({ model: "open", scheduled: 20, started: 20, dropped: 0 });
    const offsets = r.log.map((row) => Number(row[LOG.scheduled])).sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 20 }, (_, i) => i * 50));
  });

  it("refuses bad inputs and an empty urls.json with exit 2", async () => {
    const bad = await run(urlsFor("http://127.0.0.1:1/"), { min_success_pct: "0.9" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ERROR: min_success_pct: is a percentage/m);
    const empty = await run({ ns: "impl-pr-7", hosts: [], endpoints: [] }, {});
    expect(empty.code).toBe(2);
    expect(empty.report.verdict).toBe("error");
  });
});
