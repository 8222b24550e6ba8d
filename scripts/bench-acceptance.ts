/**
 * `npm run bench:acceptance`: figures, not a test. Runs the rendered acceptance step and the seed's
 * method (`date` around each curl) against loopback servers whose latencies are known, and prints
 * what each reports next to the true values, with the wall time.
 *
 * Goals: reported p50/p95 within 5 ms or 5% of the truth; 200 requests to a 50 ms endpoint at
 * concurrency 10 measured in at most 1.3 s. Then the open model against the closed one on a server
 * that stalls once: reported against true p50/p95/p99.
 *
 * BENCH_QUICK=1 runs only the 10-request loads of the first table (a quick look, about 20 s).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { implementationDag, templateNamed } from "../simulator/render";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { nearestRank, runAcceptance, urlsFor } from "../simulator/acceptance-harness";
import { parseConfig } from "../components/config";
import { acceptanceDefaults } from "../components/workflow/acceptance";
import { readStackConfig, renderStack } from "./offline-render";

/** Acceptance's inputs as the preview stack gives them (the step carries no defaults of its own). */
const STACK_ACCEPTANCE = acceptanceDefaults(parseConfig(readStackConfig("preview")).acceptance);

/**
 * The seed's way: `date +%s%3N` before and after each curl process, `concurrency` of them at a time
 * in background jobs. Percentiles are then taken by nearest rank, so that only the timing differs.
 */
const SEED_METHOD = `#!/usr/bin/env bash
set -u
url=$1 n=$2 c=$3 out=$4
one() {
  local start end code
  start=$(date +%s%3N)
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url")
  end=$(date +%s%3N)
  echo "$((end - start)) $code" >"$out/$1"
}
running=0
for ((i = 1; i <= n; i++)); do
  if ((running >= c)); then wait -n; running=$((running - 1)); fi
  one "$i" &
  running=$((running + 1))
done
wait
`;

async function seedMethod(url: string, n: number, c: number): Promise<{ samples: number[]; wallMs: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-seed-"));
  const script = path.join(dir, "seed.sh");
  writeFileSync(script, SEED_METHOD, { mode: 0o755 });
  const out = path.join(dir, "out");
  mkdirSync(out);
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [script, url, String(n), String(c), out], { stdio: "inherit" });
    child.on("error", reject);
    child.on("close", () => resolve());
  });
  const wallMs = performance.now() - t0;
  const samples = readdirSync(out).map((f) => Number(readFileSync(path.join(out, f), "utf8").split(" ")[0]));
  return { samples, wallMs };
}

/**
 * The loopback server runs in a process of its own, so that nothing the benchmark does delays its
 * answers: request number n (1-based, in arrival order) waits DELAYS[(n - 1) % DELAYS.length] ms.
 * With a stall, the server stops answering for STALL.ms from its STALL.at-th request on, once: every
 * answer due in that second waits until it ends. It also measures each answer itself, from the request's arrival to the end of the response: that is
 * the true latency (the intended delay plus whatever the server's own timers added), served at
 * GET /__truth.
 */
