import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PREVIEW_NAMESPACE_PATTERN, previewNamespace as previewName, repositoryKey } from "../../components/names";
import { stepSource } from "../../components/argo/script-template";
import { TEARDOWN_LIBRARIES } from "../../components/ttl-sweeper";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { sweepTemplate } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster, type FakeNamespace } from "../../simulator/cluster";
import { previewNamespace, utcIn } from "../helpers/cluster-objects";

const MAX_AGE_HOURS = 168; // the preview stack's ttl.maxAgeHours
const LIST = "kubectl get namespaces -l preview=true,implementation-dag/instance=argo -o json";
const PV_LIST = "kubectl get persistentvolumes -o json";
/** The re-read of one namespace right before deleting it: a list call narrowed to its name. */
const REREAD = (ns: string) => `kubectl get namespaces -l preview=true,implementation-dag/instance=argo --field-selector metadata.name=${ns} -o json`;
/** The commands that tear `ns` down, after its re-read, when it holds no release. */
const TEARDOWN = (ns: string) => [REREAD(ns), `helm list --namespace ${ns} --short`, `kubectl delete namespace ${ns} --ignore-not-found --wait=false`];

/** Previews named by repository (the default scheme): two repositories' PR 16, one PR 17. */
const REPO_16 = previewName("repository", "Example-Org", "example-app", "16");
const OTHER_16 = previewName("repository", "example-org", "other-app", "16");
const REPO_17 = previewName("repository", "example-org", "example-app", "17");

interface Report {
  generatedAt: string;
  dryRun: boolean;
  maxAgeHours: number;
  deleted: Array<{ namespace: string; reason: string; expiresAt: string; createdAt: string }>;
  kept: Array<{ namespace: string; reason: string; expiresAt: string; createdAt: string }>;
  failed: Array<{ namespace: string; reason: string }>;
}

let template: ITemplate;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = await sweepTemplate();
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

async function sweep(cluster: FakeCluster, opts: { dryRun?: string; pathPrepend?: string[] } = {}) {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(template, {
    parameters: opts.dryRun === undefined ? {} : { dryRun: opts.dryRun },
    workflow: { name: "implementation-dag-ttl-sweep-1700000000" },
    pathPrepend: [standIns.dir, ...(opts.pathPrepend ?? [])],
    standInEnv: standIns.env,
  });
}

function report(r: StepResult): Report {
  expect(r.artifacts["ttl-report"]).toBeDefined();
  return JSON.parse(readFileSync(path.join(r.artifacts["ttl-report"], "report.json"), "utf8")) as Report;
}

const expires = (at: string) => ({ annotations: { "implementation-dag/expires-at": at } });
const reasonOf = (rep: Report, ns: string) =>
  [...rep.deleted, ...rep.kept, ...rep.failed].find((e) => e.namespace === ns)?.reason;

