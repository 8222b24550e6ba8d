/**
 * What the acceptance tests share: loopback HTTP(S) servers whose answers the test controls, a test
 * CA made with the real openssl, and one call that runs the rendered
 * `acceptance` template as Argo would against a given urls.json.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate, type StepResult } from "./argo-step";
import { STEPS_DIR } from "../components/argo/script-template";

/** What a loopback server answers to one request. */
export interface Answer {
  /** HTTP status. Defaults to 200. */
  status?: number;
  /** Milliseconds to wait before answering. Defaults to 0. */
  delayMs?: number;
  /** Body. Defaults to `ok <n>`. */
  body?: string;
}

/** One request a loopback server received. */
export interface Received {
  /** 1-based arrival number. */
  n: number;
  /** Milliseconds since the server started. */
  at: number;
  path: string;
  host: string;
  /** TLS server name (SNI), for HTTPS servers. */
  servername?: string;
  /**
   * The server's own time from the request's arrival to the moment it began its answer, in ms (set
   * when it answers): a client cannot have seen the answer sooner. (The end of the answer, Node's
   * `finish`, is noted after the bytes left and can run late on a busy machine.)
   */
  durationMs?: number;
}

/** A running loopback server. */
export interface Loopback {
  port: number;
  /** `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>`. */
  origin: string;
  /** Every request received, in arrival order. */
  received: Received[];
  close(): Promise<void>;
}

/** Decides the answer to request number `n` (1-based) arriving `at` ms after start. */
export type Handler = (r: Received) => Answer;

/** Starts an HTTP (or, with `tls`, HTTPS) server on 127.0.0.1 with a free port. */
export async function startServer(handler: Handler, tls?: { key: string; cert: string }): Promise<Loopback> {
  const started = performance.now();
  const received: Received[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const r: Received = {
      n: received.length + 1,
      at: performance.now() - started,
      path: req.url ?? "",
      host: req.headers.host ?? "",
      servername: (req.socket as TLSSocket).servername || undefined,
    };
    received.push(r);
    const a = handler(r);
    const due = started + r.at + (a.delayMs ?? 0);
    const reply = () => {
      timers.delete(timer);
      // Node fires a timer up to a millisecond early (its loop's clock is read once per turn): the
      // delay is a lower bound, so the rest is waited for.
      const left = due - performance.now();
      if (left > 0) {
        timer = setTimeout(reply, Math.ceil(left));
        timers.add(timer);
        return;
      }
      r.durationMs = performance.now() - started - r.at;
      res.statusCode = a.status ?? 200;
      res.setHeader("content-type", "text/plain");
      res.end(a.body ?? `ok ${r.n}\n`);
    };
    let timer = setTimeout(reply, a.delayMs ?? 0);
    timers.add(timer);
  };
  const server: Server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, listener) : createHttpServer(listener);
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Nearest-rank percentile of `values` (any order), computed by the gate's own definition
 * (components/steps/lib/percentiles.jq), so a comparison with a server's known answers uses the rank
 * the report uses.
 */
export function nearestRank(values: number[], p: number): number {
  const program = 'include "percentiles"; ($v | sort) as $s | $s[rank($p; $s | length) - 1]';
  const args = ["-n", "-L", path.join(STEPS_DIR, "lib"), "--argjson", "v", JSON.stringify(values), "--argjson", "p", String(p), program];
  return Number(execFileSync("jq", args, { encoding: "utf8" }));
}

/**
 * Asserts what a client's figures must hold whatever the machine's load: at or above the delay the
 * server was told to make, p95 at or above p50, and each at or above the same rank of the server's
 * own times from arrival to the start of its answer (which a client cannot have seen sooner).
 */
export function expectServerTimes(reported: { p50_ms: number; p95_ms: number }, server: Loopback, delayMs: number): void {
  const truth = server.received.map((r) => r.durationMs ?? NaN);
  if (truth.some(Number.isNaN)) throw new Error("the server has not answered every request");
  if (reported.p50_ms < delayMs) throw new Error(`p50 ${reported.p50_ms} ms is below the server's delay of ${delayMs} ms`);
  if (reported.p95_ms < reported.p50_ms) throw new Error(`p95 ${reported.p95_ms} ms is below p50 ${reported.p50_ms} ms`);
  // A client cannot have waited less than the server took to begin its answer (1 ms for rounding).
  // Upper bounds depend on how loaded the machine is, so none is asserted here: that the figures
  // are curl's own is shown by comparing them with the request log (see the figures tests).
  const p50 = nearestRank(truth, 50);
  const p95 = nearestRank(truth, 95);
  if (reported.p50_ms < p50 - 1) throw new Error(`p50 ${reported.p50_ms} ms is below the server's own p50 ${p50.toFixed(3)} ms`);
  if (reported.p95_ms < p95 - 1) throw new Error(`p95 ${reported.p95_ms} ms is below the server's own p95 ${p95.toFixed(3)} ms`);
}

