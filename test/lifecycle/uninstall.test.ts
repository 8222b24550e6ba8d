/**
 * The uninstall (`implementation-dag-uninstall`): its rendered WorkflowTemplate (the sweeper's own
 * script in mode `all`, the sweeper's account, schema-checked) and the script run for real from the
 * render against the recording fake cluster and the fake GitHub: every preview of this instance goes
 * (releases uninstalled, namespace deleted, deployment marked inactive) whatever its expiry, keep
 * label or age; another instance's preview and non-preview namespaces stay untouched; a run of the
 * pipeline in progress makes it refuse, changing nothing; one started meanwhile makes it fail.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WorkflowTemplate, type IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ICronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { previewNamespace as previewName } from "../../components/names";
import { findMergeVectorsIn } from "../../components/no-merge";
import { lintWorkflowSpec } from "../../components/argo/lint";
import type { Render } from "../../scripts/offline-render";
import { manifestFiles } from "../../scripts/manifests";
import { TEARDOWN_LIBRARIES } from "../../components/ttl-sweeper";
import { stepSource } from "../../components/argo/script-template";
import { asArgoModel } from "../helpers/argo-schema";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { appKey, qaAppEnv, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { objectsOf, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster, type FakeNamespace } from "../../simulator/cluster";
import { previewNamespace, utcIn, workflow } from "../helpers/cluster-objects";

const OWNER = "acme";
const SHA = "b".repeat(40);
const RUN = "implementation-dag-uninstall-x7k2p";
const RUNS = "kubectl get workflows -n argo -l workflows.argoproj.io/completed!=true -o json";
const LIST = "kubectl get namespaces -l preview=true,implementation-dag/instance=argo -o json";
const PV_LIST = "kubectl get persistentvolumes -o json";
const REREAD = (ns: string) => `kubectl get namespaces -l preview=true,implementation-dag/instance=argo --field-selector metadata.name=${ns} -o json`;
/** The calls that tear `ns` down: its re-read, its releases uninstalled, the namespace deleted. */
const TEARDOWN = (ns: string, releases: string[]) => [
  REREAD(ns),
  `helm list --namespace ${ns} --short`,
  ...releases.map((r) => `helm uninstall ${r} --namespace ${ns} --ignore-not-found --timeout 2m`),
  `kubectl delete namespace ${ns} --ignore-not-found --wait=false`,
];

const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "uninstall-test-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

interface Entry { namespace: string; reason: string; repository: string }
interface Report { mode: string; dryRun: boolean; deleted: Entry[]; kept: Entry[]; failed: Entry[]; github: { queries: number; warnings: string[] } }

let render: Render;
let wt: IWorkflowTemplate;
let template: ITemplate;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  render = await previewRender();
  wt = objectsOf(render, "WorkflowTemplate", "implementation-dag-uninstall")[0] as unknown as IWorkflowTemplate;
  template = templateNamed(wt, "uninstall");
});
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: key.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: ["app", "api", "web"], permissions: { deployments: "write", pull_requests: "write" } }],
    }],
  });
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
  expect(gh.violations).toEqual([]);
  await gh.close();
});

