import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ICronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate, type StepResult } from "../helpers/argo-step";
import { objectsOf, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns } from "../helpers/stand-ins";
import { busyboxDir, FakeCluster, previewNamespace, utcIn, type FakeNamespace } from "./fake-cluster";

const MAX_AGE_HOURS = 168; // the preview stack's ttl.maxAgeHours
const LIST = "kubectl get namespaces -l preview=true -o json";
const PV_LIST = "kubectl get persistentvolumes -o json";

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
  const [cron] = objectsOf(await previewRender(), "CronWorkflow", "implementation-dag-ttl-sweep") as unknown as ICronWorkflow[];
  template = templateNamed({ spec: cron.spec.workflowSpec }, "ttl-sweep");
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
  ];
}
const RELEASES = { "impl-pr-1": ["app-pr-1"], "impl-pr-3": ["app-pr-3", "db-pr-3"], "impl-pr-2": ["app-pr-2"] };

describe("the TTL sweeper", () => {
  it("deletes exactly the expired and the orphaned previews: releases first, then the namespace", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    const r = await sweep(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([
      LIST,
      PV_LIST,
      "helm list --namespace impl-pr-1 --short",
      "helm uninstall app-pr-1 --namespace impl-pr-1 --ignore-not-found --timeout 2m",
      "kubectl delete namespace impl-pr-1 --ignore-not-found --wait=false",
      "helm list --namespace impl-pr-3 --short",
      "helm uninstall app-pr-3 --namespace impl-pr-3 --ignore-not-found --timeout 2m",
      "helm uninstall db-pr-3 --namespace impl-pr-3 --ignore-not-found --timeout 2m",
      "kubectl delete namespace impl-pr-3 --ignore-not-found --wait=false",
      "helm list --namespace impl-pr-14 --short",
      "kubectl delete namespace impl-pr-14 --ignore-not-found --wait=false",
      "helm list --namespace impl-pr-15 --short",
      "kubectl delete namespace impl-pr-15 --ignore-not-found --wait=false",
    ]);
    const swept = ["impl-pr-1", "impl-pr-3", "impl-pr-14", "impl-pr-15"];
    const left = fixture().map((n) => n.metadata.name).filter((n) => !swept.includes(n));
    expect([...cluster.namespaces.keys()].sort()).toEqual(left.sort());
    expect(cluster.releases.get("impl-pr-2")).toEqual(["app-pr-2"]);
  });

  it("reports what it deleted and kept, and why, as the archived artifact and on stdout", async () => {
    const r = await sweep(new FakeCluster(fixture(), RELEASES));
    const rep = report(r);
    expect(rep.dryRun).toBe(false);
    expect(rep.maxAgeHours).toBe(MAX_AGE_HOURS);
    expect(rep.deleted.map((e) => e.namespace)).toEqual(["impl-pr-1", "impl-pr-3", "impl-pr-14", "impl-pr-15"]);
    expect(rep.failed).toEqual([]);
    expect(rep.kept.map((e) => e.namespace).sort()).toEqual(
      ["impl-pr-2", "impl-pr-4", "impl-pr-5", "impl-pr-6", "impl-pr-7", "impl-pr-8", "impl-pr-9", "team-payments", "impl-pr-010", "impl-pr-11-x", "impl-pr-13"].sort(),
    );
    expect(reasonOf(rep, "impl-pr-13")).toMatch(/^expired at .*, but run wf-new started since the last success$/);
    expect(reasonOf(rep, "impl-pr-1")).toMatch(/^expired at /);
    expect(reasonOf(rep, "impl-pr-3")).toMatch(/^orphan: no expiry/);
    expect(reasonOf(rep, "impl-pr-2")).toMatch(/^fresh/);
    expect(reasonOf(rep, "impl-pr-4")).toMatch(/^no expiry yet/);
    for (const ns of ["impl-pr-5", "impl-pr-6", "impl-pr-7"]) expect(reasonOf(rep, ns)).toMatch(/^unparseable expiry/);
    expect(reasonOf(rep, "impl-pr-8")).toMatch(/preview\.keep=true/);
    expect(reasonOf(rep, "impl-pr-9")).toMatch(/^stuck deleting since /);
    for (const ns of ["team-payments", "impl-pr-010", "impl-pr-11-x"]) expect(reasonOf(rep, ns)).toMatch(/never touched/);
    expect(r.stdout).toContain("deleted: 4, kept: 11, failed: 0");
    expect(r.stdout).toMatch(/^ {2}keep {3}impl-pr-5: unparseable expiry/m);
    expect(readFileSync(path.join(r.artifacts["ttl-report"], "report.txt"), "utf8")).toBe(r.stdout);
  });

  it("with dryRun=true makes the list calls only and reports what it would delete", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    const r = await sweep(cluster, { dryRun: "true" });
    expect(r.code).toBe(0);
    expect(standIns!.lines()).toEqual([LIST, PV_LIST]);
    expect(cluster.namespaces.size).toBe(fixture().length);
    const rep = report(r);
    expect(rep.dryRun).toBe(true);
    expect(rep.deleted.map((e) => [e.namespace, /\(dry run: not deleted\)$/.test(e.reason)])).toEqual(
      ["impl-pr-1", "impl-pr-3", "impl-pr-14", "impl-pr-15"].map((n) => [n, true]),
    );
    expect(r.stdout).toMatch(/dry run: nothing deleted/);
  });

  it("never touches a namespace without preview=true, even when the server ignores the selector", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    cluster.listIgnoresSelector = true;
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(cluster.namespaces.has("impl-pr-12")).toBe(true);
    expect(standIns!.lines().filter((l) => l.includes("impl-pr-12"))).toEqual([]);
    expect(reasonOf(report(r), "impl-pr-12")).toBeUndefined();
  });

  it("handles 1,000 previews with exactly one list call", async () => {
    const namespaces = Array.from({ length: 1000 }, (_, i) =>
      previewNamespace(`impl-pr-${i + 1}`, expires(utcIn((i + 1) % 250 === 0 ? -1 : 24))));
    const cluster = new FakeCluster(namespaces);
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    const lines = standIns!.lines();
    expect(lines.filter((l) => l.startsWith("kubectl get"))).toEqual([LIST, PV_LIST]);
    expect(lines.filter((l) => l.startsWith("kubectl delete"))).toEqual(
      ["impl-pr-250", "impl-pr-500", "impl-pr-750", "impl-pr-1000"].map((n) => `kubectl delete namespace ${n} --ignore-not-found --wait=false`),
    );
    expect(cluster.namespaces.size).toBe(996);
    const rep = report(r);
    expect([rep.deleted.length, rep.kept.length, rep.failed.length]).toEqual([4, 996, 0]);
  }, 120_000);

  it("deletes the namespace when helm fails, reports the failure and fails the run", async () => {
    const cluster = new FakeCluster(fixture(), RELEASES);
    cluster.helmFailsIn.add("impl-pr-1");
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
    cluster.listFailure = "Error from server (Forbidden): namespaces is forbidden";
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
    const box = busyboxDir(["date", "mktemp", "mkdir", "rm", "tee", "cat", "sort", "tr", "head"]);
    const r = await sweep(new FakeCluster(namespaces, RELEASES), { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const bb = report(r);
    const strip = (rep: Report) => ({
      deleted: rep.deleted.map((e) => [e.namespace, e.reason.replace(/ \(dry run: not deleted\)$/, "")]),
      kept: rep.kept.map((e) => [e.namespace, e.reason]),
    });
    expect(strip(bb)).toEqual(strip(gnu));
    expect(bb.deleted.map((e) => e.namespace)).toEqual(["impl-pr-1", "impl-pr-3", "impl-pr-14", "impl-pr-15"]);
  });
});
