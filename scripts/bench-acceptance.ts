/**
 * `npm run bench:acceptance`: figures, not a test. Runs the rendered acceptance step and the seed's
 * method (`date` around each curl) against loopback servers whose latencies are known, and prints
 * what each reports next to the true values, with the wall time.
 *
 * Goals (issue 4): reported p50/p95 within 5 ms or 5% of the truth; 200 requests to a 50 ms
 * endpoint at concurrency 10 measured in at most 1.3 s.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { implementationDag, previewRender, templateNamed } from "../test/helpers/render";
import { runAcceptance, urlsFor } from "../test/acceptance/harness";

/** Nearest-rank percentile of `values` (any order). */
export function nearestRank(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil((p * s.length) / 100)) - 1];
}

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
 * It also measures each answer itself, from the request's arrival to the end of the response: that is
 * the true latency (the intended delay plus whatever the server's own timers added), served at
 * GET /__truth.
 */
const SERVER = `
const delays = JSON.parse(process.argv[1]);
const truth = [];
let n = 0;
const server = require("node:http").createServer((req, res) => {
  if (req.url === "/__truth") return res.end(JSON.stringify(truth));
  const t0 = process.hrtime.bigint();
  const d = delays[n++ % delays.length];
  res.on("finish", () => truth.push(Number(process.hrtime.bigint() - t0) / 1e6));
  setTimeout(() => res.end("ok\\n"), d);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/** Starts the server with a delay cycle; resolves with its URL, its measured truth and a stop function. */
async function startDelayServer(delays: number[]): Promise<{ url: string; truth: () => Promise<number[]>; stop: () => void }> {
  const child = spawn(process.execPath, ["-e", SERVER, JSON.stringify(delays)], { stdio: ["ignore", "pipe", "inherit"] });
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
  const template = templateNamed(implementationDag(await previewRender()), "acceptance");
  const rows: Row[] = [];
  // A known spread: 10, 20, ..., 100 ms in turn, and one request in twenty at 300 ms.
  const spread = Array.from({ length: 20 }, (_, i) => (i === 19 ? 300 : 10 * ((i % 10) + 1)));
  const cases: Array<{ name: string; delays: number[] }> = [
    { name: "fixed 20 ms", delays: [20] },
    { name: "fixed 50 ms", delays: [50] },
    { name: "spread 10-100 ms + 5% at 300 ms", delays: spread },
  ];
  const loads: Array<[number, number]> = [[10, 1], [200, 1], [200, 10]];
  for (const k of cases) {
    for (const [n, c] of loads) {
      for (const method of ["step", "seed"] as const) {
        const server = await startDelayServer(k.delays);
        try {
          if (method === "step") {
            const r = await runAcceptance(template, urlsFor(server.url), {
              min_success_pct: "95", max_p95_ms: "60000", requests_per_endpoint: String(n), concurrency: String(c), timeout_ms: "800",
              ...(template.inputs?.parameters?.some((p) => p.name === "ready_consecutive") ? { ready_consecutive: "0" } : {}),
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
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