describe("the uninstall WorkflowTemplate", () => {
  it("is registered under its Uninstall component, with the uninstall command as a stack output", () => {
    const resource = render.resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" && r.name === "implementation-dag-uninstall");
    const component = render.resources.find((r) => r.type === "implementation-dag:index:Uninstall");
    expect(component).toBeDefined();
    expect(resource?.parent).toBe(component?.urn);
    expect(wt.metadata).toMatchObject({ name: "implementation-dag-uninstall", namespace: "argo" });
    expect(render.outputs.uninstallTemplate).toBe("implementation-dag-uninstall");
    expect(render.outputs.uninstallCommand).toBe("argo submit -n argo --from workflowtemplate/implementation-dag-uninstall --wait");
    expect(Object.keys(manifestFiles(render))).toContain("uninstall.yaml");
  });

  it("runs the sweeper's script and libraries in mode all, as the sweeper's account, with a dryRun parameter", () => {
    const [cron] = objectsOf(render, "CronWorkflow") as unknown as ICronWorkflow[];
    const sweep = templateNamed({ spec: cron.spec.workflowSpec }, "ttl-sweep");
    expect(wt.spec.serviceAccountName).toBe("implementation-dag-sweeper");
    expect(wt.spec.entrypoint).toBe("uninstall");
    expect(wt.spec.templates).toHaveLength(1);
    expect(wt.spec.arguments?.parameters).toEqual([expect.objectContaining({ name: "dryRun", value: "false", enum: ["true", "false"] })]);
    // The same source as the sweeper's: one script, not a copy.
    expect(template.script?.source).toBe(sweep.script?.source);
    expect(template.script?.source).not.toContain("{{");
    const env = (t: ITemplate) => Object.fromEntries((t.script?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(env(template)).toMatchObject({ MODE: "all", PIPELINE_TEMPLATE: "implementation-dag", WORKFLOWS_NAMESPACE: "argo", PREVIEW_INSTANCE: "argo", DRY_RUN: "{{inputs.parameters.dryRun}}" });
    expect(env(sweep)).toMatchObject({ MODE: "ttl" });
    expect(env(sweep)).not.toHaveProperty("PIPELINE_TEMPLATE");
    expect(template.script?.securityContext).toEqual(sweep.script?.securityContext);
    expect(template.outputs?.artifacts?.map((a) => a.name)).toEqual(["ttl-report"]);
    expect(Number(wt.spec.activeDeadlineSeconds)).toBeGreaterThan(Number(template.activeDeadlineSeconds));
  });

  it("matches the Argo v4 WorkflowTemplate schema (which does catch a wrong one), passes the reference lint and renders no merge vector", () => {
    expect(() => new WorkflowTemplate({ ...wt, spec: { ...wt.spec, templates: asArgoModel(wt.spec.templates) } }).validate()).not.toThrow();
    const broken = { ...wt, spec: { ...wt.spec, templates: asArgoModel(wt.spec.templates), activeDeadlineSeconds: "soon" } } as unknown as IWorkflowTemplate;
    expect(() => new WorkflowTemplate(broken).validate()).toThrow();
    expect(lintWorkflowSpec(wt.spec)).toEqual([]);
    expect(findMergeVectorsIn(wt)).toEqual([]);
  });
});

async function uninstall(cluster: FakeCluster, opts: { dryRun?: string; pathPrepend?: string[]; template?: ITemplate } = {}): Promise<StepResult> {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(opts.template ?? template, {
    parameters: opts.dryRun === undefined ? {} : { dryRun: opts.dryRun },
    workflow: { name: RUN },
    pathPrepend: [standIns.dir, ...(opts.pathPrepend ?? [])],
    standInEnv: {
      ...standIns.env,
      ...qaAppEnv(gh, keyFile),
    },
  });
}

const report = (r: StepResult): Report => JSON.parse(readFileSync(path.join(r.artifacts["ttl-report"], "report.json"), "utf8")) as Report;
const ns = (repo: string, n: number) => previewName("repository", OWNER, repo, String(n));

/** A preview of `repo`'s PR `n` as deploy and cleanup leave it, with its recorded deployment. */
function preview(repo: string, n: number, deployment: number | undefined, opts: { expiresInHours?: number; keep?: boolean; instance?: string; name?: string; deletingHoursAgo?: number; stamped?: boolean } = {}): FakeNamespace {
  return previewNamespace(opts.name ?? ns(repo, n), {
    instance: opts.instance,
    deletingHoursAgo: opts.deletingHoursAgo,
    labels: { pr: String(n), workflow: `wf-${repo}-${n}`, ...(opts.keep ? { "preview.keep": "true" } : {}) },
    annotations: {
      "implementation-dag/repository": `${OWNER}/${repo}`,
      ...(opts.expiresInHours === undefined ? {} : { "implementation-dag/expires-at": utcIn(opts.expiresInHours), "implementation-dag/workflow": `wf-${repo}-${n}` }),
      ...(deployment ? { "implementation-dag/deployment": String(deployment) } : {}),
    },
  });
}

/**
 * Two repositories' previews of this instance (app #1 expired, #2 fresh, #3 kept; api #1 fresh, #2
 * no expiry yet and no deployment, #4 already being deleted; app #7 under the pr-number scheme),
 * another instance's fresh preview of web #9, a namespace with our labels but no preview's name,
 * and a plain namespace. Every deployment recorded as GitHub holds it.
 */
function world(): { cluster: FakeCluster; ours: Map<string, number>; theirs: number; releases: Record<string, string[]> } {
  const ours = new Map<string, number>();
  const dep = (repo: string, n: number) => gh.addDeployment(OWNER, repo, { sha: SHA, environment: `pr-${n}`, states: ["success"] });
  const namespaces: FakeNamespace[] = [];
  const add = (repo: string, n: number, withDeployment: boolean, opts: Parameters<typeof preview>[3] = {}) => {
    const id = withDeployment ? dep(repo, n) : undefined;
    const made = preview(repo, n, id, opts);
    if (id && (opts.instance ?? "argo") === "argo") ours.set(made.metadata.name, id);
    namespaces.push(made);
    return id;
  };
  add("app", 1, true, { expiresInHours: -2 });
  add("app", 2, true, { expiresInHours: 20 });
  add("app", 3, true, { expiresInHours: -30, keep: true });
  add("api", 1, true, { expiresInHours: 20 });
  add("api", 2, false);
  add("api", 4, true, { deletingHoursAgo: 0.1 });
  add("app", 7, true, { expiresInHours: 5, name: "impl-pr-7" });
  const theirs = add("web", 9, true, { expiresInHours: -5, instance: "argo-team-b" })!;
  namespaces.push(previewNamespace("team-payments", { createdHoursAgo: 1000 }));
  namespaces.push(previewNamespace("kube-public", { preview: false }));
  const releases: Record<string, string[]> = {
    [ns("app", 1)]: ["app-pr-1"], [ns("app", 2)]: ["app-pr-2", "cache-pr-2"], [ns("app", 3)]: ["app-pr-3"],
    [ns("api", 1)]: ["api-pr-1"], [ns("api", 2)]: [], [ns("web", 9)]: ["web-pr-9"], "impl-pr-7": ["app-pr-7"],
    "team-payments": ["payments"], "kube-public": ["x"],
  };
  const cluster = new FakeCluster(namespaces, releases);
  // Runs that do not hold the uninstall back: finished pipeline runs, a teardown and an agent child running.
  cluster.adopt(
    workflow("implementation-dag-done1", "implementation-dag", "Succeeded"),
    workflow("implementation-dag-done2", "implementation-dag", "Failed"),
    workflow("preview-teardown-abc12", "preview-teardown", "Running"),
    workflow("coderun-rex-5f3a", "coderun-template", "Running"),
    workflow("implementation-dag-elsewhere", "implementation-dag", "Running", { namespace: "argo-team-b" }),
  );
  return { cluster, ours, theirs, releases };
}

const DELETED = [ns("app", 1), ns("app", 2), ns("app", 3), ns("api", 1), ns("api", 2), "impl-pr-7"];

describe("the uninstall, run for real", () => {
  it("tears every preview of this instance down, whatever its expiry or keep label, and nothing else", async () => {
    const { cluster, ours, theirs, releases } = world();
    const r = await uninstall(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([
      RUNS, LIST, PV_LIST,
      ...DELETED.flatMap((n) => TEARDOWN(n, releases[n])),
      // The runs again, then the namespaces again: nothing appeared meanwhile.
      RUNS, LIST,
    ]);
    // Left: the preview already being deleted, another instance's, and the two namespaces that are no previews of ours.
    expect([...cluster.namespaces.keys()].sort()).toEqual([ns("api", 4), ns("web", 9), "kube-public", "team-payments"].sort());
    expect(cluster.releasesIn(ns("web", 9))).toEqual(["web-pr-9"]);
    expect(cluster.releasesIn("team-payments")).toEqual(["payments"]);

    // GitHub: no PR state asked; one deployments:write token per repository; each of our
    // deployments (the one being deleted included) gets one inactive status; the other instance's none.
    expect(gh.graphqlQueries()).toBe(0);
    expect(gh.tokens().map((t) => [t.repositories.join(), JSON.stringify(t.permissions)])).toEqual([
      ["acme/app", JSON.stringify({ deployments: "write", metadata: "read" })],
      ["acme/api", JSON.stringify({ deployments: "write", metadata: "read" })],
    ]);
    const statusPosts = gh.writes().filter((w) => w.method === "POST" && /\/deployments\/\d+\/statuses$/.test(w.path));
    expect(statusPosts).toHaveLength(ours.size);
    for (const [name, id] of ours) {
      const repo = name.includes("-api-") ? "api" : "app";
      expect(gh.deployments(OWNER, repo).find((d) => d.id === id)!.statuses.map((s) => [s.state, s.log_url]), name)
        .toEqual([["success", undefined], ["inactive", `https://argo.example.com/workflows/argo/${RUN}`]]);
    }
    expect(gh.deployments(OWNER, "web").find((d) => d.id === theirs)!.statuses.map((s) => s.state)).toEqual(["success"]);

    const rep = report(r);
    expect(rep.mode).toBe("all");
    expect(rep.deleted.map((e) => e.namespace)).toEqual(DELETED);
    expect(rep.deleted.every((e) => e.reason === "uninstall: every preview of instance argo goes")).toBe(true);
    expect(rep.kept.map((e) => [e.namespace, e.reason])).toEqual([
      [ns("api", 4), "already being deleted"],
      ["team-payments", "not a preview namespace's name (impl-pr-<N> or impl-<owner>-<repo>-<hash>-pr-<N>): never touched"],
    ]);
    expect(rep.failed).toEqual([]);
    expect(r.stdout).toMatch(/^Uninstall at .*\ndeleted: 6, kept: 2, failed: 0$/m);
  });

  it("refuses while a run of the pipeline is in progress, naming each, and changes nothing", async () => {
    const { cluster } = world();
    cluster.adopt(
      workflow("implementation-dag-run42", "implementation-dag", "Running"),
      workflow("implementation-dag-new17", "implementation-dag", "Pending", { picked: false }),
    );
    const r = await uninstall(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "ERROR: runs: run(s) of implementation-dag still in progress, which could deploy a preview again after the uninstall: " +
      "implementation-dag-new17, implementation-dag-run42. Wait for them to finish or stop them (argo stop -n argo NAME), then uninstall again; nothing was changed\n");
    expect(standIns!.lines()).toEqual([RUNS]);
    expect(cluster.namespaces.size).toBe(10);
    expect(gh.requests).toEqual([]);
  });

  it("fails, naming it, when a run of the pipeline started while it tore the previews down", async () => {
    const { cluster } = world();
    cluster.faults.beforeWorkflowList = (call, c) => {
      if (call === 2) c.adopt(workflow("implementation-dag-late1", "implementation-dag", "Running"));
    };
    const r = await uninstall(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "ERROR: runs: run(s) of implementation-dag started during the uninstall and could deploy a preview again: implementation-dag-late1. " +
      "Stop them (argo stop -n argo NAME), then uninstall again\n");
    expect(report(r).deleted.map((e) => e.namespace)).toEqual(DELETED);
  });

  it("fails, naming it, when a preview appeared during the uninstall (deployed by a run that came and went)", async () => {
    const { cluster } = world();
    const late = ns("web", 12);
    cluster.faults.beforeWorkflowList = (call, c) => {
      if (call === 2) c.namespaces.set(late, preview("web", 12, undefined, { expiresInHours: 48 }));
    };
    const r = await uninstall(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: previews: preview(s) deployed during the uninstall, by a run that has ended since: ${late}. Uninstall again\n`);
    expect(standIns!.lines().slice(-2)).toEqual([RUNS, LIST]);
  });

  it("refuses when the runs cannot be listed, changing nothing", async () => {
    const { cluster } = world();
    cluster.faults.forbidden = { user: "jane@example.com", denies: (read) => read.verb === "list" && read.resource === "workflows.argoproj.io" };
    const r = await uninstall(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR: kubectl: listing the Workflows of implementation-dag in argo failed; nothing was changed\n$/);
    expect(standIns!.lines()).toEqual([RUNS]);
    expect(cluster.namespaces.size).toBe(10);
  });

  it("tears down a preview that changed since the listing all the same, saying what changed", async () => {
    const { cluster } = world();
    // A run's deploy relabels app #2 between the listing and its re-read.
    cluster.faults.beforeNamespaceList = (call, c) => {
      if (call === 3) c.namespaces.get(ns("app", 2))!.metadata.labels!.workflow = "wf-newer";
    };
    const r = await uninstall(cluster);
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(ns("app", 2))).toBe(false);
    expect(report(r).deleted.find((e) => e.namespace === ns("app", 2))!.reason).toBe(
      "uninstall: every preview of instance argo goes (changed since the listing: relabelled workflow=wf-newer (was wf-app-2): a newer run)");
  });

  it("with dryRun=true lists what it would tear down and changes nothing", async () => {
    const { cluster } = world();
    const r = await uninstall(cluster, { dryRun: "true" });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([RUNS, LIST, PV_LIST]);
    expect(cluster.namespaces.size).toBe(10);
    expect(gh.requests).toEqual([]);
    const rep = report(r);
    expect(rep.dryRun).toBe(true);
    expect(rep.deleted.map((e) => [e.namespace, e.reason.endsWith("(dry run: not deleted)")])).toEqual(DELETED.map((n) => [n, true]));
  });

  it("rejects a MODE that is neither ttl nor all before calling anything", async () => {
    const bad = structuredClone(template);
    bad.script!.env = bad.script!.env!.map((e) => (e.name === "MODE" ? { name: "MODE", value: "everything" } : e));
    const { cluster } = world();
    const r = await uninstall(cluster, { template: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: MODE: must be ttl or all\n");
    expect(standIns!.lines()).toEqual([]);
  });

  it("does the same with the step image's busybox tools", async () => {
    const box = busyboxDir();
    const { cluster } = world();
    const r = await uninstall(cluster, { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(report(r).deleted.map((e) => e.namespace)).toEqual(DELETED);
    expect([...cluster.namespaces.keys()].sort()).toEqual([ns("api", 4), ns("web", 9), "kube-public", "team-payments"].sort());
  });
});

describe("lib/teardown.sh teardown_pipeline_runs", () => {
  /** Runs it with the libraries the uninstall is given, `kubectl` answered by `cluster`. */
  async function runs(cluster: FakeCluster): Promise<{ code: number; stdout: string }> {
    standIns = await startStandIns(["kubectl"], cluster.handle);
    const source = stepSource("ttl-sweep", TEARDOWN_LIBRARIES);
    const libs = source.slice(0, source.indexOf("# ---- end lib/teardown.sh ----"));
    const env = { ...process.env, ...standIns.env, PATH: `${standIns.dir}:${process.env.PATH}` };
    return promisify(execFile)("bash", ["-c", `set -euo pipefail\n${libs}\nteardown_pipeline_runs argo implementation-dag`], { env }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  }

  it("names the unfinished runs of the template, sorted: by its reference or by Argo's label, not a ClusterWorkflowTemplate of the same name", async () => {
    const cluster = new FakeCluster();
    const labelOnly = workflow("implementation-dag-b-labelled", "implementation-dag", "Running");
    delete labelOnly.spec.workflowTemplateRef;
    const clusterScoped = workflow("cluster-scoped-run", "implementation-dag", "Running", { clusterScope: true });
    cluster.adopt(
      workflow("implementation-dag-c-running", "implementation-dag", "Running"),
      labelOnly,
      workflow("implementation-dag-a-new", "implementation-dag", "Pending", { picked: false }),
      workflow("implementation-dag-done", "implementation-dag", "Succeeded"),
      workflow("implementation-dag-errored", "implementation-dag", "Error"),
      workflow("preview-teardown-x", "preview-teardown", "Running"),
      clusterScoped,
      workflow("implementation-dag-other-ns", "implementation-dag", "Running", { namespace: "argo-team-b" }),
    );
    expect(await runs(cluster)).toEqual({ code: 0, stdout: "implementation-dag-a-new\nimplementation-dag-b-labelled\nimplementation-dag-c-running\n" });
    expect(standIns!.lines()).toEqual([RUNS]);
  });

  it("prints nothing when none is unfinished, and fails when the runs cannot be listed", async () => {
    const cluster = new FakeCluster();
    cluster.adopt(workflow("implementation-dag-done", "implementation-dag", "Succeeded"));
    expect(await runs(cluster)).toEqual({ code: 0, stdout: "" });
    await standIns?.close();
    cluster.faults.forbidden = { user: "jane@example.com", denies: (read) => read.verb === "list" && read.resource === "workflows.argoproj.io" };
    expect((await runs(cluster)).code).toBe(1);
  });
});
