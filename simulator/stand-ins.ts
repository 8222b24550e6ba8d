/**
 * Recording stand-ins for the tools that need a cluster (`kubectl`, `helm`, and `git` where it would
 * reach GitHub). Each stand-in is a tiny executable on PATH that sends its argv, stdin and cwd to a
 * loopback HTTP server in the test process; the test's handler answers (stdout, stderr, exit code)
 * and may keep state, so one mechanism serves fixed fixtures and a stateful fake cluster alike.
 * Every call is recorded in order.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** One call of a stand-in. */
export interface ToolCall {
  tool: string;
  args: string[];
  stdin: string;
  cwd: string;
  /** The environment the tool ran with. */
  env: Record<string, string>;
}

/** What a stand-in answers. */
export interface ToolReply {
  stdout?: string;
  stderr?: string;
  /** Exit code; defaults to 0. */
  code?: number;
}

/** Decides a stand-in's answer. */
export type ToolHandler = (call: ToolCall) => ToolReply | Promise<ToolReply>;

/** Running stand-ins. */
export interface StandIns {
  /** Directory to put first on PATH. */
  dir: string;
  /** Every call so far, in order. */
  calls: ToolCall[];
  /** Environment the step needs so the stand-ins reach this process. */
  env: Record<string, string>;
  /** Calls as `tool arg arg…` lines (for exact assertions). */
  lines(tools?: string[]): string[];
  close(): Promise<void>;
}

const SHIM = (node: string, tool: string) => `#!${node}
// Stand-in for ${tool}: forwards the call to the test process and replays its answer.
const http = require("node:http");
const chunks = [];
const send = () => {
  const body = JSON.stringify({ tool: ${JSON.stringify(tool)}, args: process.argv.slice(2), stdin: Buffer.concat(chunks).toString("utf8"), cwd: process.cwd(), env: process.env });
  const req = http.request(process.env.STAND_IN_URL, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
    const parts = [];
    res.on("data", (d) => parts.push(d));
    res.on("end", () => {
      const reply = JSON.parse(Buffer.concat(parts).toString("utf8"));
      process.stdout.write(reply.stdout || "", () => process.stderr.write(reply.stderr || "", () => process.exit(reply.code || 0)));
    });
  });
  req.on("error", (e) => { process.stderr.write("stand-in ${tool}: " + e.message + "\\n"); process.exit(99); });
  req.end(body);
};
// Like the real tools, read stdin only when told to ("-f -").
if (process.stdin.isTTY || !process.argv.slice(2).includes("-")) send();
else { process.stdin.on("data", (d) => chunks.push(d)); process.stdin.on("end", send); process.stdin.on("error", send); }
`;

/** Starts stand-ins for the given tools, answered by `handler`. */
export async function startStandIns(tools: string[], handler: ToolHandler): Promise<StandIns> {
  const dir = mkdtempSync(path.join(tmpdir(), "stand-ins-"));
  for (const tool of tools) {
    const file = path.join(dir, tool);
    writeFileSync(file, SHIM(process.execPath, tool));
    chmodSync(file, 0o755);
  }
  const calls: ToolCall[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", async () => {
      const call = JSON.parse(Buffer.concat(parts).toString("utf8")) as ToolCall;
      calls.push(call);
      let reply: ToolReply;
      try {
        reply = await handler(call);
      } catch (e) {
        reply = { stderr: `stand-in handler failed: ${e instanceof Error ? e.message : String(e)}\n`, code: 98 };
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("stand-in server has no port");
  return {
    dir,
    calls,
    env: { STAND_IN_URL: `http://127.0.0.1:${address.port}/` },
    lines: (only) => calls.filter((c) => !only || only.includes(c.tool)).map((c) => [c.tool, ...c.args].join(" ")),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Whether a call needs no cluster, so the real tool answers it: `helm lint`, `helm template` and
 * `kubectl label --local` (what the chart contract check runs before deploy touches the cluster).
 */
export function isOfflineCall(call: ToolCall): boolean {
  if (call.tool === "helm") return call.args[0] === "lint" || call.args[0] === "template";
  return call.tool === "kubectl" && call.args[0] === "label" && call.args.includes("--local");
}
