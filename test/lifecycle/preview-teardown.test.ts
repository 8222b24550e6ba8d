/**
 * The `preview-teardown` WorkflowTemplate: its shape (parameters, service account, the pipeline's
 * per-PR mutex, the component and its type token), and its step run for real from the render against
 * the recording fake cluster and the fake GitHub: the preview goes, its deployment turns inactive,
 * another repository's preview of the same number stays, bad input changes nothing.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WorkflowTemplate, type IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { Render } from "../../scripts/offline-render";
import { runScriptTemplate } from "../helpers/argo-step";
import { generateAppKey, startFakeGitHub, type FakeGitHub } from "../helpers/fake-github";
import { implementationDag, objectsOf, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../helpers/stand-ins";
import { busyboxDir, FakeCluster, previewNamespace } from "./fake-cluster";

const OWNER = "example-org";
const REPO = "example-app";
const WORKFLOW = "preview-teardown-abcde";
const NS = "impl-pr-42";
const LIST = `kubectl get namespaces -l preview=true --field-selector metadata.name=${NS} -o json`;

const key = generateAppKey();
const work = mkdtempSync(path.join(tmpdir(), "preview-teardown-test-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

let render: Render;
let wt: IWorkflowTemplate;
let step: ITemplate;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  render = await previewRender();
  wt = objectsOf(render, "WorkflowTemplate", "preview-teardown")[0] as unknown as IWorkflowTemplate;
  step = templateNamed(wt as { spec: { templates?: ITemplate[] } }, "preview-teardown");
});
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: key.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: [REPO], permissions: { deployments: "write", pull_requests: "write" } }],
    }],
  });
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
  expect(gh.violations).toEqual([]);
  await gh.close();
});

function preview(repository: string | undefined, deployment?: number) {
  return previewNamespace(NS, {
    annotations: {
      ...(repository ? { "implementation-dag/repository": repository } : {}),
      ...(deployment ? { "implementation-dag/deployment": String(deployment) } : {}),
    },
  });
}

async function teardown(cluster: FakeCluster, parameters: Record<string, string> = {}, pathPrepend: string[] = []) {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(step, {
    workflow: { name: WORKFLOW, parameters: { owner: OWNER, repo: REPO, pr: "42", ...parameters } },
    pathPrepend: [standIns.dir, ...pathPrepend],
    standInEnv: {
      ...standIns.env,
      GITHUB_API_URL: gh.url,
      GITHUB_APP_ID: "100003",
      GITHUB_INSTALLATION_ID: "200003",
      GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      GITHUB_RETRY_BASE_MS: "10",
    },
  });
}

describe("the preview-teardown WorkflowTemplate", () => {
  it("is registered by its own component with the type token implementation-dag:index:PreviewTeardown", () => {
    const resource = render.resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" && r.name === "preview-teardown");
    expect(resource?.parent).toMatch(/implementation-dag:index:PreviewTeardown::preview-teardown$/);
    expect(render.outputs.previewTeardownTemplate).toBe("preview-teardown");
  });

  it("takes owner, repo and pr, runs as the sweeper, and holds the pipeline's per-PR mutex", () => {
    expect(wt.spec.arguments?.parameters?.map((p) => p.name)).toEqual(["owner", "repo", "pr"]);
    expect(wt.spec.serviceAccountName).toBe("implementation-dag-sweeper");
    expect(wt.spec.synchronization).toEqual(implementationDag(render).spec.synchronization);
    expect(step.script?.source).not.toContain("{{");
    const named = structuredClone(wt) as IWorkflowTemplate;
    for (const t of named.spec.templates ?? []) if (t.script) (t.script as { name?: string }).name = "main";
    expect(() => new WorkflowTemplate(named).validate()).not.toThrow();
  });
});

describe("preview-teardown, run", () => {
  it("uninstalls the releases, deletes the namespace without waiting, and marks the deployment inactive", async () => {
    const id = gh.addDeployment(OWNER, REPO, { sha: "a".repeat(40), environment: "pr-42" });
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`, id), previewNamespace("impl-pr-43")], { [NS]: ["example-app-pr-42"] });
    const r = await teardown(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([
      LIST,
      `helm list --namespace ${NS} --short`,
      `helm uninstall example-app-pr-42 --namespace ${NS} --ignore-not-found --timeout 2m`,
      `kubectl delete namespace ${NS} --ignore-not-found --wait=false`,
    ]);
    expect([...cluster.namespaces.keys()]).toEqual(["impl-pr-43"]);
    expect(gh.deployments(OWNER, REPO)[0].statuses.map((s) => [s.state, s.log_url])).toEqual([
      ["inactive", `https://argo.example.com/workflows/argo/${WORKFLOW}`],
    ]);
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: [`${OWNER}/${REPO}`], permissions: { deployments: "write", metadata: "read" } }]);
  });

  it("leaves another repository's preview of the same PR number alone", async () => {
    const cluster = new FakeCluster([preview("other-org/other-app")], { [NS]: ["other-app-pr-42"] });
    const r = await teardown(cluster);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/holds the preview of other-org\/other-app, not of example-org\/example-app; left alone/);
    expect(standIns!.lines()).toEqual([LIST]);
    expect(cluster.namespaces.has(NS)).toBe(true);
  });

  it("leaves a preview that does not name its repository alone", async () => {
    const cluster = new FakeCluster([preview(undefined)]);
    const r = await teardown(cluster);
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([LIST]);
  });

  it("succeeds with nothing to do when the preview is gone or already being deleted", async () => {
    let r = await teardown(new FakeCluster([]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/nothing to tear down/);
    await standIns!.close();
    r = await teardown(new FakeCluster([previewNamespace(NS, { deletingHoursAgo: 1, annotations: { "implementation-dag/repository": `${OWNER}/${REPO}` } })]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already being deleted/);
    expect(standIns!.lines()).toEqual([LIST]);
  });

  it("deletes the namespace when helm fails, then fails naming helm; a GitHub 5xx is a warning only", async () => {
    const id = gh.addDeployment(OWNER, REPO, { sha: "a".repeat(40), environment: "pr-42" });
    gh.enqueue("repos/create-deployment-status", ...Array.from({ length: 5 }, () => ({ status: 500 })));
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`, id)], { [NS]: ["example-app-pr-42"] });
    cluster.helmFailsIn.add(NS);
    const r = await teardown(cluster);
    expect(r.code).toBe(1);
    expect(cluster.namespaces.has(NS)).toBe(false);
    expect(r.stderr).toMatch(/^WARNING: github: deployment \d+ of example-org\/example-app: status inactive not recorded/m);
    expect(r.stderr).toMatch(/^ERROR: helm: uninstalling the releases in impl-pr-42 failed/m);
  });

  it.each([
    ["a PR with a leading zero", { pr: "042" }, "pr"],
    ["a PR with shell in it", { pr: "42; kubectl delete ns --all" }, "pr"],
    ["an owner with a slash", { owner: "a/b" }, "owner"],
    ["a repository named ..", { repo: ".." }, "repo"],
  ])("refuses %s before any call", async (_what, parameters, input) => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`)]);
    const r = await teardown(cluster, parameters);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    expect(standIns!.calls).toEqual([]);
    expect(gh.requests).toEqual([]);
  });

  it("works with the step image's busybox tools", async () => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`)], { [NS]: ["example-app-pr-42"] });
    const r = await teardown(cluster, {}, [busyboxDir(["mktemp", "rm", "tr", "cat"])]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(NS)).toBe(false);
  });
});
