/**
 * Recording stand-ins for the tools that need a cluster (`kubectl`, `helm`, and `git` where it would
 * reach GitHub). Each stand-in is a tiny script on PATH that sends its argv, stdin, cwd and env to a
 * loopback HTTP server in the test process; the test's handler answers (stdout, stderr, exit code)
 * and may keep state, so one mechanism serves fixed fixtures and a stateful fake cluster alike.
 * Every call is recorded in order.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
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

/**
 * A stand-in is a bash script that sends its call to the test process with curl: a node process per
 * call cost ~85 ms of start-up, bash and curl ~10 ms, and a deploy makes about twenty calls. The
 * request body is NUL-separated (tool, cwd, reply path, argc, args, `NAME=value` for each exported
 * variable, an empty field, then stdin); the test process writes the answer's stderr and exit code to
 * `<reply path>.err` / `.code` and sends its stdout as the response body. Absolute paths: a step
 * under test may run with busybox's applets first on PATH, and the stand-in must not depend on them.
 */
const SHIM = (tools: { bash: string; curl: string; cat: string; rm: string }, tool: string, replies: string) => `#!${tools.bash}
# Stand-in for ${tool}: forwards the call to the test process and replays its answer.
set -uo pipefail
reply='${replies}'/$$.$RANDOM
stdin=false
# Like the real tools, read stdin only when told to ("-f -").
for arg in "$@"; do [[ $arg == - ]] && stdin=true; done
[[ -t 0 ]] && stdin=false
request() {
  printf '%s\\0' ${tool} "$PWD" "$reply" "$#" "$@"
  local name
  for name in $(compgen -e); do printf '%s=%s\\0' "$name" "\${!name}"; done
  printf '\\0'
  if $stdin; then ${tools.cat}; fi
}
if ! request "$@" | ${tools.curl} -sS --fail --data-binary @- -H 'content-type: application/octet-stream' "$STAND_IN_URL"; then
  echo "stand-in ${tool}: the test process did not answer" >&2
  exit 99
fi
[[ -s $reply.err ]] && ${tools.cat} "$reply.err" >&2
read -r code < "$reply.code"
${tools.rm} -f "$reply.err" "$reply.code"
exit "$code"
`;

/** Where a program is, searched on PATH (the stand-ins name their tools by absolute path). */
function which(program: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const file = path.join(dir, program);
    if (dir && existsSync(file)) return file;
  }
  throw new Error(`stand-ins need ${program} on PATH`);
}

/** Reads a stand-in's request body (see {@link SHIM}). */
function parseCall(body: Buffer): { call: ToolCall; reply: string } {
  let at = 0;
  const field = (): string => {
    const end = body.indexOf(0, at);
    if (end < 0) throw new Error("stand-in request is cut short");
    const value = body.subarray(at, end).toString("utf8");
    at = end + 1;
    return value;
  };
  const tool = field();
  const cwd = field();
  const reply = field();
  const argc = Number(field());
  const args = Array.from({ length: argc }, field);
  const env: Record<string, string> = {};
  for (let entry = field(); entry !== ""; entry = field()) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { call: { tool, args, stdin: body.subarray(at).toString("utf8"), cwd, env }, reply };
}

/** Starts stand-ins for the given tools, answered by `handler`. */
export async function startStandIns(tools: string[], handler: ToolHandler): Promise<StandIns> {
  const dir = mkdtempSync(path.join(tmpdir(), "stand-ins-"));
  const replies = path.join(dir, ".replies");
  mkdirSync(replies);
  const programs = { bash: which("bash"), curl: which("curl"), cat: which("cat"), rm: which("rm") };
  for (const tool of tools) {
    if (!/^[a-z][a-z0-9-]*$/.test(tool)) throw new Error(`stand-in name ${JSON.stringify(tool)} is not a plain program name`);
    const file = path.join(dir, tool);
    writeFileSync(file, SHIM(programs, tool, replies));
    chmodSync(file, 0o755);
  }
  const calls: ToolCall[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", async () => {
      let parsed: ReturnType<typeof parseCall>;
      try {
        parsed = parseCall(Buffer.concat(parts));
      } catch (e) {
        res.statusCode = 400;
        res.end(e instanceof Error ? e.message : String(e));
        return;
      }
      const { call, reply: replyPath } = parsed;
      calls.push(call);
      let reply: ToolReply;
      try {
        reply = await handler(call);
      } catch (e) {
        reply = { stderr: `stand-in handler failed: ${e instanceof Error ? e.message : String(e)}\n`, code: 98 };
      }
      writeFileSync(`${replyPath}.err`, reply.stderr ?? "");
      writeFileSync(`${replyPath}.code`, `${reply.code ?? 0}\n`);
      res.setHeader("content-type", "application/octet-stream");
      res.end(reply.stdout ?? "");
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
