import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { previewNamespace as previewNamespaceName } from "../../components/names";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster, type FakeNamespace } from "../../simulator/cluster";
import { previewNamespace as fakeNamespace, utcIn } from "../helpers/cluster-objects";

const PR = "42";
const REPOSITORY = "example-org/example-app";
/** This run's preview, named by repository (the default naming). */
const NS = previewNamespaceName("repository", "example-org", "example-app", PR);
const RELEASE = "example-app-pr-42";
const WORKFLOW = "implementation-dag-x7k2p";
const TTL_HOURS = 48; // the preview stack's ttl.hours

/** What Argo leaves in an exit handler's env for a global output that was never set. */
const UNRESOLVED = {
  ns: "{{workflow.outputs.parameters.ns}}", release: "{{workflow.outputs.parameters.release}}", repository: "{{workflow.outputs.parameters.repository}}",
};

/**
 * A preview namespace as deploy leaves it: this run's (labelled with this workflow, annotated with
 * this repository) unless `opts` says otherwise.
 */
function previewNamespace(name: string, opts: Parameters<typeof fakeNamespace>[1] & { workflow?: string; repository?: string } = {}): FakeNamespace {
  const { workflow = WORKFLOW, repository = REPOSITORY, ...rest } = opts;
  return fakeNamespace(name, {
    ...rest,
    labels: { workflow, ...rest.labels },
    annotations: { "implementation-dag/repository": repository, ...rest.annotations },
  });
}

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
  name?: string;
  cluster: FakeCluster;
  pathPrepend?: string[];
  root?: string;
}

async function cleanup({ status = "Failed", outputs = { ns: NS, release: RELEASE, repository: REPOSITORY }, name = WORKFLOW, cluster, pathPrepend = [], root }: Run) {
  standIns ??= await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(template, {
    workflow: { name, status, outputs },
    pathPrepend: [standIns.dir, ...pathPrepend],
    standInEnv: standIns.env,
    root,
  });
}

const get = `kubectl get namespace ${NS} --ignore-not-found -o json`;
const uninstall = `helm uninstall ${RELEASE} --namespace ${NS} --ignore-not-found --timeout 2m`;
const del = `kubectl delete namespace ${NS} --ignore-not-found --wait=false`;

describe("the cleanup template", () => {
  it("takes set-params' names as global outputs and the workflow's status and name through env only", () => {
    const env = Object.fromEntries((template.script?.env ?? []).map((e) => [e.name, e.value]));
    // Nothing raw: the PR comes with the namespace set-params derived, never from the parameter.
    expect(env.PR).toBeUndefined();
    expect(env).toMatchObject({
      WORKFLOW_STATUS: "{{workflow.status}}",
      WORKFLOW_NAME: "{{workflow.name}}",
      NS: "{{workflow.outputs.parameters.ns}}",
      RELEASE: "{{workflow.outputs.parameters.release}}",
      REPOSITORY: "{{workflow.outputs.parameters.repository}}",
      TTL_HOURS: String(TTL_HOURS),
      PREVIEW_INSTANCE: "argo",
    });
    expect(template.script?.source).not.toContain("{{");
  });
});

describe("cleanup on failure", () => {
  it.each(["Failed", "Error"])("uninstalls the release, then deletes this PR's namespace (workflow %s)", async (status) => {
    const cluster = new FakeCluster(
      [previewNamespace(NS), previewNamespace("impl-pr-43"), fakeNamespace("kube-system", { preview: false })],
      { [NS]: [RELEASE], "impl-pr-43": ["example-app-pr-43"] },
    );
    const r = await cleanup({ status, cluster });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get, uninstall, del]);
    expect([...cluster.namespaces.keys()].sort()).toEqual(["impl-pr-43", "kube-system"]);
    expect(cluster.releasesIn("impl-pr-43")).toEqual(["example-app-pr-43"]);
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
    expect(cluster.releasesIn(NS)).toEqual([RELEASE]);
  });

  it.each([
    ["another instance's preview of the same name (a second stack on the cluster)", "argo-team-b", /belongs to the implementation-dag instance 'argo-team-b', not to argo: left alone/],
    ["a preview without an instance label (made before it; deploy adopts it first)", null, /belongs to the implementation-dag instance '', not to argo: left alone/],
  ] as const)("leaves %s alone, release included, whatever repository and workflow it records", async (_what, instance, message) => {
    const theirs = previewNamespace(NS, { instance });
    for (const status of ["Failed", "Succeeded"]) {
      const cluster = new FakeCluster([theirs], { [NS]: [RELEASE] });
      const r = await cleanup({ status, cluster });
      expect(r.code, status).toBe(0);
      expect(r.stdout, status).toMatch(message);
      expect(standIns!.lines(), status).toEqual([get]);
      expect(cluster.namespaces.get(NS), status).toEqual(theirs);
      expect(cluster.releasesIn(NS), status).toEqual([RELEASE]);
      await standIns!.close();
      standIns = undefined;
    }
  });

  it("deletes the namespace even when helm fails, and then fails the step naming helm", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    cluster.faults.helmUninstallFailsIn = new Set([NS]);
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
    expect(cluster.releasesIn(NS)).toEqual([RELEASE]);
  });

  it("moves the expiry with every success", async () => {
    // The new run's deploy relabelled the namespace; the old success's stamp is still on it.
    const old = previewNamespace(NS, { workflow: "implementation-dag-new", annotations: { "implementation-dag/expires-at": utcIn(-3), "implementation-dag/workflow": "implementation-dag-old" } });
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
    expect(cluster.namespaces.get(NS)!.metadata.annotations?.["implementation-dag/expires-at"]).toBeUndefined();
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
    const r = await cleanup({ status: "Succeeded", cluster, pathPrepend: [busyboxDir()] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const expires = cluster.namespaces.get(NS)!.metadata.annotations!["implementation-dag/expires-at"];
    expect(expires >= before && expires <= utcIn(TTL_HOURS)).toBe(true);
  });
});

