import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../helpers/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../helpers/stand-ins";
import { busyboxDir, FakeCluster, previewNamespace, utcIn } from "./fake-cluster";

const PR = "42";
const NS = "impl-pr-42";
const RELEASE = "example-app-pr-42";
const WORKFLOW = "implementation-dag-x7k2p";
const TTL_HOURS = 48; // the preview stack's ttl.hours

/** What Argo leaves in an exit handler's env for a global output that was never set. */
const UNRESOLVED = { ns: "{{workflow.outputs.parameters.ns}}", release: "{{workflow.outputs.parameters.release}}" };

let template: ITemplate;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "cleanup");
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

interface Run {
  status?: string;
  outputs?: Record<string, string>;
  pr?: string;
  name?: string;
  cluster: FakeCluster;
  pathPrepend?: string[];
  root?: string;
}

async function cleanup({ status = "Failed", outputs = { ns: NS, release: RELEASE }, pr = PR, name = WORKFLOW, cluster, pathPrepend = [], root }: Run) {
  standIns ??= await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(template, {
    workflow: { name, status, parameters: { pr }, outputs },
    pathPrepend: [standIns.dir, ...pathPrepend],
    standInEnv: standIns.env,
    root,
  });
}

const get = `kubectl get namespace ${NS} --ignore-not-found -o json`;
const uninstall = `helm uninstall ${RELEASE} --namespace ${NS} --ignore-not-found --timeout 2m`;
const del = `kubectl delete namespace ${NS} --ignore-not-found --wait=false`;

describe("the cleanup template", () => {
  it("takes set-params' names as global outputs and the workflow's status, name and PR through env only", () => {
    const env = Object.fromEntries((template.script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      WORKFLOW_STATUS: "{{workflow.status}}",
      WORKFLOW_NAME: "{{workflow.name}}",
      PR: "{{workflow.parameters.pr}}",
      NS: "{{workflow.outputs.parameters.ns}}",
      RELEASE: "{{workflow.outputs.parameters.release}}",
      TTL_HOURS: String(TTL_HOURS),
    });
    expect(template.script?.source).not.toContain("{{");
  });
});

describe("cleanup on failure", () => {
  it.each(["Failed", "Error"])("uninstalls the release, then deletes this PR's namespace (workflow %s)", async (status) => {
    const cluster = new FakeCluster(
      [previewNamespace(NS), previewNamespace("impl-pr-43"), previewNamespace("kube-system", { preview: false })],
      { [NS]: [RELEASE], "impl-pr-43": ["example-app-pr-43"] },
    );
    const r = await cleanup({ status, cluster });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get, uninstall, del]);
    expect([...cluster.namespaces.keys()].sort()).toEqual(["impl-pr-43", "kube-system"]);
    expect(cluster.releases.get("impl-pr-43")).toEqual(["example-app-pr-43"]);
  });

  it("succeeds when the release is not there (helm's not-found is fine)", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const r = await cleanup({ cluster });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get, uninstall, del]);
    expect(cluster.namespaces.has(NS)).toBe(false);
  });

  it("is idempotent: a second run, with the namespace gone, only looks and succeeds", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    const first = await cleanup({ cluster });
    expect(first.code).toBe(0);
    const second = await cleanup({ cluster });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/does not exist/);
    expect(standIns!.lines()).toEqual([get, uninstall, del, get]);
  });

  it("leaves a namespace named like ours but without preview=true alone, release included", async () => {
    const foreign = previewNamespace(NS, { preview: false, labels: { team: "payments" } });
    const cluster = new FakeCluster([foreign], { [NS]: [RELEASE] });
    const r = await cleanup({ cluster });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/not ours and is left alone/);
    expect(standIns!.lines()).toEqual([get]);
    expect(cluster.namespaces.get(NS)).toEqual(foreign);
    expect(cluster.releases.get(NS)).toEqual([RELEASE]);
  });

  it("deletes the namespace even when helm fails, and then fails the step naming helm", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    cluster.helmFailsIn.add(NS);
    const r = await cleanup({ cluster });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: helm: /m);
    expect(standIns!.lines()).toEqual([get, uninstall, del]);
    expect(cluster.namespaces.has(NS)).toBe(false);
  });
});

