/**
 * The `preview-teardown` WorkflowTemplate: its shape (parameters, service account, a first step that
 * derives the preview's names with set-params' rules, the teardown under the same template-level
 * mutex as the pipeline's run of that preview, the component and its type token), and its two steps
 * run for real from the render, wired as its DAG wires them, against the recording fake cluster and
 * the fake GitHub: the preview goes, its deployment turns inactive, another repository's preview
 * stays, bad input changes nothing. Both naming schemes.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WorkflowTemplate, type IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import { previewMutex, previewNamespace as previewName, repositoryKey, type NamingScheme } from "../../components/names";
import { lintWorkflowSpec } from "../../components/argo/lint";
import { renderStack, type Render } from "../../scripts/offline-render";
import { runScriptTemplate, substitute, type StepResult } from "../../simulator/argo-step";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { implementationDag, objectsOf, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster } from "../../simulator/cluster";
import { previewNamespace } from "../helpers/cluster-objects";

const OWNER = "example-org";
const REPO = "example-app";
const WORKFLOW = "preview-teardown-abcde";
/** The preview of example-org/example-app#42 under the preview stack's naming (repository). */
const NS = previewName("repository", OWNER, REPO, "42");
const LIST = (ns: string) => `kubectl get namespaces -l preview=true,implementation-dag/instance=argo --field-selector metadata.name=${ns} -o json`;

const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "preview-teardown-test-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

/** The WorkflowTemplate of a render, and the implementation-dag beside it. */
interface Rendered { render: Render; wt: IWorkflowTemplate; pipeline: IWorkflowTemplate }
const rendered = (render: Render): Rendered => ({
  render,
  wt: objectsOf(render, "WorkflowTemplate", "preview-teardown")[0] as unknown as IWorkflowTemplate,
  pipeline: implementationDag(render),
});

let byRepository: Rendered;
let byPrNumber: Rendered;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  byRepository = rendered(await previewRender());
  byPrNumber = rendered(await renderStack({ overrides: { naming: "pr-number" } }));
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

function preview(repository: string | undefined, deployment?: number, name = NS) {
  return previewNamespace(name, {
    annotations: {
      ...(repository ? { "implementation-dag/repository": repository } : {}),
      ...(deployment ? { "implementation-dag/deployment": String(deployment) } : {}),
    },
  });
}

/** The entrypoint DAG's task `name`. */
const task = (wt: IWorkflowTemplate, name: string) =>
  templateNamed(wt, wt.spec.entrypoint!).dag!.tasks!.find((t) => t.name === name)!;

/** A task's arguments resolved in `scope` (Argo's substitution), as the inputs of its template. */
const argumentsOf = (wt: IWorkflowTemplate, name: string, scope: Record<string, string>) =>
  Object.fromEntries((task(wt, name).arguments?.parameters ?? []).map((p) => [p.name, substitute(String(p.value), scope, `task ${name}`)]));

/** Runs preview-names alone, with the workflow's parameters. */
async function names(wt: IWorkflowTemplate, parameters: Record<string, string>, pathPrepend: string[] = []): Promise<StepResult> {
  const scope = Object.fromEntries(Object.entries(parameters).map(([k, v]) => [`workflow.parameters.${k}`, v]));
  return runScriptTemplate(templateNamed(wt, "preview-names"), {
    parameters: argumentsOf(wt, "preview-names", scope),
    workflow: { name: WORKFLOW, parameters },
    pathPrepend,
  });
}

/**
 * Runs the WorkflowTemplate as its DAG does: preview-names with the workflow's parameters, then,
 * when it succeeded, the teardown step with its outputs. The stand-ins are on PATH for both steps, so
 * a call either makes is recorded. Returns the step that ended the run.
 */
