/**
 * The preview on the PR (GitHub Deployments API), run for real against the recording fake GitHub:
 * the deployment request lib/deployments.sh sends (auto_merge: false and the exact fields), at most
 * one deployment per run however GitHub fails (a 502 after it recorded the deployment included), and
 * the statuses the rendered cleanup exit handler adds on success and on failure, with a 5xx reported
 * but never failing cleanup.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { STEPS_DIR } from "../../components/argo/script-template";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { appKey, qaAppEnv, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster } from "../../simulator/cluster";
import { previewNamespace } from "../helpers/cluster-objects";

const OWNER = "example-org";
const REPO = "example-app";
const NS = "impl-pr-42";
const RELEASE = "example-app-pr-42";
const WORKFLOW = "implementation-dag-x7k2p";
const SHA = "c0ffee".padEnd(40, "0");
const URL = "https://pr-42.preview.example.com/";
const LOG_URL = `https://argo.example.com/workflows/argo/${WORKFLOW}`; // the preview stack's links.argoUiUrl

const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "preview-deployment-test-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

let cleanupTemplate: ITemplate;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  cleanupTemplate = templateNamed(implementationDag(await previewRender()), "cleanup");
});
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: key.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: [REPO], permissions: { deployments: "write", pull_requests: "read", contents: "read" } }],
    }],
  });
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
  await gh.close();
});

/** What a pod gets from Secret github-app-qa, pointed at the fake (short backoff for the 5xx cases). */
const appEnv = () => ({
  ...qaAppEnv(gh, keyFile),
});

/** Runs BODY in bash after lib/github.sh and lib/deployments.sh, as a step would. */
export function runWithLibraries(body: string, env: Record<string, string>, pathPrepend: string[] = []): Promise<StepResult> {
  const libs = ["github", "deployments"].map((l) => readFileSync(path.join(STEPS_DIR, "lib", `${l}.sh`), "utf8")).join("\n");
  const template: ITemplate = {
    name: "libraries",
    script: {
      image: "test",
      command: ["bash"],
      source: `#!/usr/bin/env bash\nset -euo pipefail\n${libs}\n${body}\n`,
      env: [{ name: "TMPDIR", value: "/tmp" }, { name: "OUTPUT_DIR", value: "/tmp/outputs" }],
    } as ITemplate["script"],
  };
  return runScriptTemplate(template, { standInEnv: env, pathPrepend });
}

const CREATE = [
  `GITHUB_TOKEN=$(github_installation_token ${OWNER} ${REPO} '{"deployments":"write"}')`,
  `id=$(deployment_create ${OWNER} ${REPO} ${SHA} pr-42 ${WORKFLOW})`,
  `deployment_status ${OWNER} ${REPO} "$id" in_progress '' '${LOG_URL}' 'Deploying'`,
  `echo "id=$id"`,
].join("\n");

describe("the deployment request (lib/deployments.sh)", () => {
  it("records the tested commit in pr-<N>: transient, not production, no required contexts, auto_merge false", async () => {
    const r = await runWithLibraries(CREATE, appEnv());
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [d] = gh.deployments(OWNER, REPO);
    expect(r.stdout).toBe(`id=${d.id}\n`);
    expect(d.request).toEqual({
      ref: SHA,
      environment: "pr-42",
      auto_merge: false,
      required_contexts: [],
      transient_environment: true,
      production_environment: false,
      task: "deploy:preview",
      description: `implementation-dag ${WORKFLOW}`,
      payload: { workflow: WORKFLOW },
    });
    expect(d.statuses.map((s) => [s.state, s.log_url])).toEqual([["in_progress", LOG_URL]]);
    // One token, narrowed to the one repository and to deployments:write.
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: [`${OWNER}/${REPO}`.toLowerCase()], permissions: { deployments: "write", metadata: "read" } }]);
    expect(gh.violations).toEqual([]);
  });

  it("works with the step image's busybox tools", async () => {
    const box = busyboxDir();
    const r = await runWithLibraries(CREATE, appEnv(), [box]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(gh.deployments(OWNER, REPO)).toHaveLength(1);
  });

  it("the fake GitHub fails a deployment request that does not send auto_merge: false", async () => {
    const r = await runWithLibraries([
      `GITHUB_TOKEN=$(github_installation_token ${OWNER} ${REPO} '{"deployments":"write"}')`,
      `github_request POST /repos/${OWNER}/${REPO}/deployments '{"ref":"${SHA}","environment":"pr-42","required_contexts":[]}'`,
    ].join("\n"), appEnv());
    expect(r.code).not.toBe(0);
    expect(gh.deployments(OWNER, REPO)).toEqual([]);
    expect(gh.violations).toEqual([expect.stringMatching(/without auto_merge: false/)]);
  });

  it("refuses bad arguments before sending anything", async () => {
    const r = await runWithLibraries(`GITHUB_TOKEN=x\ndeployment_create ${OWNER} ${REPO} abc pr-42 ${WORKFLOW}`, appEnv());
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: deployment_create: SHA must be a full 40-hex commit SHA\n");
    expect(gh.requests).toEqual([]);
  });
});

