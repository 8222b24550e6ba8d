/**
 * Recording stand-ins for the tools that need a cluster (`kubectl`, `helm`, and `git` where it would
 * reach GitHub). Each stand-in is a tiny script on PATH that sends its argv, stdin, cwd and env to a
 * loopback HTTP server in the test process; the test's handler answers (stdout, stderr, exit code)
 * and may keep state, so one mechanism serves fixed fixtures and a stateful fake cluster alike.
 * Every call is recorded in order.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
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
 * A stand-in is a bash script that sends its call to the test process over bash's own TCP
 * redirection, so a call launches no process besides bash (a node process per call cost ~85 ms,
 * curl ~9 ms; a deploy makes about twenty calls). The request is an HTTP/1.0 POST whose body is
 * NUL-separated: tool, cwd, argc, args, `NAME=value` for each variable of the environment the tool
 * was started with (/proc/$$/environ), an empty field, then stdin. The answer's body is the exit code and the byte lengths of stderr and stdout on a line each,
 * then stderr, then stdout. Byte counts need the C locale, set once the caller's environment is
 * recorded. Both are read by length (`read -N`): bash reads a socket in blocks then, where reading up
 * to a delimiter takes one system call per byte (a `kubectl get` of a thousand namespaces is 870 kB).
 */
const SHIM = (bash: string, tool: string) => `#!${bash}
# Stand-in for ${tool}: forwards the call to the test process and replays its answer.
set -uo pipefail
fail() { echo "stand-in ${tool}: $1" >&2; exit 99; }
# The environment the tool was started with, as the kernel holds it (no subshell for compgen -e).
mapfile -d '' -t environment </proc/$$/environ
fields=(${tool} "$PWD" "$#" "$@" "\${environment[@]}" "")
LC_ALL=C
stdin=""
# Like the real tools, read stdin only when told to ("-f -").
for arg in "$@"; do
  if [[ $arg == - && ! -t 0 ]]; then IFS= read -r -d '' stdin || true; break; fi
done
length=\${#stdin}
for field in "\${fields[@]}"; do length=$((length + \${#field} + 1)); done
port=\${STAND_IN_URL##*:}
port=\${port%/}
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot reach the test process at $STAND_IN_URL"
printf 'POST / HTTP/1.0\\r\\nContent-Type: application/octet-stream\\r\\nContent-Length: %d\\r\\n\\r\\n' "$length" >&3
printf '%s\\0' "\${fields[@]}" >&3
printf '%s' "$stdin" >&3
IFS=$' \\t\\r' read -r _ status _ <&3 || fail "no answer from the test process"
[[ $status == 200 ]] || fail "the test process answered HTTP $status"
while IFS=$'\\r' read -r line <&3 && [[ -n $line ]]; do :; done
{ read -r code <&3 && read -r errors <&3 && read -r outputs <&3; } || fail "the test process's answer is cut short"
stderr=""
if ((errors > 0)); then IFS= read -r -N "$errors" stderr <&3; fi
stdout=""
if ((outputs > 0)); then IFS= read -r -N "$outputs" stdout <&3; fi
((\${#stderr} == errors && \${#stdout} == outputs)) || fail "the test process's answer is cut short"
printf '%s' "$stdout"
printf '%s' "$stderr" >&2
exit "$code"
`;

/** Reads a stand-in's request body (see {@link SHIM}). */
function parseCall(body: Buffer): ToolCall {
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
  const argc = Number(field());
  const args = Array.from({ length: argc }, field);
  const env: Record<string, string> = {};
  for (let entry = field(); entry !== ""; entry = field()) {
    const eq = entry.indexOf("=");
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { tool, args, stdin: body.subarray(at).toString("utf8"), cwd, env };
}

/** Starts stand-ins for the given tools, answered by `handler`. */
export async function startStandIns(tools: string[], handler: ToolHandler): Promise<StandIns> {
  const dir = mkdtempSync(path.join(tmpdir(), "stand-ins-"));
  const bash = ["/bin/bash", "/usr/bin/bash"].find((p) => existsSync(p));
  if (!bash) throw new Error("stand-ins need bash at /bin/bash or /usr/bin/bash");
  for (const tool of tools) {
    if (!/^[a-z][a-z0-9-]*$/.test(tool)) throw new Error(`stand-in name ${JSON.stringify(tool)} is not a plain program name`);
    const file = path.join(dir, tool);
    writeFileSync(file, SHIM(bash, tool));
    chmodSync(file, 0o755);
  }
  const calls: ToolCall[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", async () => {
      let call: ToolCall;
      try {
        call = parseCall(Buffer.concat(parts));
      } catch (e) {
        res.statusCode = 400;
        res.end(e instanceof Error ? e.message : String(e));
        return;
      }
      calls.push(call);
      let reply: ToolReply;
      try {
        reply = await handler(call);
      } catch (e) {
        reply = { stderr: `stand-in handler failed: ${e instanceof Error ? e.message : String(e)}\n`, code: 98 };
      }
      const stderr = Buffer.from(reply.stderr ?? "", "utf8");
      const stdout = Buffer.from(reply.stdout ?? "", "utf8");
      res.setHeader("content-type", "application/octet-stream");
      res.end(Buffer.concat([Buffer.from(`${reply.code ?? 0}\n${stderr.length}\n${stdout.length}\n`), stderr, stdout]));
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
