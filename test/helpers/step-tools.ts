/**
 * The jq and curl the tests run the step scripts with, built by .ci/jq and .ci/curl: where they
 * are, which versions, and whether they are there (test/global-setup.ts refuses to start without).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../scripts/offline-render";
import { TOOLS_CACHE } from "../../scripts/tools";

/**
 * The step image's jq (DEFAULT_STEP_IMAGE, docker.io/alpine/k8s:1.32.3, on Alpine 3.21): the tests
 * run every step script with it, first on PATH (test/global-setup.ts). `.ci/jq` builds it into
 * `.cache/tools/jq/`; Debian 12's own jq is 1.6, which answers differently in places. The version is
 * the image's: a .ci/jq that built another one is refused by {@link stepToolsProblem}.
 */
export const STEP_JQ_VERSION = "1.7.1";
export const STEP_JQ_DIR = path.join(TOOLS_CACHE, "jq");

/**
 * The curl the tests run every step script with, first on PATH (test/global-setup.ts), built for
 * HTTP and HTTPS only, which is all the steps ask of curl. `.ci/curl` builds it into
 * `.cache/tools/curl/`; Debian 12's curl loads 33 libraries and takes twice as long to start. Its
 * version is chosen for that, not the image's: the one .ci/curl's `version=` line names.
 */
export const STEP_CURL_VERSION = /^version=([0-9.]+)$/m.exec(readFileSync(path.join(PROJECT_ROOT, ".ci", "curl"), "utf8"))?.[1] ?? "";
export const STEP_CURL_DIR = path.join(TOOLS_CACHE, "curl");

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