const SERVER = `
const delays = JSON.parse(process.argv[1]);
const stall = JSON.parse(process.argv[2]);
const truth = [];
let n = 0;
let stallUntil = 0;
const server = require("node:http").createServer((req, res) => {
  if (req.url === "/__truth") return res.end(JSON.stringify(truth));
  const t0 = process.hrtime.bigint();
  const now = performance.now();
  if (stall && n + 1 === stall.at) stallUntil = now + stall.ms;
  const d = Math.max(delays[n++ % delays.length], stallUntil - now);
  res.on("finish", () => truth.push(Number(process.hrtime.bigint() - t0) / 1e6));
  setTimeout(() => res.end("ok\\n"), d);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/** Starts the server with a delay cycle; resolves with its URL, its measured truth and a stop function. */
async function startDelayServer(
  delays: number[],
  stall?: { at: number; ms: number },
): Promise<{ url: string; truth: () => Promise<number[]>; stop: () => void }> {
  const child = spawn(process.execPath, ["-e", SERVER, JSON.stringify(delays), JSON.stringify(stall ?? null)], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
    child.once("error", reject);
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    truth: async () => (await (await fetch(`${origin}/__truth`)).json()) as number[],
    stop: () => child.kill(),
  };
}

interface Row {
  case: string;
  method: string;
  n: number;
  c: number;
  trueP50: number;
  trueP95: number;
  p50: number;
  p95: number;
  wallMs: number;
  note?: string;
}

const within = (reported: number, truth: number) => Math.abs(reported - truth) <= Math.max(5, truth * 0.05);
const fmt = (x: number) => x.toFixed(1).padStart(8);

async function main(): Promise<void> {
  const template = templateNamed(implementationDag(await renderStack()), "acceptance");
  const rows: Row[] = [];
  // A known spread: 10, 20, ..., 100 ms in turn, and one request in twenty at 300 ms.
  const spread = Array.from({ length: 20 }, (_, i) => (i === 19 ? 300 : 10 * ((i % 10) + 1)));
  const cases: Array<{ name: string; delays: number[] }> = [
    { name: "fixed 20 ms", delays: [20] },
    { name: "fixed 50 ms", delays: [50] },
    { name: "spread 10-100 ms + 5% at 300 ms", delays: spread },
  ];
  const loads: Array<[number, number]> = process.env.BENCH_QUICK ? [[10, 1]] : [[10, 1], [200, 1], [200, 10]];
  for (const k of cases) {
    for (const [n, c] of loads) {
      for (const method of ["step", "seed"] as const) {
        const server = await startDelayServer(k.delays);
        try {
          if (method === "step") {
            const r = await runAcceptance(template, urlsFor(server.url), {
              ...STACK_ACCEPTANCE,
              min_success_pct: "95", max_p95_ms: "60000", requests_per_endpoint: String(n), concurrency: String(c), timeout_ms: "800", ready_consecutive: "0",
            });
            if (r.code !== 0) throw new Error(`step exited ${r.code}: ${r.stderr}`);
            const t = await server.truth();
            rows.push({ case: k.name, n, c, trueP50: nearestRank(t, 50), trueP95: nearestRank(t, 95), method: "step (curl timers)", p50: r.report.summary.p50_ms, p95: r.report.summary.p95_ms, wallMs: r.report.load.measure_wall_ms });
          } else {
            const s = await seedMethod(server.url, n, c);
            const t = await server.truth();
            rows.push({ case: k.name, n, c, trueP50: nearestRank(t, 50), trueP95: nearestRank(t, 95), method: "seed (date around curl)", p50: nearestRank(s.samples, 50), p95: nearestRank(s.samples, 95), wallMs: s.wallMs });
          }
        } finally {
          server.stop();
        }
      }
    }
  }

  console.log("\nacceptance benchmark: reported vs. true latency (ms, nearest rank). true = the server's own measure of each answer,");
  console.log(`from arrival to the end of the response; wall = time to send and measure all requests. load average: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log("goal: error within 5 ms or 5%; 200 requests to a 50 ms endpoint at concurrency 10 in at most 1300 ms\n");
  console.log(`${"case".padEnd(32)} ${"method".padEnd(24)} ${"n".padStart(4)} ${"c".padStart(3)}  true p50  rep. p50  true p95  rep. p95   wall ms  goal`);
  for (const r of rows) {
    const ok = within(r.p50, r.trueP50) && within(r.p95, r.trueP95);
    const wallGoal = r.case === "fixed 50 ms" && r.n === 200 && r.c === 10 ? (r.wallMs <= 1300 ? " wall ok" : " WALL MISSED") : "";
    console.log(`${r.case.padEnd(32)} ${r.method.padEnd(24)} ${String(r.n).padStart(4)} ${String(r.c).padStart(3)}  ${fmt(r.trueP50)}  ${fmt(r.p50)}  ${fmt(r.trueP95)}  ${fmt(r.p95)}  ${fmt(r.wallMs)}  ${ok ? "ok" : "MISSED"}${wallGoal}`);
  }
  await stallCase(template);
}

/**
 * Coordinated omission: a server answering in 5 ms stalls once for 1 s. Users arriving at 20/s for
 * 5 s meet it: the true latencies are what the server itself measures when requests arrive on that
 * schedule (the open-model run). The closed model (100 requests one after another) sends only one
 * request into the stall and waits for it, so its percentiles do not show the stall.
 */
async function stallCase(template: ITemplate): Promise<void> {
  const stall = { at: 30, ms: 1000 };
  const runs: Array<{ model: string; params: Record<string, string> }> = [
    { model: "open, 20/s for 5 s", params: { rate: "20", duration_s: "5" } },
    { model: "closed, 100 requests, c=1", params: { requests_per_endpoint: "100", concurrency: "1" } },
    { model: "closed, 100 requests, c=4", params: { requests_per_endpoint: "100", concurrency: "4" } },
  ];
  let usersTruth: number[] = [];
  const lines: string[] = [];
  for (const run of runs) {
    const server = await startDelayServer([5], stall);
    try {
      const r = await runAcceptance(template, urlsFor(server.url), {
        ...STACK_ACCEPTANCE,
        min_success_pct: "95", max_p95_ms: "60000", timeout_ms: "1500", ready_consecutive: "0", concurrency: "1", ...run.params,
      });
      if (r.code !== 0) throw new Error(`step exited ${r.code}: ${r.stderr}`);
      const own = await server.truth();
      if (run.params.rate) usersTruth = own;
      const s = r.report.summary;
      lines.push(`${run.model.padEnd(28)} ${fmt(s.p50_ms)} ${fmt(s.p95_ms)} ${fmt(s.p99_ms)}   ${[50, 95, 99].map((p) => fmt(nearestRank(usersTruth, p))).join(" ")}   ${fmt(s.max_ms)}`);
    } finally {
      server.stop();
    }
  }
  console.log("\nopen vs. closed model on a server that answers in 5 ms and stalls once for 1 s (ms, nearest rank);");
  console.log("true = what users arriving at 20/s over 5 s meet (the server's own timing of the open-model run)\n");
  console.log(`${"model".padEnd(28)} ${"rep. p50".padStart(8)} ${"rep. p95".padStart(8)} ${"rep. p99".padStart(8)}   ${"true p50".padStart(8)} ${"true p95".padStart(8)} ${"true p99".padStart(8)}   ${"rep. max".padStart(8)}`);
  for (const l of lines) console.log(l);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
