/**
 * The TTL sweeper asks GitHub for the state of every preview's pull request: run for real from the
 * rendered CronWorkflow against the recording fake cluster and the fake GitHub. 250 previews across
 * 3 repositories, named by repository (the default scheme); exact deletions and the exact number of
 * GitHub requests; the same PR number in two repositories; an annotation that is not the
 * repository the name was made for; a GitHub outage leaves previews to the TTL and is reported; a
 * namespace stuck Terminating and a Released volume of a deleted preview are reported, never changed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { previewNamespace as previewName } from "../../components/names";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { appKey, qaAppEnv, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { sweepTemplate } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { busyboxDir } from "../helpers/busybox";
import { FakeCluster, type FakeNamespace } from "../../simulator/cluster";
import { previewNamespace, utcIn, volume } from "../helpers/cluster-objects";

const OWNER = "acme";
const SHA = "a".repeat(40);
const SWEEP = "implementation-dag-ttl-sweep-1700000000";
const LIST = "kubectl get namespaces -l preview=true,implementation-dag/instance=argo -o json";
const PV_LIST = "kubectl get persistentvolumes -o json";
/** The re-read of one namespace right before deleting it: a list call narrowed to its name. */
const REREAD = (name: string) => `kubectl get namespaces -l preview=true,implementation-dag/instance=argo --field-selector metadata.name=${name} -o json`;

interface Entry { namespace: string; reason: string; repository: string; prState: string }
interface Report {
  deleted: Entry[];
  kept: Entry[];
  failed: Entry[];
  stuck: Array<{ namespace: string; deletingSince: string; finalizers: string[]; conditions: Array<{ type: string; reason: string; message: string }> }>;
  releasedVolumes: Array<{ name: string; claim: string; reclaimPolicy: string; storageClass: string; since: string }>;
  github: { queries: number; unavailable: Array<{ repository: string; error: string }>; warnings: string[] };
}

const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "pr-close-sweep-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

let template: ITemplate;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = await sweepTemplate();
});
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: key.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: ["app", "api", "web"], permissions: { deployments: "write", pull_requests: "write", contents: "read" } }],
    }],
  });
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
  expect(gh.violations).toEqual([]);
  await gh.close();
});

async function sweep(cluster: FakeCluster, opts: { dryRun?: string; pathPrepend?: string[] } = {}): Promise<StepResult> {
  standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
  return runScriptTemplate(template, {
    parameters: opts.dryRun === undefined ? {} : { dryRun: opts.dryRun },
    workflow: { name: SWEEP },
    pathPrepend: [standIns.dir, ...(opts.pathPrepend ?? [])],
    standInEnv: {
      ...standIns.env,
      ...qaAppEnv(gh, keyFile),
    },
    timeoutMs: 200_000,
  });
}

const report = (r: StepResult): Report => JSON.parse(readFileSync(path.join(r.artifacts["ttl-report"], "report.json"), "utf8")) as Report;
const names = (entries: Entry[]) => entries.map((e) => e.namespace);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** The repository of PR `n` in the big world: app #1-120, api #201-300, web #301-330. */
const repoOf = (n: number) => (n <= 120 ? "app" : n <= 300 ? "api" : "web");
/** The preview namespace of PR `n` of its repository, named by repository. */
const ns = (n: number) => previewName("repository", OWNER, repoOf(n), String(n));

/** A preview of `repo`'s PR `n` as deploy and cleanup leave it. */
function preview(repo: string, n: number, opts: { expiresInHours?: number; keep?: boolean; deployment?: number; name?: string; repository?: string } = {}): FakeNamespace {
  return previewNamespace(opts.name ?? previewName("repository", OWNER, repo, String(n)), {
    labels: { pr: String(n), workflow: `wf-${n}`, ...(opts.keep ? { "preview.keep": "true" } : {}) },
    annotations: {
      "implementation-dag/repository": opts.repository ?? `${OWNER}/${repo}`,
      "implementation-dag/expires-at": utcIn(opts.expiresInHours ?? 24),
      "implementation-dag/workflow": `wf-${n}`,
      ...(opts.deployment ? { "implementation-dag/deployment": String(opts.deployment), "implementation-dag/environment-url": `https://pr-${n}.preview.example.com/` } : {}),
    },
  });
}