async function teardown(cluster: FakeCluster, parameters: Record<string, string> = {}, pathPrepend: string[] = [], wt = byRepository.wt): Promise<StepResult> {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  const params = { owner: OWNER, repo: REPO, pr: "42", ...parameters };
  const first = await names(wt, params, [standIns.dir, ...pathPrepend]);
  if (first.code !== 0) return first;
  const scope = Object.fromEntries(Object.entries(first.outputs).map(([k, v]) => [`tasks.preview-names.outputs.parameters.${k}`, v]));
  return runScriptTemplate(templateNamed(wt, "teardown"), {
    parameters: argumentsOf(wt, "teardown", scope),
    workflow: { name: WORKFLOW, parameters: params },
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
    const resource = byRepository.render.resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" && r.name === "preview-teardown");
    expect(resource?.parent).toMatch(/implementation-dag:index:PreviewTeardown::preview-teardown$/);
    expect(byRepository.render.outputs.previewTeardownTemplate).toBe("preview-teardown");
  });

  it("takes owner, repo and pr, runs as the sweeper, derives the names first, then tears down after they succeeded", () => {
    const { wt } = byRepository;
    expect(wt.spec.arguments?.parameters?.map((p) => p.name)).toEqual(["owner", "repo", "pr"]);
    expect(wt.spec.serviceAccountName).toBe("implementation-dag-sweeper");
    expect(templateNamed(wt, wt.spec.entrypoint!).dag!.tasks!.map((t) => [t.name, t.template, t.depends])).toEqual([
      ["preview-names", "preview-names", undefined],
      ["teardown", "teardown", "preview-names.Succeeded"],
    ]);
    // Only preview-names reads the raw parameters; the teardown takes what it validated and derived.
    expect(argumentsOf(wt, "preview-names", { "workflow.parameters.owner": "o", "workflow.parameters.repo": "r", "workflow.parameters.pr": "1" }))
      .toEqual({ owner: "o", repo: "r", pr: "1" });
    expect(task(wt, "teardown").arguments?.parameters).toEqual(["ns", "mutex", "repository", "pr"].map((name) => ({
      name, value: `{{tasks.preview-names.outputs.parameters.${name}}}`,
    })));
    // The names need no Kubernetes API: no token in that pod.
    expect(templateNamed(wt, "preview-names").automountServiceAccountToken).toBe(false);
    for (const t of ["preview-names", "teardown"]) expect(templateNamed(wt, t).script?.source).not.toContain("{{");
    expect(lintWorkflowSpec(wt.spec)).toEqual([]);
    const named = structuredClone(wt) as IWorkflowTemplate;
    for (const t of named.spec.templates ?? []) if (t.script) (t.script as { name?: string }).name = "main";
    expect(() => new WorkflowTemplate(named).validate()).not.toThrow();
  });

  it("holds the pipeline's mutex of the preview at the teardown template only, named from the validated names", () => {
    const { wt, pipeline } = byRepository;
    // A workflow-level mutex would be built from the raw parameters, before anything checked them.
    expect(wt.spec.synchronization).toBeUndefined();
    expect(templateNamed(wt, "preview-names").synchronization).toBeUndefined();
    expect(templateNamed(wt, "teardown").synchronization).toEqual({ mutexes: [{ name: "{{inputs.parameters.mutex}}" }] });
    // The pipeline's preview template holds its mutex the same way: a name made by the same rule.
    expect(templateNamed(pipeline, "preview").synchronization).toEqual(templateNamed(wt, "teardown").synchronization);
    // It may wait for a run of the pipeline to let the mutex go: its deadline outlasts that run's.
    expect(wt.spec.activeDeadlineSeconds).toBeGreaterThan(pipeline.spec.activeDeadlineSeconds!);
  });

  const schemes: Array<[NamingScheme, () => Rendered]> = [["repository", () => byRepository], ["pr-number", () => byPrNumber]];
  it.each(schemes)("derives exactly set-params' namespace, mutex and repository (naming %s)", async (scheme, get) => {
    const { wt, pipeline } = get();
    const params = { owner: "Example-Org", repo: "My_App.js", pr: "42" };
    const r = await names(wt, params);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({
      ns: previewName(scheme, params.owner, params.repo, params.pr),
      mutex: previewMutex(scheme, params.owner, params.repo, params.pr),
      repository: repositoryKey(params.owner, params.repo),
      pr: "42",
    });
    // set-params of the same render, given the same pull request: the very same names.
    const defaults = Object.fromEntries((pipeline.spec.arguments?.parameters ?? []).flatMap((p) => (p.value === undefined ? [] : [[p.name, String(p.value)]])));
    const setParams = await runScriptTemplate(templateNamed(pipeline, "set-params"), { parameters: { ...defaults, ...params } });
    expect(setParams.code).toBe(0);
    expect({ ns: setParams.outputs.ns, mutex: setParams.outputs.mutex, repository: setParams.outputs.repository })
      .toEqual({ ns: r.outputs.ns, mutex: r.outputs.mutex, repository: r.outputs.repository });
  });

  it("derives the names with the step image's busybox tools too", async () => {
    const r = await names(byRepository.wt, { owner: "Example-Org", repo: "My_App.js", pr: "42" }, [busyboxDir()]);
    expect(r.stderr).toBe("");
    expect(r.outputs.mutex).toBe(previewMutex("repository", "Example-Org", "My_App.js", "42"));
  });
});