const CREATE_ONLY = [
  `GITHUB_TOKEN=$(github_installation_token ${OWNER} ${REPO} '{"deployments":"write"}')`,
  `id=$(deployment_create ${OWNER} ${REPO} ${SHA} pr-42 ${WORKFLOW})`,
  `echo "id=$id"`,
].join("\n");
const posts = () => gh.requests.filter((q) => q.operationId === "repos/create-deployment");
const lookups = () => gh.requests.filter((q) => q.operationId === "repos/list-deployments");
const WHERE = `${OWNER}/${REPO}@${SHA} in pr-42`;

describe("a deployment is created at most once per run (lib/deployments.sh)", () => {
  it("a 502 after GitHub recorded the deployment: the look-up finds it, nothing is sent again, one deployment", async () => {
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    const r = await runWithLibraries(CREATE, appEnv());
    expect(r.code).toBe(0);
    const all = gh.deployments(OWNER, REPO);
    expect(all).toHaveLength(1);
    expect(r.stdout).toBe(`id=${all[0].id}\n`);
    expect(r.stderr).toBe(
      `github: POST /repos/${OWNER}/${REPO}/deployments: HTTP 502: Bad Gateway (left to the caller)\n` +
      `github: deployment of ${WHERE}: HTTP 502; looking for it in 0.010s\n` +
      `github: deployment of ${WHERE}: GitHub recorded it as ${all[0].id}; using that one\n`);
    expect(posts()).toHaveLength(1);
    // The look-up asks GitHub for this commit, environment and task only.
    expect(lookups().map((q) => q.query)).toEqual([{ sha: SHA, environment: "pr-42", task: "deploy:preview", per_page: "100" }]);
    expect(all[0].statuses.map((s) => s.state)).toEqual(["in_progress"]);
    expect(gh.violations).toEqual([]);
  });

  it("a 502 after the commit, then a failed run: the one deployment ends inactive, none is left orphaned", async () => {
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    const created = await runWithLibraries(CREATE, appEnv());
    expect(created.code).toBe(0);
    const [d] = gh.deployments(OWNER, REPO);
    const cluster = new FakeCluster([recordedPreview(d.id)], { [NS]: [RELEASE] });
    const r = await cleanup("Failed", cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(gh.deployments(OWNER, REPO).map((x) => [x.id, x.statuses.map((s) => s.state)])).toEqual([[d.id, ["in_progress", "failure", "inactive"]]]);
    expect(gh.violations).toEqual([]);
  });

  it("a 502 before GitHub recorded anything: the look-up finds nothing, it is sent again, one deployment", async () => {
    gh.enqueue("repos/create-deployment", { status: 502 });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).toBe(0);
    const all = gh.deployments(OWNER, REPO);
    expect(all).toHaveLength(1);
    expect(r.stdout).toBe(`id=${all[0].id}\n`);
    expect(r.stderr).toContain(`github: deployment of ${WHERE}: not recorded; sending it again (try 2 of 5)\n`);
    expect(posts().map((q) => q.status)).toEqual([502, 201]);
    expect(lookups().map((q) => q.status)).toEqual([200]);
    // The look-up came between the two requests.
    expect(gh.requests.map((q) => q.operationId).filter((o) => o !== "apps/create-installation-access-token" && o !== "apps/get-repo-installation"))
      .toEqual(["repos/create-deployment", "repos/list-deployments", "repos/create-deployment"]);
    expect(gh.violations).toEqual([]);
  });

  it("another run's deployment of the same commit and environment is not taken for this run's", async () => {
    const older = gh.addDeployment(OWNER, REPO, { sha: SHA, environment: "pr-42", task: "deploy:preview", payload: { workflow: "implementation-dag-older" } });
    gh.enqueue("repos/create-deployment", { status: 502 });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).toBe(0);
    const all = gh.deployments(OWNER, REPO);
    expect(all.map((d) => d.id)).toEqual([older, expect.any(Number)]);
    expect(r.stdout).toBe(`id=${all[1].id}\n`);
    expect(all[1].payload).toEqual({ workflow: WORKFLOW });
  });

  it("an earlier run's deployment under the same workflow name (it has statuses) is never taken for this run's", async () => {
    // Argo names are unique only among existing workflows: a resubmitted fixed name comes back.
    const earlier = gh.addDeployment(OWNER, REPO, { sha: SHA, environment: "pr-42", task: "deploy:preview", payload: { workflow: WORKFLOW }, states: ["in_progress", "failure", "inactive"] });
    gh.enqueue("repos/create-deployment", { status: 502 });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).toBe(0);
    const all = gh.deployments(OWNER, REPO);
    expect(all.map((d) => d.id)).toEqual([earlier, expect.any(Number)]);
    expect(r.stdout).toBe(`id=${all[1].id}\n`);
    expect(posts().map((q) => q.status)).toEqual([502, 201]);
    expect(gh.requests.filter((q) => q.operationId === "repos/list-deployment-statuses").map((q) => q.path))
      .toEqual([`/repos/${OWNER}/${REPO}/deployments/${earlier}/statuses`]);
    expect(gh.violations).toEqual([]);
  });

  it("a 502 after the commit beside an earlier run's deployment of the same name: takes the one GitHub just recorded", async () => {
    const earlier = gh.addDeployment(OWNER, REPO, { sha: SHA, environment: "pr-42", task: "deploy:preview", payload: { workflow: WORKFLOW }, states: ["in_progress"] });
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).toBe(0);
    const all = gh.deployments(OWNER, REPO);
    expect(all).toHaveLength(2);
    expect(r.stdout).toBe(`id=${all[1].id}\n`);
    expect(all[1].id).not.toBe(earlier);
    expect(posts()).toHaveLength(1);
    expect(gh.violations).toEqual([]);
  });

  it("gives up after GITHUB_RETRY_ATTEMPTS requests with a clear error, looking after each, recording none", async () => {
    gh.enqueue("repos/create-deployment", ...Array.from({ length: 5 }, () => ({ status: 503 })));
    const r = await runWithLibraries(CREATE_ONLY, { ...appEnv(), GITHUB_RETRY_ATTEMPTS: "3" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: github: no deployment of ${OWNER}/${REPO}@${SHA} in pr-42 recorded after 3 tries \\(last HTTP 503\\)$`, "m"));
    expect(posts()).toHaveLength(3);
    expect(lookups()).toHaveLength(3);
    expect(gh.deployments(OWNER, REPO)).toEqual([]);
  });

  it("does not send it again when the look-up fails: whether GitHub recorded it is unknown", async () => {
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    gh.enqueue("repos/list-deployments", ...Array.from({ length: 5 }, () => ({ status: 503 })));
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: github: deployment of ${WHERE}: HTTP 502, and the look-up for it failed; not sending it again`, "m"));
    expect(posts()).toHaveLength(1);
    expect(gh.deployments(OWNER, REPO)).toHaveLength(1);
  });

  it("a refusal (4xx) is final: no look-up, not sent again", async () => {
    gh.enqueue("repos/create-deployment", { status: 422, body: { message: "No ref found for: x" } });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`ERROR: github: POST /repos/${OWNER}/${REPO}/deployments: HTTP 422: No ref found for: x\n`);
    expect(posts()).toHaveLength(1);
    expect(lookups()).toEqual([]);
  });

  it("a rate limit is waited out and sent again without a look-up (GitHub did nothing then)", async () => {
    gh.enqueue("repos/create-deployment", { status: 429, headers: { "retry-after": "0" } });
    const r = await runWithLibraries(CREATE_ONLY, appEnv());
    expect(r.code).toBe(0);
    expect(posts().map((q) => q.status)).toEqual([429, 201]);
    expect(lookups()).toEqual([]);
    expect(gh.deployments(OWNER, REPO)).toHaveLength(1);
  });

  it("handles the 502 after the commit with the step image's busybox tools", async () => {
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    const box = busyboxDir();
    const r = await runWithLibraries(CREATE_ONLY, appEnv(), [box]);
    expect(r.code).toBe(0);
    expect(gh.deployments(OWNER, REPO)).toHaveLength(1);
    expect(r.stdout).toBe(`id=${gh.deployments(OWNER, REPO)[0].id}\n`);
  });
});