/**
 * 250 previews: app #1-120 (two queries), api #201-300 (one), web #301-330 (one).
 * app: #1-10 closed (with a recorded deployment), #11-20 merged, #21-25 open and expired, #26 open,
 * expired and kept, #27 merged and kept, #28 closed while a newer run is under way; api: #201-205
 * closed; web: #301 unknown to GitHub and expired, #302 unknown and fresh.
 */
function world(): { cluster: FakeCluster; deployments: Map<number, number> } {
  const deployments = new Map<number, number>();
  const namespaces: FakeNamespace[] = [];
  const add = (repo: string, numbers: number[], state: "open" | "closed" | "merged" | "none", opts: Parameters<typeof preview>[2] = {}) => {
    for (const n of numbers) {
      if (state !== "none") gh.addPull({ owner: OWNER, repo, number: n, headSha: SHA, state: state === "open" ? "open" : "closed", merged: state === "merged" });
      let deployment: number | undefined;
      if (repo === "app" && state === "closed" && n <= 10) {
        deployment = gh.addDeployment(OWNER, repo, { sha: SHA, environment: `pr-${n}` });
        deployments.set(n, deployment);
      }
      namespaces.push(preview(repo, n, { ...opts, deployment }));
    }
  };
  add("app", range(1, 10), "closed");
  add("app", range(11, 20), "merged");
  add("app", range(21, 25), "open", { expiresInHours: -1 });
  add("app", [26], "open", { expiresInHours: -1, keep: true });
  add("app", [27], "merged", { keep: true });
  add("app", [28], "closed");
  add("app", range(29, 120), "open");
  add("api", range(201, 205), "closed");
  add("api", range(206, 300), "open");
  add("web", [301], "none", { expiresInHours: -1 });
  add("web", [302], "none");
  add("web", range(303, 330), "open");
  const cluster = new FakeCluster(namespaces, Object.fromEntries(namespaces.map((n) => [n.metadata.name, [`${n.metadata.name}-release`]])));
  // #28: deploy of a newer run relabelled it since the last success.
  cluster.namespaces.get(ns(28))!.metadata.labels!.workflow = "wf-28-new";
  return { cluster, deployments };
}

const CLOSED_OR_MERGED = [...range(1, 20), 27, ...range(201, 205)];
const EXPIRED = [...range(21, 25), 301];