describe("preview-teardown, run", () => {
  it("uninstalls the releases, deletes the namespace without waiting, and marks the deployment inactive", async () => {
    const id = gh.addDeployment(OWNER, REPO, { sha: "a".repeat(40), environment: "pr-42" });
    const other = previewName("repository", OWNER, REPO, "43");
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`, id), preview(`${OWNER}/${REPO}`, undefined, other)], { [NS]: ["example-app-pr-42"] });
    const r = await teardown(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([
      LIST(NS),
      `helm list --namespace ${NS} --short`,
      `helm uninstall example-app-pr-42 --namespace ${NS} --ignore-not-found --timeout 2m`,
      `kubectl delete namespace ${NS} --ignore-not-found --wait=false`,
    ]);
    expect(r.stdout).toContain(`preview-teardown: example-org/example-app#42: namespace ${NS} deleted`);
    expect([...cluster.namespaces.keys()]).toEqual([other]);
    expect(gh.deployments(OWNER, REPO)[0].statuses.map((s) => [s.state, s.log_url])).toEqual([
      ["inactive", `https://argo.example.com/workflows/argo/${WORKFLOW}`],
    ]);
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: [`${OWNER}/${REPO}`], permissions: { deployments: "write", metadata: "read" } }]);
  });

  it("finds the preview whatever the case of the owner and repository it is given, and of its annotation", async () => {
    const cluster = new FakeCluster([preview("Example-Org/Example-App")], { [NS]: ["example-app-pr-42"] });
    const r = await teardown(cluster, { owner: "EXAMPLE-ORG", repo: "Example-App" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(cluster.namespaces.size).toBe(0);
  });

  it("leaves another repository's preview of the same PR number alone (naming pr-number)", async () => {
    const cluster = new FakeCluster([preview("other-org/other-app", undefined, "impl-pr-42")], { "impl-pr-42": ["other-app-pr-42"] });
    const r = await teardown(cluster, {}, [], byPrNumber.wt);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/holds the preview of other-org\/other-app, not of example-org\/example-app; left alone/);
    expect(standIns!.lines()).toEqual([LIST("impl-pr-42")]);
    expect(cluster.namespaces.has("impl-pr-42")).toBe(true);
  });

  it("tears down this repository's preview of the PR under naming pr-number", async () => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`, undefined, "impl-pr-42"), preview(`${OWNER}/${REPO}`)], { "impl-pr-42": ["example-app-pr-42"] });
    const r = await teardown(cluster, {}, [], byPrNumber.wt);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()[0]).toBe(LIST("impl-pr-42"));
    // The repository-named preview of the same PR is not the pr-number install's name: untouched.
    expect([...cluster.namespaces.keys()]).toEqual([NS]);
  });

  it("leaves a namespace of the right name whose annotation names another repository alone", async () => {
    const cluster = new FakeCluster([preview("other-org/other-app")], { [NS]: ["other-app-pr-42"] });
    const r = await teardown(cluster);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${NS} holds the preview of other-org/other-app, not of example-org/example-app; left alone`);
    expect(standIns!.lines()).toEqual([LIST(NS)]);
    expect(cluster.namespaces.has(NS)).toBe(true);
  });

  it.each([
    ["when the server honours the selector", false],
    ["even when the server ignores the selector", true],
  ])("leaves another instance's preview of this repository alone, %s", async (_what, ignoresSelector) => {
    const theirs = previewNamespace(NS, { instance: "argo-team-b", annotations: { "implementation-dag/repository": `${OWNER}/${REPO}`, "implementation-dag/deployment": "7" } });
    const cluster = new FakeCluster([theirs], { [NS]: ["example-app-pr-42"] });
    cluster.faults.listIgnoresSelector = ignoresSelector;
    const r = await teardown(cluster);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`no preview namespace ${NS} of instance argo (already gone, never deployed, or another instance's)`);
    expect(standIns!.lines()).toEqual([LIST(NS)]);
    expect(cluster.namespaces.get(NS)).toEqual(theirs);
    expect(cluster.releasesIn(NS)).toEqual(["example-app-pr-42"]);
    expect(gh.requests).toEqual([]);
  });

  it("leaves a preview that does not name its repository alone", async () => {
    const cluster = new FakeCluster([preview(undefined)]);
    const r = await teardown(cluster);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/does not say which repository it previews; left alone/);
    expect(standIns!.lines()).toEqual([LIST(NS)]);
  });

  it("succeeds, saying so, when the preview is already gone or being deleted", async () => {
    let r = await teardown(new FakeCluster([]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`preview-teardown: no preview namespace ${NS} of instance argo (already gone, never deployed, or another instance's); nothing to tear down`);
    expect(standIns!.lines()).toEqual([LIST(NS)]);
    await standIns!.close();
    r = await teardown(new FakeCluster([previewNamespace(NS, { deletingHoursAgo: 1, annotations: { "implementation-dag/repository": `${OWNER}/${REPO}` } })]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already being deleted/);
    expect(standIns!.lines()).toEqual([LIST(NS)]);
  });

  it("deletes the namespace when helm fails, then fails naming helm; a GitHub 5xx is a warning only", async () => {
    const id = gh.addDeployment(OWNER, REPO, { sha: "a".repeat(40), environment: "pr-42" });
    gh.enqueue("repos/create-deployment-status", ...Array.from({ length: 5 }, () => ({ status: 500 })));
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`, id)], { [NS]: ["example-app-pr-42"] });
    cluster.faults.helmUninstallFailsIn = new Set([NS]);
    const r = await teardown(cluster);
    expect(r.code).toBe(1);
    expect(cluster.namespaces.has(NS)).toBe(false);
    expect(r.stderr).toMatch(/^WARNING: github: deployment \d+ of example-org\/example-app: status inactive not recorded/m);
    expect(r.stderr).toContain(`ERROR: helm: uninstalling the releases in ${NS} failed`);
  });

  it.each([
    ["a PR with a leading zero", { pr: "042" }, "pr"],
    ["a PR with shell in it", { pr: "42; kubectl delete ns --all" }, "pr"],
    ["an owner with a slash", { owner: "a/b" }, "owner"],
    ["a repository named ..", { repo: ".." }, "repo"],
  ])("refuses %s in preview-names, before any call", async (_what, parameters, input) => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`)]);
    const r = await teardown(cluster, parameters);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    expect(r.outputs).toEqual({});
    expect(standIns!.calls).toEqual([]);
    expect(gh.requests).toEqual([]);
  });

  it("reports every bad parameter at once", async () => {
    const r = await teardown(new FakeCluster([]), { owner: "-x", repo: "..", pr: "0" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").map((l) => l.split(":")[1].trim())).toEqual(["owner", "repo", "pr"]);
  });

  const handedOver: Array<[string, Record<string, string>, string]> = [
    ["a namespace that is not a preview's", { NS: "kube-system" }, "NS"],
    ["another PR's namespace", { NS: previewName("repository", OWNER, REPO, "43") }, "NS"],
    ["another repository's namespace", { NS: previewName("repository", OWNER, "other-app", "42") }, "NS"],
    ["a repository not lowercased", { REPOSITORY: "Example-Org/example-app" }, "REPOSITORY"],
    ["a PR with a leading zero", { PR: "042" }, "PR"],
  ];
  it.each(handedOver)("the teardown step refuses %s handed to it, before any call", async (_what, env, input) => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`)], { [NS]: ["example-app-pr-42"] });
    standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
    const r = await runScriptTemplate(templateNamed(byRepository.wt, "teardown"), {
      parameters: { ns: NS, mutex: previewMutex("repository", OWNER, REPO, "42"), repository: `${OWNER}/${REPO}`, pr: "42" },
      workflow: { name: WORKFLOW },
      pathPrepend: [standIns.dir],
      // The template's env takes the inputs; these replace what they gave, as a tampered output would.
      standInEnv: { ...standIns.env, ...env },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    expect(standIns.calls).toEqual([]);
    expect(cluster.namespaces.has(NS)).toBe(true);
  });

  it("works with the step image's busybox tools", async () => {
    const cluster = new FakeCluster([preview(`${OWNER}/${REPO}`)], { [NS]: ["example-app-pr-42"] });
    const r = await teardown(cluster, {}, [busyboxDir()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(NS)).toBe(false);
  });
});