describe("cleanup on success", () => {
  it("stamps the namespace with its expiry (now + TTL, RFC 3339 UTC) and the workflow, and keeps it", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    const before = utcIn(TTL_HOURS);
    const r = await cleanup({ status: "Succeeded", cluster });
    const after = utcIn(TTL_HOURS);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const annotations = cluster.namespaces.get(NS)!.metadata.annotations!;
    const expires = annotations["implementation-dag/expires-at"];
    expect(expires).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(expires >= before && expires <= after).toBe(true);
    expect(annotations["implementation-dag/workflow"]).toBe(WORKFLOW);
    expect(standIns!.lines()).toEqual([
      get,
      `kubectl annotate namespace ${NS} --overwrite implementation-dag/expires-at=${expires} implementation-dag/workflow=${WORKFLOW}`,
    ]);
    expect(cluster.releases.get(NS)).toEqual([RELEASE]);
  });

  it("moves the expiry with every success", async () => {
    const old = previewNamespace(NS, { annotations: { "implementation-dag/expires-at": utcIn(-3), "implementation-dag/workflow": "implementation-dag-old" } });
    const cluster = new FakeCluster([old]);
    const r = await cleanup({ status: "Succeeded", cluster, name: "implementation-dag-new" });
    expect(r.code).toBe(0);
    const annotations = cluster.namespaces.get(NS)!.metadata.annotations!;
    expect(annotations["implementation-dag/expires-at"] > utcIn(TTL_HOURS - 1)).toBe(true);
    expect(annotations["implementation-dag/workflow"]).toBe("implementation-dag-new");
  });

  it("does not stamp a namespace without preview=true", async () => {
    const cluster = new FakeCluster([previewNamespace(NS, { preview: false })]);
    const r = await cleanup({ status: "Succeeded", cluster });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get]);
    expect(cluster.namespaces.get(NS)!.metadata.annotations).toBeUndefined();
  });

  it("succeeds with nothing to stamp when the namespace is gone", async () => {
    const cluster = new FakeCluster([]);
    const r = await cleanup({ status: "Succeeded", cluster });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get]);
  });

  it("works with the step image's busybox tools (date, printf)", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const before = utcIn(TTL_HOURS);
    const r = await cleanup({ status: "Succeeded", cluster, pathPrepend: [busyboxDir(["date", "printf", "cat"])] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const expires = cluster.namespaces.get(NS)!.metadata.annotations!["implementation-dag/expires-at"];
    expect(expires >= before && expires <= utcIn(TTL_HOURS)).toBe(true);
  });
});

describe("cleanup when set-params failed", () => {
  it.each([
    ["Argo's unresolved references", UNRESOLVED],
    ["empty values", { ns: "", release: "" }],
    ["an unresolved release only", { ns: NS, release: UNRESOLVED.release }],
  ])("says there is nothing of ours to clean and touches nothing (%s)", async (_what, outputs) => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    for (const status of ["Failed", "Error", "Succeeded"]) {
      const r = await cleanup({ status, outputs, pr: "not-a-number", cluster });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/nothing of ours to clean/);
    }
    expect(standIns!.calls).toEqual([]);
    expect(cluster.namespaces.has(NS)).toBe(true);
  });
});

describe("cleanup refuses bad input and changes nothing", () => {
  const cases: Array<[string, Partial<Run> & { outputs?: Record<string, string> }, string]> = [
    ["another PR's namespace", { outputs: { ns: "impl-pr-43", release: RELEASE } }, "NS"],
    ["a namespace that is not a preview's", { outputs: { ns: "kube-system", release: RELEASE } }, "NS"],
    ["a namespace with a leading zero", { outputs: { ns: "impl-pr-042", release: RELEASE }, pr: "042" }, "PR"],
    ["a release of another PR", { outputs: { ns: NS, release: "example-app-pr-43" } }, "RELEASE"],
    ["a release with shell in it", { outputs: { ns: NS, release: "$(touch PWNED)-pr-42" } }, "RELEASE"],
    ["a release over 53 characters", { outputs: { ns: NS, release: `${"a".repeat(50)}-pr-42` } }, "RELEASE"],
    ["a status Argo never gives", { status: "Running" }, "WORKFLOW_STATUS"],
    ["a workflow name with spaces", { name: "x; rm -rf /" }, "WORKFLOW_NAME"],
  ];
  it.each(cases)("%s", async (_what, run, input) => {
    const cluster = new FakeCluster([previewNamespace(NS), previewNamespace("impl-pr-43")], { [NS]: [RELEASE] });
    const r = await cleanup({ ...run, cluster });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    expect(standIns!.calls).toEqual([]);
    expect([...cluster.namespaces.keys()].sort()).toEqual([NS, "impl-pr-43"]);
  });
});