describe("the sweeper and the pull requests' states", () => {
  it("tears down exactly the closed and merged previews and the expired ones; one query per repository and 100 previews", async () => {
    const { cluster, deployments } = world();
    expect(cluster.namespaces.size).toBe(250);
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const rep = report(r);
    const expected = [...CLOSED_OR_MERGED, ...EXPIRED].sort((a, b) => a - b).map(ns);
    expect(names(rep.deleted).sort()).toEqual([...expected].sort());
    expect(rep.failed).toEqual([]);
    expect([...cluster.namespaces.keys()].filter((n) => expected.includes(n))).toEqual([]);
    expect(cluster.namespaces.size).toBe(250 - expected.length);
    expect(standIns!.lines().filter((l) => l.startsWith("kubectl delete")).sort()).toEqual(
      expected.map((n) => `kubectl delete namespace ${n} --ignore-not-found --wait=false`).sort());
    // One listing, one PersistentVolume listing, and one narrowed re-read per deletion: no more.
    const gets = standIns!.lines().filter((l) => l.startsWith("kubectl get"));
    expect(gets.slice(0, 2)).toEqual([LIST, PV_LIST]);
    expect(gets.slice(2).sort()).toEqual(expected.map(REREAD).sort());

    const reason = (n: number) => [...rep.deleted, ...rep.kept].find((e) => e.namespace === ns(n))!;
    expect(reason(1)).toMatchObject({ reason: "PR closed", repository: "acme/app", prState: "CLOSED" });
    expect(reason(11)).toMatchObject({ reason: "PR merged", prState: "MERGED" });
    expect(reason(27).reason).toBe("PR merged (preview.keep=true exempts from the TTL only)");
    expect(reason(26).reason).toBe("exempt from the TTL: labelled preview.keep=true");
    expect(reason(28).reason).toBe("PR closed, but run wf-28-new started since the last success; a later sweep tears it down");
    expect(reason(21).reason).toMatch(/^expired at /);
    expect(reason(301)).toMatchObject({ prState: "UNKNOWN" });
    expect(reason(302)).toMatchObject({ prState: "UNKNOWN", reason: expect.stringMatching(/^fresh/) });
    expect(reason(50)).toMatchObject({ prState: "OPEN", reason: expect.stringMatching(/^fresh/) });

    // GitHub: per repository one read-only token and one query per 100 previews (2 + 1 + 1), then one
    // deployments:write token for app and one inactive status per recorded deployment.
    expect(rep.github.queries).toBe(4);
    expect(gh.graphqlQueries()).toBe(4);
    expect([gh.graphqlQueries(OWNER, "app"), gh.graphqlQueries(OWNER, "api"), gh.graphqlQueries(OWNER, "web")]).toEqual([2, 1, 1]);
    expect(gh.tokens().map((t) => [t.repositories.join(), JSON.stringify(t.permissions)])).toEqual([
      ["acme/api", JSON.stringify({ pull_requests: "read", metadata: "read" })],
      ["acme/app", JSON.stringify({ pull_requests: "read", metadata: "read" })],
      ["acme/web", JSON.stringify({ pull_requests: "read", metadata: "read" })],
      ["acme/app", JSON.stringify({ deployments: "write", metadata: "read" })],
    ]);
    expect(gh.requests).toHaveLength(3 + 4 + 1 + 10);
    for (const [n, id] of deployments) {
      expect(gh.deployments(OWNER, "app").find((d) => d.id === id)!.statuses.map((s) => [s.state, s.log_url]), `#${n}`)
        .toEqual([["inactive", `https://argo.example.com/workflows/argo/${SWEEP}`]]);
    }
  }, 200_000);

  it("with GitHub down, deletes only the expired previews, reads no state as closed, and reports the outage", async () => {
    const { cluster } = world();
    gh.enqueue("apps/create-installation-access-token", ...Array.from({ length: 15 }, () => ({ status: 503 })));
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(names(rep.deleted).sort()).toEqual(EXPIRED.map(ns).sort());
    expect(rep.github.unavailable.map((u) => u.repository)).toEqual(["acme/api", "acme/app", "acme/web"]);
    expect(rep.kept.find((e) => e.namespace === ns(1))).toMatchObject({ prState: "UNAVAILABLE", reason: expect.stringMatching(/^fresh/) });
    expect(r.stderr).toMatch(/^WARNING: github: no pull request states for acme\/app /m);
    expect(r.stdout).toContain("GitHub unavailable (PR states unknown; judged by the TTL alone):");
    // Three repositories, five tries each, nothing else.
    expect(gh.requests).toHaveLength(15);
    expect(gh.graphqlQueries()).toBe(0);
  }, 200_000);

  it("a GraphQL error for one repository leaves only that repository's previews to the TTL", async () => {
    const { cluster } = world();
    gh.enqueue("graphql", ...Array.from({ length: 5 }, () => ({ status: 502 })));
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    const rep = report(r);
    // The first query goes to acme/api (sorted): its closed previews stay, the others go.
    expect(rep.github.unavailable.map((u) => u.repository)).toEqual(["acme/api"]);
    const deleted = names(rep.deleted);
    expect(deleted).not.toContain(ns(201));
    expect(deleted).toContain(ns(1));
  }, 200_000);

  it("with dryRun=true asks GitHub (read-only) but changes nothing", async () => {
    const { cluster } = world();
    const r = await sweep(cluster, { dryRun: "true" });
    expect(r.code).toBe(0);
    expect(names(report(r).deleted)).toHaveLength(CLOSED_OR_MERGED.length + EXPIRED.length);
    expect(cluster.namespaces.size).toBe(250);
    expect(gh.writes()).toEqual([]);
    expect(standIns!.lines()).toEqual([LIST, PV_LIST]);
  }, 200_000);
});