describe("cleanup when set-params failed", () => {
  it.each([
    ["Argo's unresolved references", UNRESOLVED],
    ["empty values", { ns: "", release: "", repository: "" }],
    ["an unresolved release only", { ns: NS, release: UNRESOLVED.release, repository: REPOSITORY }],
    ["an unresolved repository only", { ns: NS, release: RELEASE, repository: UNRESOLVED.repository }],
  ])("says there is nothing of ours to clean and touches nothing (%s)", async (_what, outputs) => {
    const cluster = new FakeCluster([previewNamespace(NS)], { [NS]: [RELEASE] });
    for (const status of ["Failed", "Error", "Succeeded"]) {
      const r = await cleanup({ status, outputs, cluster });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/nothing of ours to clean/);
    }
    expect(standIns!.calls).toEqual([]);
    expect(cluster.namespaces.has(NS)).toBe(true);
  });
});

describe("cleanup refuses bad input and changes nothing", () => {
  const names = { ns: NS, release: RELEASE, repository: REPOSITORY };
  const cases: Array<[string, Partial<Run> & { outputs?: Record<string, string> }, string]> = [
    ["a namespace that is not a preview's", { outputs: { ...names, ns: "kube-system" } }, "NS"],
    ["a namespace with a leading zero", { outputs: { ...names, ns: "impl-pr-042", release: "example-app-pr-042" } }, "NS"],
    ["a release of another PR than its namespace's", { outputs: { ...names, release: "example-app-pr-43" } }, "RELEASE"],
    ["a release with shell in it", { outputs: { ...names, release: "$(touch PWNED)-pr-42" } }, "RELEASE"],
    ["a release over 53 characters", { outputs: { ...names, release: `${"a".repeat(50)}-pr-42` } }, "RELEASE"],
    ["a repository not lowercased", { outputs: { ...names, repository: "Example-Org/example-app" } }, "REPOSITORY"],
    ["a repository with shell in it", { outputs: { ...names, repository: "example-org/$(id)" } }, "REPOSITORY"],
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

describe("cleanup acts only on what this run owns (many repositories on one cluster)", () => {
  it("a failed run of app-b leaves app-a's preview of the same PR number alone (pr-number naming)", async () => {
    const cluster = new FakeCluster([previewNamespace("impl-pr-5", { repository: "example-org/app-a", workflow: "implementation-dag-a1b2c" })], { "impl-pr-5": ["app-a-pr-5"] });
    const r = await cleanup({ status: "Failed", outputs: { ns: "impl-pr-5", release: "app-b-pr-5", repository: "example-org/app-b" }, cluster });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("holds the preview of example-org/app-a, not of example-org/app-b: left alone");
    expect(standIns!.lines()).toEqual(["kubectl get namespace impl-pr-5 --ignore-not-found -o json"]);
    expect(cluster.namespaces.has("impl-pr-5")).toBe(true);
    expect(cluster.releasesIn("impl-pr-5")).toEqual(["app-a-pr-5"]);
  });

  it("compares repositories case-insensitively: a preview recorded as Example-Org/Example-App is this run's", async () => {
    const cluster = new FakeCluster([previewNamespace(NS, { repository: "Example-Org/Example-App" })], { [NS]: [RELEASE] });
    const r = await cleanup({ status: "Failed", cluster });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([get, uninstall, del]);
  });

  it("leaves a preview this run never deployed into alone (an older run's, labelled with that run)", async () => {
    for (const status of ["Failed", "Succeeded"]) {
      const cluster = new FakeCluster([previewNamespace(NS, { workflow: "implementation-dag-older" })], { [NS]: [RELEASE] });
      const r = await cleanup({ status, cluster });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`was last deployed by implementation-dag-older, not by this run (${WORKFLOW}): left alone`);
      expect(cluster.namespaces.get(NS)!.metadata.annotations?.["implementation-dag/expires-at"]).toBeUndefined();
      await standIns?.close();
      standIns = undefined;
    }
  });

  it("leaves a preview that records no repository alone", async () => {
    const ns = previewNamespace(NS);
    delete ns.metadata.annotations;
    const cluster = new FakeCluster([ns], { [NS]: [RELEASE] });
    const r = await cleanup({ status: "Failed", cluster });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("holds the preview of no recorded repository");
    expect(cluster.namespaces.has(NS)).toBe(true);
  });

  it("on success, a namespace deleted between its read and its expiry stamp is done, not an error", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    cluster.faults.beforeAnnotate = (name, c) => { c.namespaces.delete(name); };
    const r = await cleanup({ status: "Succeeded", cluster });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`namespace ${NS} was deleted meanwhile; nothing left to keep`);
    expect(standIns!.lines()).toEqual([get, expect.stringMatching(/^kubectl annotate namespace /), `kubectl get namespace ${NS} --ignore-not-found -o name`]);
  });
});