/** Every case the sweeper decides on, once. */
function fixture(): FakeNamespace[] {
  return [
    previewNamespace("impl-pr-1", expires(utcIn(-1))), // expired
    previewNamespace("impl-pr-2", expires(utcIn(+1))), // fresh
    previewNamespace("impl-pr-3", { createdHoursAgo: MAX_AGE_HOURS + 1 }), // orphan
    previewNamespace("impl-pr-4", { createdHoursAgo: 2 }), // no expiry yet, young
    previewNamespace("impl-pr-5", expires("tomorrow")), // unparseable
    previewNamespace("impl-pr-6", expires("2020-13-01T00:00:00Z")), // no 13th month
    previewNamespace("impl-pr-7", expires("2020-01-01T00:00:00+02:00")), // not UTC Z form
    previewNamespace("impl-pr-8", { ...expires(utcIn(-5)), labels: { "preview.keep": "true" } }), // exempt
    previewNamespace("impl-pr-9", { ...expires(utcIn(-5)), deletingHoursAgo: 2 }), // stuck deleting
    previewNamespace("team-payments", { ...expires(utcIn(-5)), createdHoursAgo: 1000 }), // not ours by name
    previewNamespace("impl-pr-010", expires(utcIn(-5))), // leading zero: not a PR namespace
    previewNamespace("impl-pr-11-x", expires(utcIn(-5))), // suffix: not a PR namespace
    previewNamespace("impl-pr-12", { preview: false, createdHoursAgo: 1000, ...expires(utcIn(-5)) }), // no label
    // Expired, but deploy of a newer run relabelled it since the last success stamped it: in progress.
    previewNamespace("impl-pr-13", { labels: { workflow: "wf-new" }, annotations: { "implementation-dag/expires-at": utcIn(-1), "implementation-dag/workflow": "wf-old" } }),
    // The same, long after its expiry: that run crashed.
    previewNamespace("impl-pr-14", { labels: { workflow: "wf-new" }, annotations: { "implementation-dag/expires-at": utcIn(-(MAX_AGE_HOURS + 1)), "implementation-dag/workflow": "wf-old" } }),
    // Expired, stamped by the run that deployed it last.
    previewNamespace("impl-pr-15", { labels: { workflow: "wf-old" }, annotations: { "implementation-dag/expires-at": utcIn(-1), "implementation-dag/workflow": "wf-old" } }),
    // Named by repository: one repository's PR 16 expired, another's fresh; an orphan of PR 17.
    previewNamespace(REPO_16, expires(utcIn(-1))),
    previewNamespace(OTHER_16, expires(utcIn(+1))),
    previewNamespace(REPO_17, { createdHoursAgo: MAX_AGE_HOURS + 1 }),
    // Like a repository's preview, but without its hash, with an uppercase hash, with a leading zero.
    previewNamespace("impl-example-org-example-app-pr-18", expires(utcIn(-5))),
    previewNamespace("impl-example-org-example-app-ABCDEF0123-pr-18", expires(utcIn(-5))),
    previewNamespace("impl-example-org-example-app-abcdef0123-pr-018", expires(utcIn(-5))),
  ];
}
const RELEASES = { "impl-pr-1": ["app-pr-1"], "impl-pr-3": ["app-pr-3", "db-pr-3"], "impl-pr-2": ["app-pr-2"], [REPO_16]: ["example-app-pr-16"], [OTHER_16]: ["other-app-pr-16"] };
const SWEPT = ["impl-pr-1", "impl-pr-3", "impl-pr-14", "impl-pr-15", REPO_16, REPO_17];
const NOT_PREVIEW_NAMES = ["team-payments", "impl-pr-010", "impl-pr-11-x", "impl-example-org-example-app-pr-18",
  "impl-example-org-example-app-ABCDEF0123-pr-18", "impl-example-org-example-app-abcdef0123-pr-018"];

