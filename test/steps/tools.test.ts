/**
 * The tools the step scripts run with in the tests are the step image's where versions matter: jq
 * 1.7.1 (docker.io/alpine/k8s:1.32.3), built by .ci/jq, comes first on a step's PATH, with GNU tools
 * and with busybox's applets alike; so does the curl .ci/curl builds for HTTP and HTTPS (for its
 * start-up time, not its version).
 */
import * as path from "node:path";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { describe, expect, it } from "vitest";
import { STEP_CURL_DIR, STEP_CURL_VERSION, STEP_JQ_DIR, STEP_JQ_VERSION } from "../helpers/step-tools";
import { runScriptTemplate } from "../../simulator/argo-step";
import { busyboxDir } from "../helpers/busybox";

const probe: ITemplate = {
  name: "probe",
  script: { name: "main", image: "step", command: ["bash"], source: 'set -euo pipefail\ncommand -v jq\njq --version\njq -rn \'"a (b)" | @uri\'\ncommand -v curl\ncurl --version | sed -n "1s/ (.*//p; 3p"\n' },
};

describe("the steps' jq and curl", () => {
  it.each([["gnu", []], ["busybox", [busyboxDir()]]] as const)("is the one a step runs with %s tools", async (_, pathPrepend) => {
    const r = await runScriptTemplate(probe, { pathPrepend: [...pathPrepend] });
    expect(r.stderr).toBe("");
    // jq 1.6 (Debian 12's) leaves the parentheses as they are.
    expect(r.stdout).toBe(`${path.join(STEP_JQ_DIR, "jq")}\njq-${STEP_JQ_VERSION}\na%20%28b%29\n` +
      `${path.join(STEP_CURL_DIR, "curl")}\ncurl ${STEP_CURL_VERSION}\nProtocols: http https\n`);
  });
});