/** A preview namespace as deploy leaves it when it recorded deployment `id`. */
function recordedPreview(id: number) {
  return previewNamespace(NS, {
    labels: { workflow: WORKFLOW },
    annotations: {
      "implementation-dag/repository": `${OWNER}/${REPO}`,
      "implementation-dag/deployment": String(id),
      "implementation-dag/environment-url": URL,
    },
  });
}

async function cleanup(status: string, cluster: FakeCluster, pathPrepend: string[] = []) {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(cleanupTemplate, {
    workflow: { name: WORKFLOW, status, outputs: { ns: NS, release: RELEASE, repository: `${OWNER}/${REPO}` } },
    pathPrepend: [standIns.dir, ...pathPrepend],
    standInEnv: { ...standIns.env, ...appEnv() },
  });
}

async function deployed(): Promise<number> {
  const r = await runWithLibraries(CREATE, appEnv());
  expect(r.code).toBe(0);
  return gh.deployments(OWNER, REPO)[0].id;
}

const statuses = () => gh.deployments(OWNER, REPO)[0].statuses.map((s) => ({ state: s.state, environment_url: s.environment_url, log_url: s.log_url }));

describe("the deployment's statuses follow the run (cleanup)", () => {
  it("on success: in_progress, then success with the preview URL and the workflow's Argo UI link", async () => {
    const id = await deployed();
    const r = await cleanup("Succeeded", new FakeCluster([recordedPreview(id)], { [NS]: [RELEASE] }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(statuses()).toEqual([
      { state: "in_progress", environment_url: undefined, log_url: LOG_URL },
      { state: "success", environment_url: URL, log_url: LOG_URL },
    ]);
    expect(r.stdout).toContain(`deployment ${id} of ${OWNER}/${REPO}: success`);
    expect(gh.violations).toEqual([]);
  });

  it.each(["Failed", "Error"])("on a failed run (%s, e.g. at acceptance): in_progress, failure, then inactive once the preview is deleted", async (status) => {
    const id = await deployed();
    const cluster = new FakeCluster([recordedPreview(id)], { [NS]: [RELEASE] });
    const r = await cleanup(status, cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(NS)).toBe(false);
    expect(statuses()).toEqual([
      { state: "in_progress", environment_url: undefined, log_url: LOG_URL },
      { state: "failure", environment_url: undefined, log_url: LOG_URL },
      { state: "inactive", environment_url: undefined, log_url: LOG_URL },
    ]);
    // One token for both statuses, narrowed to the repository and deployments:write.
    expect(gh.tokens().slice(1)).toEqual([{ installationId: 200003, repositories: [`${OWNER}/${REPO}`.toLowerCase()], permissions: { deployments: "write", metadata: "read" } }]);
    expect(gh.violations).toEqual([]);
  });

  it("a 5xx on a status update is reported and does not fail an otherwise good run", async () => {
    const id = await deployed();
    gh.enqueue("repos/create-deployment-status", ...Array.from({ length: 5 }, () => ({ status: 502 })));
    const cluster = new FakeCluster([recordedPreview(id)], { [NS]: [RELEASE] });
    const r = await cleanup("Succeeded", cluster);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^ERROR: github: POST \/repos\/example-org\/example-app\/deployments\/\d+\/statuses: HTTP 502/m);
    expect(r.stderr).toMatch(new RegExp(`^WARNING: github: deployment ${id} of ${OWNER}/${REPO}: status success not recorded`, "m"));
    expect(cluster.namespaces.get(NS)!.metadata.annotations!["implementation-dag/expires-at"]).toBeDefined();
    expect(statuses().map((s) => s.state)).toEqual(["in_progress"]);
    expect(gh.requests.filter((q) => q.operationId === "repos/create-deployment-status" && q.status === 502)).toHaveLength(5);
  });

  it("sends nothing to GitHub for a preview without a recorded deployment", async () => {
    const r = await cleanup("Succeeded", new FakeCluster([previewNamespace(NS, {
      labels: { workflow: WORKFLOW }, annotations: { "implementation-dag/repository": `${OWNER}/${REPO}` },
    })], { [NS]: [RELEASE] }));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("kept for review");
    expect(gh.requests).toEqual([]);
  });

  it("leaves GitHub alone, with a warning, when the deployment annotations are malformed", async () => {
    const ns = recordedPreview(7);
    ns.metadata.annotations!["implementation-dag/deployment"] = "7; curl evil";
    const r = await cleanup("Succeeded", new FakeCluster([ns]));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^WARNING: namespace impl-pr-42: malformed deployment annotations/m);
    expect(gh.requests).toEqual([]);
  });

  it("works with the step image's busybox tools", async () => {
    const id = await deployed();
    const box = busyboxDir();
    const r = await cleanup("Failed", new FakeCluster([recordedPreview(id)], { [NS]: [RELEASE] }), [box]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(statuses().map((s) => s.state)).toEqual(["in_progress", "failure", "inactive"]);
  });
});