/** A port on 127.0.0.1 nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const s = await startServer(() => ({}));
  await s.close();
  return s.port;
}

/** A test CA and a server certificate it signed for `names` (DNS names) and 127.0.0.1. */
export interface TestPki {
  /** Path of the CA certificate (PEM). */
  caFile: string;
  key: string;
  cert: string;
}

/** Makes a CA and a server certificate with the real openssl. */
export function makeTestPki(names: string[]): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "acceptance-pki-"));
  const f = (name: string) => path.join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  execFileSync("openssl", ["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=acceptance test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], { stdio: "pipe" });
  execFileSync("openssl", ["req", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"), "-subj", `/CN=${names[0]}`], { stdio: "pipe" });
  writeFileSync(f("ext.cnf"), [
    `subjectAltName=${[...names.map((n) => `DNS:${n}`), "IP:127.0.0.1"].join(",")}`,
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "",
  ].join("\n"));
  execFileSync("openssl", ["x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("server.pem"), "-days", "2", "-extfile", f("ext.cnf")], { stdio: "pipe" });
  return { caFile: f("ca.pem"), key: readFileSync(f("server.key"), "utf8"), cert: readFileSync(f("server.pem"), "utf8") };
}


/** What one acceptance run produced. */
export interface AcceptanceRun extends StepResult {
  /** report.json, parsed (undefined when it was not written). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the report is checked field by field
  report: any;
  /** summary.md ("" when it was not written). */
  summary: string;
  /** logs/requests.log, split into rows of fields (header excluded). */
  log: string[][];
  /** The evidence directory on the host. */
  dir: string;
}

/** Options of {@link runAcceptance}. */
export interface AcceptanceOptions {
  /** Directories first on PATH (busybox applets). */
  pathPrepend?: string[];
  /** Extra environment (for curl's own CA settings). */
  env?: Record<string, string>;
}

/**
 * The preview host a run gets when the test gives none: the loopback servers' URLs are on 127.0.0.1,
 * so that is their "preview". Tests of hostnames (TLS, connect_to, foreign hosts) give `host` themselves.
 */
export const LOOPBACK_HOST = "127.0.0.1";

/** Runs the rendered acceptance template against `urls` (the urls.json object, or raw text). */
export async function runAcceptance(
  template: ITemplate,
  urls: unknown,
  parameters: Record<string, string>,
  options: AcceptanceOptions = {},
): Promise<AcceptanceRun> {
  const dir = mkdtempSync(path.join(tmpdir(), "acceptance-urls-"));
  const file = path.join(dir, "urls.json");
  writeFileSync(file, typeof urls === "string" ? urls : JSON.stringify(urls));
  const r = await runScriptTemplate(template, {
    parameters: { host: LOOPBACK_HOST, ...parameters },
    artifacts: { "deploy-urls": file },
    pathPrepend: options.pathPrepend,
    standInEnv: options.env,
    timeoutMs: 170_000,
  });
  const out = path.join(r.root, "outputs", "acceptance");
  const read = (name: string) => (existsSync(path.join(out, name)) ? readFileSync(path.join(out, name), "utf8") : "");
  const reportText = read("report.json");
  const log = read("logs/requests.log").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"));
  return { ...r, report: reportText ? JSON.parse(reportText) : undefined, summary: read("summary.md"), log, dir: out };
}

/**
 * Runs an open-model case until the load generator kept its schedule, at most `tries` times. Whether
 * it can depends on how loaded the machine is at that moment (a start more than 100 ms late on a busy
 * 2-core runner); the step detects that itself and says `error`, so a test asserts its figures on a run
 * the step trusts. `attempt` must start fresh servers each time.
 */
export async function runKeepingSchedule(attempt: () => Promise<AcceptanceRun>, tries = 3): Promise<AcceptanceRun> {
  let r = await attempt();
  for (let i = 1; i < tries && r.code === 2 && /could not keep up/.test(r.stderr); i++) r = await attempt();
  return r;
}

/** urls.json with one endpoint per URL (host and path taken from the URL). */
export function urlsFor(...urls: string[]): { ns: string; release: string; hosts: string[]; endpoints: Array<{ host: string; path: string; url: string }> } {
  const endpoints = urls.map((u) => {
    const parsed = new URL(u);
    return { host: parsed.hostname, path: parsed.pathname, url: u };
  });
  return { ns: "impl-pr-7", release: "app-pr-7", hosts: [...new Set(endpoints.map((e) => e.host))], endpoints };
}

/** Column index of a field in logs/requests.log rows. */
export const LOG = {
  phase: 0, endpoint: 1, seq: 2, status: 3, exit: 4, result: 5, scheduled: 6, lag: 7, dns: 8, connect: 9, tls: 10, ttfb: 11,
  server: 12, total: 13, latency: 14,
} as const;