describe("many repositories on one cluster", () => {
  /**
   * PR 5 of app (closed) and of api (open); a preview named for api's PR 7 (open) but annotated as
   * app's, whose PR 7 is closed; app's PR 9 (merged) under the pr-number scheme, annotated in
   * another case than GitHub's.
   */
  function sharedWorld(): FakeCluster {
    gh.addPull({ owner: OWNER, repo: "app", number: 5, headSha: SHA, state: "closed", merged: false });
    gh.addPull({ owner: OWNER, repo: "api", number: 5, headSha: SHA, state: "open", merged: false });
    gh.addPull({ owner: OWNER, repo: "api", number: 7, headSha: SHA, state: "open", merged: false });
    gh.addPull({ owner: OWNER, repo: "app", number: 7, headSha: SHA, state: "closed", merged: false });
    gh.addPull({ owner: OWNER, repo: "app", number: 9, headSha: SHA, state: "closed", merged: true });
    return new FakeCluster([
      preview("app", 5),
      preview("api", 5),
      preview("api", 7, { repository: `${OWNER}/app` }),
      preview("app", 9, { name: "impl-pr-9", repository: "ACME/App" }),
    ]);
  }
  const APP_5 = previewName("repository", OWNER, "app", "5");
  const API_5 = previewName("repository", OWNER, "api", "5");
  const API_7 = previewName("repository", OWNER, "api", "7");

  it("tears down only the closed PR's preview of the repository whose PR closed, matching repositories case-insensitively", async () => {
    const cluster = sharedWorld();
    const r = await sweep(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(names(rep.deleted)).toEqual([APP_5, "impl-pr-9"]);
    expect([...cluster.namespaces.keys()]).toEqual([API_5, API_7]);
    expect(rep.kept.find((e) => e.namespace === API_5)).toMatchObject({ prState: "OPEN", reason: expect.stringMatching(/^fresh/) });
    expect(rep.deleted.find((e) => e.namespace === "impl-pr-9")).toMatchObject({ reason: "PR merged", repository: "ACME/App", prState: "MERGED" });
    // One token and one query per repository, lowercased; app's asks for PRs 5 and 9 only.
    expect(gh.tokens().map((t) => t.repositories.join())).toEqual(["acme/api", "acme/app"]);
    expect([gh.graphqlQueries(OWNER, "app"), gh.graphqlQueries(OWNER, "api")]).toEqual([1, 1]);
  });

  it("does not believe an annotation that names another repository than the namespace's name: left to the TTL, with a warning", async () => {
    const r = await sweep(sharedWorld());
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(rep.kept.find((e) => e.namespace === API_7)).toMatchObject({ repository: "acme/app", prState: "", reason: expect.stringMatching(/^fresh/) });
    expect(rep.github.warnings).toEqual([`${API_7}: annotated as the preview of acme/app, which its name is not: judged by the TTL alone, its deployment left alone`]);
    expect(r.stdout).toContain(`WARNING ${API_7}: annotated as the preview of acme/app`);
  });

  it("decides the same with the step image's busybox tools", async () => {
    const box = busyboxDir();
    const cluster = sharedWorld();
    const r = await sweep(cluster, { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(names(report(r).deleted)).toEqual([APP_5, "impl-pr-9"]);
    expect([...cluster.namespaces.keys()]).toEqual([API_5, API_7]);
  });
});

describe("stuck previews are reported, not forced", () => {
  function stuckWorld(): FakeCluster {
    const stuck = previewNamespace(ns(5), { deletingHoursAgo: 2 });
    stuck.spec = { finalizers: ["kubernetes"] };
    stuck.status.conditions = [
      { type: "NamespaceDeletionDiscoveryFailure", status: "True", reason: "DiscoveryFailed", message: "Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: the server is currently unable to handle the request" },
      { type: "NamespaceContentRemaining", status: "True", reason: "SomeResourcesRemain", message: "Some resources are remaining: widgets.example.com has 1 resource instances" },
      { type: "NamespaceDeletionContentFailure", status: "False", reason: "ContentDeleted", message: "All content successfully deleted" },
    ];
    const recent = previewNamespace(ns(6), { deletingHoursAgo: 0.1 });
    const cluster = new FakeCluster([stuck, recent, previewNamespace(ns(7))]);
    cluster.seed(
      volume("pvc-gone", ns(9), "data-db-0", "Released"),
      volume("pvc-live", ns(7), "data", "Released"), // its namespace still exists: a chart's own business
      volume("pvc-bound", ns(9), "cache", "Bound"),
      volume("pvc-other", "team-payments", "data", "Released"),
      volume("pvc-gone-pr-number", "impl-pr-9", "data", "Released"), // the pr-number scheme's preview, gone
      volume("pvc-not-a-preview", "impl-pr-09", "data", "Released"),
    );
    return cluster;
  }

  it("reports a namespace Terminating past the limit with its finalizers and blocking conditions, and Released volumes of deleted previews", async () => {
    const cluster = stuckWorld();
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(rep.stuck).toEqual([{
      namespace: ns(5),
      deletingSince: utcIn(-2).slice(0, 14) + rep.stuck[0].deletingSince.slice(14),
      finalizers: ["kubernetes"],
      conditions: [
        { type: "NamespaceDeletionDiscoveryFailure", reason: "DiscoveryFailed", message: expect.stringContaining("metrics.k8s.io/v1beta1") },
        { type: "NamespaceContentRemaining", reason: "SomeResourcesRemain", message: expect.stringContaining("widgets.example.com") },
      ],
    }]);
    expect(rep.kept.find((e) => e.namespace === ns(5))!.reason).toMatch(
      /^stuck deleting since .* \(over 30 minutes\): finalizers: kubernetes; NamespaceDeletionDiscoveryFailure: Discovery failed.*; NamespaceContentRemaining: Some resources/);
    expect(rep.kept.find((e) => e.namespace === ns(6))!.reason).toBe("already being deleted");
    expect(rep.releasedVolumes).toEqual([
      { name: "pvc-gone", claim: `${ns(9)}/data-db-0`, reclaimPolicy: "Retain", storageClass: "standard", since: "" },
      { name: "pvc-gone-pr-number", claim: "impl-pr-9/data", reclaimPolicy: "Retain", storageClass: "standard", since: "" },
    ]);
    expect(r.stdout).toMatch(new RegExp(`^ {2}STUCK {2}${ns(5)} since .*: finalizers: kubernetes; NamespaceDeletionDiscoveryFailure: `, "m"));
    expect(r.stdout).toMatch(new RegExp(`^ {2}VOLUME pvc-gone: claim ${ns(9)}/data-db-0, reclaim policy Retain$`, "m"));
    // Reports only: the two list calls, nothing that changes a namespace or a volume.
    expect(standIns!.lines()).toEqual([LIST, PV_LIST]);
    expect(gh.requests).toEqual([]);
  });

  it("reports the same with the step image's busybox tools", async () => {
    const box = busyboxDir();
    const r = await sweep(stuckWorld(), { pathPrepend: [box] });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rep = report(r);
    expect(rep.stuck.map((s) => s.namespace)).toEqual([ns(5)]);
    expect(rep.releasedVolumes.map((v) => v.name)).toEqual(["pvc-gone", "pvc-gone-pr-number"]);
  });

  it("goes on, and says so, when PersistentVolumes cannot be listed", async () => {
    const cluster = stuckWorld();
    cluster.faults.forbidden = { user: "system:serviceaccount:argo:implementation-dag-steps", denies: (read) => read.verb === "list" && read.resource === "persistentvolumes" };
    const r = await sweep(cluster);
    expect(r.code).toBe(0);
    expect(report(r).github.warnings).toEqual(["listing PersistentVolumes failed: Released volumes of deleted previews are not reported this time"]);
  });
});