describe("the TTL sweeper", () => {
  it("deletes exactly the expired and the orphaned previews of both naming schemes: each read again, releases first, then the namespace", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    const r = await sweep(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([
      LIST,
      PV_LIST,
      REREAD("impl-pr-1"),
      "helm list --namespace impl-pr-1 --short",
      "helm uninstall app-pr-1 --namespace impl-pr-1 --ignore-not-found --timeout 2m",
      "kubectl delete namespace impl-pr-1 --ignore-not-found --wait=false",
      REREAD("impl-pr-3"),
      "helm list --namespace impl-pr-3 --short",
      "helm uninstall app-pr-3 --namespace impl-pr-3 --ignore-not-found --timeout 2m",
      "helm uninstall db-pr-3 --namespace impl-pr-3 --ignore-not-found --timeout 2m",
      "kubectl delete namespace impl-pr-3 --ignore-not-found --wait=false",
      ...TEARDOWN("impl-pr-14"),
      ...TEARDOWN("impl-pr-15"),
      REREAD(REPO_16),
      `helm list --namespace ${REPO_16} --short`,
      `helm uninstall example-app-pr-16 --namespace ${REPO_16} --ignore-not-found --timeout 2m`,
      `kubectl delete namespace ${REPO_16} --ignore-not-found --wait=false`,
      ...TEARDOWN(REPO_17),
    ]);
    const left = fixture().map((n) => n.metadata.name).filter((n) => !SWEPT.includes(n));
    expect([...cluster.namespaces.keys()].sort()).toEqual(left.sort());
    expect(cluster.releasesIn("impl-pr-2")).toEqual(["app-pr-2"]);
    expect(cluster.releasesIn(OTHER_16)).toEqual(["other-app-pr-16"]);
  });

  it("reports what it deleted and kept, and why, as the archived artifact and on stdout", async () => {
    const r = await sweep(new FakeCluster(fixture(), RELEASES));
    const rep = report(r);
    expect(rep.dryRun).toBe(false);
    expect(rep.maxAgeHours).toBe(MAX_AGE_HOURS);
    expect(rep.deleted.map((e) => e.namespace)).toEqual(SWEPT);
    expect(rep.failed).toEqual([]);
    expect(rep.kept.map((e) => e.namespace).sort()).toEqual(
      ["impl-pr-2", "impl-pr-4", "impl-pr-5", "impl-pr-6", "impl-pr-7", "impl-pr-8", "impl-pr-9", "impl-pr-13", OTHER_16, ...NOT_PREVIEW_NAMES].sort(),
    );
    expect(reasonOf(rep, "impl-pr-13")).toMatch(/^expired at .*, but run wf-new started since the last success$/);
    expect(reasonOf(rep, "impl-pr-1")).toMatch(/^expired at /);
    expect(reasonOf(rep, "impl-pr-3")).toMatch(/^orphan: no expiry/);
    expect(reasonOf(rep, "impl-pr-2")).toMatch(/^fresh/);
    expect(reasonOf(rep, "impl-pr-4")).toMatch(/^no expiry yet/);
    for (const ns of ["impl-pr-5", "impl-pr-6", "impl-pr-7"]) expect(reasonOf(rep, ns)).toMatch(/^unparseable expiry/);
    expect(reasonOf(rep, "impl-pr-8")).toMatch(/preview\.keep=true/);
    expect(reasonOf(rep, "impl-pr-9")).toMatch(/^stuck deleting since /);
    for (const ns of NOT_PREVIEW_NAMES) expect(reasonOf(rep, ns)).toMatch(/^not a preview namespace's name .*: never touched$/);
    expect(reasonOf(rep, REPO_16)).toMatch(/^expired at /);
    expect(reasonOf(rep, OTHER_16)).toMatch(/^fresh/);
    expect(reasonOf(rep, REPO_17)).toMatch(/^orphan: no expiry/);
    expect(r.stdout).toContain("deleted: 6, kept: 15, failed: 0");
    expect(r.stdout).toMatch(/^ {2}keep {3}impl-pr-5: unparseable expiry/m);
    expect(readFileSync(path.join(r.artifacts["ttl-report"], "report.txt"), "utf8")).toBe(r.stdout);
  });

  it("with dryRun=true makes the two list calls only (no re-read) and reports what it would delete", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    const r = await sweep(cluster, { dryRun: "true" });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([LIST, PV_LIST]);
    expect(cluster.namespaces.size).toBe(fixture().length);
    const rep = report(r);
    expect(rep.dryRun).toBe(true);
    expect(rep.deleted.map((e) => [e.namespace, /\(dry run: not deleted\)$/.test(e.reason)])).toEqual(SWEPT.map((n) => [n, true]));
    expect(r.stdout).toMatch(/dry run: nothing deleted/);
  });

  it("never touches a namespace without preview=true, even when the server ignores the selector", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    cluster.faults.listIgnoresSelector = true;
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has("impl-pr-12")).toBe(true);
    expect(standIns!.lines().filter((l) => l.includes("impl-pr-12"))).toEqual([]);
    expect(reasonOf(report(r), "impl-pr-12")).toBeUndefined();
  });

  it.each([
    ["when the server honours the selector", false],
    ["even when the server ignores the selector", true],
  ])("never judges or touches another instance's previews (a second stack on the cluster), %s", async (_what, ignoresSelector) => {
    const theirs = [
      previewNamespace("impl-pr-31", { ...expires(utcIn(-5)), instance: "argo-team-b" }), // expired
      previewNamespace("impl-pr-32", { createdHoursAgo: MAX_AGE_HOURS + 10, instance: "argo-team-b" }), // orphan
      previewNamespace("impl-pr-33", { ...expires(utcIn(-5)), instance: null }), // made before the label
    ];
    const cluster = new FakeCluster([...fixture(), ...theirs], { ...RELEASES, "impl-pr-31": ["app-pr-31"] });
    cluster.faults.listIgnoresSelector = ignoresSelector;
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    for (const ns of theirs) {
      const name = ns.metadata.name;
      expect(cluster.namespaces.get(name), name).toEqual(ns);
      expect(standIns!.lines().filter((l) => l.includes(name)), name).toEqual([]);
      expect(reasonOf(report(r), name), name).toBeUndefined();
    }
    expect(cluster.releasesIn("impl-pr-31")).toEqual(["app-pr-31"]);
    expect(report(r).deleted.map((e) => e.namespace).sort()).toEqual([...SWEPT].sort());
  });

  it("sweeps only the instance its env names: the template passes the stack's own", async () => {
    const env = Object.fromEntries((template.script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.PREVIEW_INSTANCE).toBe("argo");
    const cluster = new FakeCluster([previewNamespace("impl-pr-31", { ...expires(utcIn(-5)), instance: "argo-team-b" })]);
    standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
    const r = await runScriptTemplate(template, {
      workflow: { name: "implementation-dag-ttl-sweep-1700000000" },
      pathPrepend: [standIns.dir],
      standInEnv: { ...standIns.env, PREVIEW_INSTANCE: "argo-team-b" },
    });
    expect(r.code).toBe(0);
    expect(standIns.lines()).toContain("kubectl get namespaces -l preview=true,implementation-dag/instance=argo-team-b -o json");
    expect(cluster.namespaces.has("impl-pr-31")).toBe(false);
  });

  it("refuses a PREVIEW_INSTANCE that is no DNS label before listing anything", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
    const r = await runScriptTemplate(template, {
      workflow: { name: "implementation-dag-ttl-sweep-1700000000" },
      pathPrepend: [standIns.dir],
      standInEnv: { ...standIns.env, PREVIEW_INSTANCE: "argo,preview=true" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: PREVIEW_INSTANCE: must be a DNS-1123 label\n");
    expect(standIns.lines()).toEqual([]);
  });

  it("handles 1,000 previews of both schemes with one listing, and one narrowed re-read per deletion only", async () => {
    const name = (n: number) => (n % 2 === 0 ? previewName("repository", "example-org", `app-${n % 7}`, String(n)) : `impl-pr-${n}`);
    const namespaces = Array.from({ length: 1000 }, (_, i) =>
      previewNamespace(name(i + 1), expires(utcIn((i + 1) % 250 === 0 || i === 0 ? -1 : 24))));
    const cluster = new FakeCluster(namespaces);
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    const lines = standIns!.lines();
    const swept = [1, 250, 500, 750, 1000].map(name);
    expect(lines.filter((l) => l.startsWith("kubectl get"))).toEqual([LIST, PV_LIST, ...swept.map(REREAD)]);
    expect(lines.filter((l) => l.startsWith("kubectl delete"))).toEqual(
      swept.map((n) => `kubectl delete namespace ${n} --ignore-not-found --wait=false`),
    );
    expect(cluster.namespaces.size).toBe(995);
    const rep = report(r);
    expect([rep.deleted.length, rep.kept.length, rep.failed.length]).toEqual([5, 995, 0]);
  }, 120_000);

  it("deletes the namespace when helm fails, reports the failure and fails the run", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    cluster.faults.helmUninstallFailsIn = new Set(["impl-pr-1"]);
    const r = await sweep(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: sweep: 1 namespace/m);
    expect(cluster.namespaces.has("impl-pr-1")).toBe(false);
    expect(cluster.namespaces.has("impl-pr-3")).toBe(false);
    const rep = report(r);
    expect(rep.failed.map((e) => e.namespace)).toEqual(["impl-pr-1"]);
    expect(rep.failed[0].reason).toMatch(/helm uninstall failed, namespace deleted/);
  });

  it("stops before deleting anything when the list call fails", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    cluster.faults.forbidden = { user: "system:serviceaccount:argo:implementation-dag-sweeper", denies: (r) => r.verb === "list" && r.resource === "namespaces" };
    const r = await sweep(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: kubectl: listing the namespaces/m);
    expect(standIns!.lines()).toEqual([LIST]);
    expect(cluster.namespaces.size).toBe(fixture().length);
  });

  it("refuses a dryRun that is neither true nor false, before any call", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    const r = await sweep(cluster, { dryRun: "yes; kubectl delete ns --all" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: DRY_RUN: must be true or false$/m);
    expect(standIns!.calls).toEqual([]);
  });

  it("decides the same with the step image's busybox tools as with GNU's", async () => {
    const namespaces = fixture();
    const gnu = report(await sweep(new FakeCluster(namespaces, RELEASES), { dryRun: "true" }));
    await standIns!.close();
    const box = busyboxDir();
    const r = await sweep(new FakeCluster(namespaces, RELEASES), { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const bb = report(r);
    const strip = (rep: Report) => ({
      deleted: rep.deleted.map((e) => [e.namespace, e.reason.replace(/ \(dry run: not deleted\)$/, "")]),
      kept: rep.kept.map((e) => [e.namespace, e.reason]),
    });
    expect(strip(bb)).toEqual(strip(gnu));
    expect(bb.deleted.map((e) => e.namespace)).toEqual(SWEPT);
  });
});

describe("the sweeper racing a run: each namespace is read again right before it is deleted", () => {
  /**
   * Two expired previews, one of each scheme, both stamped by the run that deployed them (no
   * repository annotation unless given: no GitHub here, the TTL decides).
   */
  const A = previewName("repository", "example-org", "example-app", "21");
  const B = "impl-pr-22";
  const expired = (name: string, workflow: string, repository?: string) => previewNamespace(name, {
    labels: { pr: name.replace(/^.*-pr-/, ""), workflow },
    annotations: {
      "implementation-dag/expires-at": utcIn(-1), "implementation-dag/workflow": workflow,
      ...(repository ? { "implementation-dag/repository": repository } : {}),
    },
  });
  const raceWorld = (repository?: string) =>
    new FakeCluster([expired(A, "wf-a", repository), expired(B, "wf-b", repository)], { [A]: ["example-app-pr-21"], [B]: ["example-app-pr-22"] });
  /** Changes namespace `name` right before the re-read of it (list call 1 is the listing, 2 is A's re-read, 3 is B's). */
  const onReread = (cluster: FakeCluster, name: string, change: (ns: FakeNamespace, c: FakeCluster) => void) => {
    cluster.faults.beforeNamespaceList = (call, c) => {
      const ns = c.namespaces.get(name);
      if (call === (name === A ? 2 : 3) && ns) change(ns, c);
    };
  };

  it("leaves alone a preview a new run relabelled after the listing, and still deletes the unchanged one", async () => {
    const cluster = raceWorld();
    onReread(cluster, A, (ns) => { ns.metadata.labels!.workflow = "wf-a-new"; });
    const r = await sweep(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(A)).toBe(true);
    expect(cluster.releasesIn(A)).toEqual(["example-app-pr-21"]);
    expect(cluster.namespaces.has(B)).toBe(false);
    expect(standIns!.lines()).toEqual([LIST, PV_LIST, REREAD(A), REREAD(B), `helm list --namespace ${B} --short`,
      `helm uninstall example-app-pr-22 --namespace ${B} --ignore-not-found --timeout 2m`, `kubectl delete namespace ${B} --ignore-not-found --wait=false`]);
    const rep = report(r);
    expect(rep.deleted.map((e) => e.namespace)).toEqual([B]);
    expect(reasonOf(rep, A)).toMatch(/^expired at \S+, but changed since the listing \(relabelled workflow=wf-a-new \(was wf-a\): a newer run\): left for the next sweep$/);
    expect(r.stdout).toContain(`keep   ${A}: expired at`);
  });

  it("reports a preview gone since the listing as kept, not as an error", async () => {
    const cluster = raceWorld();
    onReread(cluster, A, (_ns, c) => { c.namespaces.delete(A); });
    const r = await sweep(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(rep.failed).toEqual([]);
    expect(reasonOf(rep, A)).toMatch(/^expired at \S+, but gone since the listing: nothing to delete$/);
    expect(standIns!.lines().filter((l) => l.includes(A))).toEqual([REREAD(A)]);
    expect(rep.deleted.map((e) => e.namespace)).toEqual([B]);
  });

  const changes: Array<[string, (ns: FakeNamespace) => void, RegExp]> = [
    ["a new expiry and workflow stamp (a run succeeded since)", (ns) => {
      ns.metadata.annotations = { ...ns.metadata.annotations, "implementation-dag/expires-at": utcIn(+24), "implementation-dag/workflow": "wf-a-2" };
    }, /changed since the listing \(new expiry \S+; stamped by workflow wf-a-2\)/],
    ["another repository's annotation", (ns) => {
      ns.metadata.annotations = { ...ns.metadata.annotations, "implementation-dag/repository": "other-org/other-app" };
    }, /changed since the listing \(now the preview of other-org\/other-app\)/],
    ["being deleted", (ns) => {
      ns.metadata.deletionTimestamp = utcIn(0);
      ns.status.phase = "Terminating";
    }, /changed since the listing \(being deleted since \S+\)/],
    ["the preview.keep label", (ns) => { ns.metadata.labels!["preview.keep"] = "true"; }, /changed since the listing \(labelled preview\.keep=true\)/],
    ["deleted and made again", (ns) => { ns.metadata.creationTimestamp = utcIn(0); }, /changed since the listing \(recreated \(created \S+\)\)/],
  ];
  it.each(changes)("leaves alone a preview changed since the listing: %s", async (_what, change, reason) => {
    const cluster = raceWorld();
    onReread(cluster, A, change);
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has(A)).toBe(true);
    expect(standIns!.lines().filter((l) => l.includes(A))).toEqual([REREAD(A)]);
    const rep = report(r);
    expect(rep.kept.find((e) => e.namespace === A)?.reason).toMatch(reason);
    expect(rep.deleted.map((e) => e.namespace)).toEqual([B]);
  });

  it("still deletes a preview whose repository annotation only changed case (GitHub names are case-insensitive)", async () => {
    // GitHub is not reachable here: the warning says so, and the TTL decides.
    const cluster = raceWorld("example-org/example-app");
    onReread(cluster, A, (ns) => { ns.metadata.annotations!["implementation-dag/repository"] = "Example-Org/Example-App"; });
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(report(r).deleted.map((e) => e.namespace)).toEqual([A, B]);
    expect(cluster.namespaces.size).toBe(0);
  });

  it("deletes nothing it could not read again, reports it as failed and fails the run", async () => {
    const cluster = raceWorld();
    cluster.faults.narrowedListFailure = "Error from server (InternalError): etcdserver: request timed out";
    const r = await sweep(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: sweep: 2 namespace\(s\) could not be cleaned completely/m);
    expect(cluster.namespaces.size).toBe(2);
    expect(standIns!.lines()).toEqual([LIST, PV_LIST, REREAD(A), REREAD(B)]);
    expect(report(r).failed.map((e) => [e.namespace, e.reason.replace(/^expired at [^;\s]+/, "expired")])).toEqual([
      [A, "expired; reading it again before deleting failed: not deleted"],
      [B, "expired; reading it again before deleting failed: not deleted"],
    ]);
  });

  it("leaves a relabelled preview alone with the step image's busybox tools too", async () => {
    const cluster = raceWorld();
    onReread(cluster, B, (ns) => { ns.metadata.labels!.workflow = "wf-b-new"; });
    const box = busyboxDir();
    const r = await sweep(cluster, { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect([...cluster.namespaces.keys()]).toEqual([B]);
    expect(reasonOf(report(r), B)).toMatch(/changed since the listing \(relabelled workflow=wf-b-new \(was wf-b\): a newer run\)/);
  });
});

describe("lib/teardown.sh's naming rules, one by one", () => {
  /** Runs `teardown_preview_pr` (printing the TEARDOWN_PR it sets) or `teardown_named_for` with the libraries the sweeper is given. */
  async function call(fn: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
    const source = stepSource("ttl-sweep", TEARDOWN_LIBRARIES);
    // The libraries only: everything the step source holds before its own first command.
    const libs = source.slice(0, source.indexOf("# ---- end lib/teardown.sh ----"));
    const print = fn === "teardown_preview_pr" ? '; rc=$?; printf %s "$TEARDOWN_PR"; exit "$rc"' : "";
    return promisify(execFile)("bash", ["-c", `${libs}\n${fn} "$@"${print}`, "lib", ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
  }

  const previews: Array<[string, string]> = [
    [previewName("pr-number", "example-org", "example-app", "42"), "42"],
    [previewName("repository", "example-org", "example-app", "42"), "42"],
    [previewName("repository", "Example-Org", "My_App.js", "7"), "7"],
    [previewName("repository", "o", "x".repeat(100), "999999999"), "999999999"],
    [previewName("repository", "o", "-._lead", "1"), "1"],
  ];
  it.each(previews)("teardown_preview_pr takes the PR number of %s from its -pr-<N> suffix", async (ns, pr) => {
    expect(ns).toMatch(new RegExp(PREVIEW_NAMESPACE_PATTERN));
    expect(await call("teardown_preview_pr", ns)).toEqual({ code: 0, stdout: pr });
  });

  it.each([
    "team-payments", "impl-pr-042", "impl-pr-42-x", "impl-pr-", "impl-pr-1234567890", "impl-example-org-example-app-pr-42",
    "impl-example-org-example-app-ABCDEF0123-pr-42", "impl--abcdef0123-pr-42", `impl-${"a".repeat(44)}-abcdef0123-pr-42`, "prod-pr-42", "",
  ])("teardown_preview_pr refuses %j, printing nothing", async (ns) => {
    expect(await call("teardown_preview_pr", ns)).toEqual({ code: 1, stdout: "" });
  });

  it("teardown_named_for holds a repository-named preview to the repository its hash belongs to, any case", async () => {
    const ns = previewName("repository", "example-org", "example-app", "42");
    expect((await call("teardown_named_for", ns, repositoryKey("Example-Org", "Example-App"))).code).toBe(0);
    expect((await call("teardown_named_for", ns, "Example-Org/Example-App")).code).toBe(0);
    expect((await call("teardown_named_for", ns, "example-org/other-app")).code).toBe(1);
    expect((await call("teardown_named_for", ns, "example-org")).code).toBe(1);
    expect((await call("teardown_named_for", previewName("repository", "example-org", "example-app", "43"), "example-org/example-app")).code).toBe(0);
    // impl-pr-<N> does not say whose it is: any repository may be its.
    expect((await call("teardown_named_for", "impl-pr-42", "example-org/other-app")).code).toBe(0);
    expect((await call("teardown_named_for", "team-payments", "example-org/example-app")).code).toBe(1);
  });
});
