/**
 * End to end: the rendered `implementation-dag` WorkflowTemplate runs offline (the e2e runner, with
 * Argo's semantics) against a stand-in world — the success path, the same PR twice, two PRs one after
 * the other. A failure at every stage: failures.test.ts.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PIPELINE } from "../../components/workflow";
import { AGENT_LABEL, CODERUN_PARAMETERS, PARENT_ANNOTATION } from "../../components/workflow/agents";
import { hostOf, nsOf, OTHER_REPO, OWNER, REPO, World } from "../../simulator/world";
import { exitStep, logs, node, onExit, tasks } from "./nodes";

let world: World;
beforeAll(async () => {
  world = await World.start();
});
afterAll(() => world?.close());
beforeEach(() => world.fresh());


/** Runs `script` with the stand-ins first on PATH, as a person at a terminal would. */
async function shell(script: string): Promise<string> {
  const env = { ...process.env, ...world.standIns.env, PATH: `${world.standIns.dir}:${process.env.PATH}` };
  const { stdout } = await promisify(execFile)("bash", ["-c", script], { env, encoding: "utf8" });
  return stdout;
}

/** Every namespace, release, host and tag named in the stand-in calls from index `from` on. */
function namesUsed(from: number): { namespaces: Set<string>; releases: Set<string>; hosts: Set<string>; tags: Set<string> } {
  const text = world.standIns.calls.slice(from).map((c) => [c.tool, ...c.args, c.stdin].join(" ")).join("\n");
  const all = (re: RegExp) => new Set([...text.matchAll(re)].map((m) => m[1]));
  return {
    namespaces: all(/\b(impl-[0-9a-z-]+-pr-[0-9]+)\b/g),
    releases: all(/\b([a-z0-9-]+-pr-\d+)\b(?!\.)/g),
    hosts: all(/\b([a-z0-9-]*pr-\d+\.preview\.[a-z0-9.-]+)\b/g),
    tags: all(/image\.tag=(\S+)/g),
  };
}

describe("the whole pipeline, offline", () => {
  it("success: the seven tasks run once each in order, preview-evidence beside them, one approval pinned to the tested commit, the preview kept", async () => {
    const callsBefore = world.standIns.calls.length;
    const ghBefore = world.github.requests.length;
    const r = await world.run({ pr: 123 });
    expect(r.phase, logs(r)).toBe("Succeeded");

    expect(tasks(r).map((n) => [n.displayName, n.phase])).toEqual(PIPELINE.map((t) => [t, "Succeeded"]));
    // One run of this preview at a time: the mutex set-params derived, held by the preview template.
    expect(r.mutexes).toEqual([`implementation-dag-${nsOf(123).slice("impl-".length)}`]);
    // Each agent is a child Workflow of the platform's template, created by its step under the
    // agents' own service account, owned by this run, given every parameter the template reads:
    // the ones set-params validated, and its own GitHub App.
    const derived = node(r, "set-params").outputs.parameters;
    expect(derived).toMatchObject({ "task-id": "123", "service-id": "example-app" });
    const given = (app: string) => Object.fromEntries(CODERUN_PARAMETERS.map((p) => [p, p === "github-app" ? app : derived[p]]));
    expect(r.childWorkflows.map((c) => [c.createdBy, c.object.metadata.labels?.[AGENT_LABEL], c.result?.phase])).toEqual([
      [`${r.name}.preview.implement`, "implement", "Succeeded"], [`${r.name}.preview.clippy-format`, "clippy-format", "Succeeded"], [`${r.name}.preview.qa-testing`, "qa-testing", "Succeeded"],
    ]);
    expect(r.childWorkflows.map((c) => c.result?.parameters)).toEqual([given("rex"), given("clippy"), given("qa")]);
    for (const c of r.childWorkflows) {
      expect(c.object.metadata.name).toMatch(new RegExp(`^agent-${c.object.metadata.labels?.[AGENT_LABEL]}-[a-z0-9]{5}$`));
      expect(c.object.spec.workflowTemplateRef).toEqual({ name: "coderun-template" });
      expect(c.object.metadata.ownerReferences).toEqual([{ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", name: r.name, uid: r.uid, controller: true, blockOwnerDeletion: true }]);
      expect(c.object.metadata.annotations?.[PARENT_ANNOTATION]).toBe(r.name);
      expect(c.creatorServiceAccountName).toBe("implementation-dag-agents");
      expect(c.result?.serviceAccountName ?? "default").not.toBe(r.serviceAccountName);
      expect(node(r, c.object.metadata.labels![AGENT_LABEL]).outputs.parameters.workflow).toBe(c.object.metadata.name);
    }
    // Each stops itself a minute before its step gives up on it.
    expect(r.childWorkflows.map((c) => c.object.spec.activeDeadlineSeconds)).toEqual([2340, 1740, 2340]);
    // The agent itself ran once in each, with exactly those parameters.
    expect(world.agentCalls.slice(-3)).toEqual(r.childWorkflows.map((c) => ({
      task: c.object.metadata.labels?.[AGENT_LABEL], workflow: c.object.metadata.name, parameters: c.result?.parameters,
    })));

    // The names set-params derived, and nothing else, in every kubectl, helm and git call.
    expect(node(r, "set-params").outputs.parameters).toMatchObject({
      ns: nsOf(123), release: "example-app-pr-123", host: hostOf(123), image_tag: "",
    });
    const used = namesUsed(callsBefore);
    expect(used.namespaces).toEqual(new Set([nsOf(123)]));
    expect([...used.releases].filter((x) => x !== nsOf(123))).toEqual(["example-app-pr-123"]);
    expect(used.hosts).toEqual(new Set([hostOf(123)]));
    // No tag given: deploy derived it from the PR head it deployed, after that commit's build succeeded.
    expect(used.tags).toEqual(new Set([`sha-${world.headOf(123).slice(0, 12)}`]));
    // ... and in every GitHub call.
    const ghPaths = world.github.requests.slice(ghBefore).map((q) => q.path);
    for (const p of ghPaths.filter((x) => x.startsWith("/repos/"))) {
      expect(p).toMatch(new RegExp(`^/repos/${OWNER}/${REPO}/(pulls/123(/|$)|commits/|deployments(/[0-9]+/statuses)?$)`));
    }
    expect(world.github.violations).toEqual([]);
    expect(world.cluster.unknown).toEqual([]);

    // Acceptance tested the preview through the ingress, by its host.
    const hits = world.appRequests.filter((q) => q.host === hostOf(123));
    expect(hits.length).toBeGreaterThanOrEqual(10);
    expect(world.appRequests.every((q) => q.host === hostOf(123))).toBe(true);

    // One approval, pinned to the commit deploy resolved and acceptance tested.
    const head = world.headOf(123);
    expect(node(r, "deploy").outputs.parameters.commit).toBe(head);
    const reviews = world.github.reviews(OWNER, REPO, 123);
    expect(reviews.map((x) => [x.state, x.commitId, x.login])).toEqual([["APPROVED", head, "implementation-dag-qa[bot]"]]);
    // Between acceptance and approve, preview-evidence archived what ran (the artifact passes to
    // approve as files); the approval names the commit and the digest the running pod reported, and
    // links the archived evidence.
    const evidence = node(r, "preview-evidence");
    expect(evidence.phase, logs(r)).toBe("Succeeded");
    expect(evidence.stdout).toMatch(new RegExp(`^preview-evidence: ${nsOf(123)}: \\d+ containers in \\d+ pods, 0 restarts, [1-9]\\d* events; logs of \\d+ containers`));
    expect(node(r, "approve").inputs.artifacts["preview-evidence"]).toBeDefined();
    expect(reviews[0].body).toContain(`Commit \`${head}\`, from these images`);
    // The image is the commit's: tagged sha-<12 hex of the head> (deploy.imageTagPattern's default).
    const row = new RegExp(`^\\| \`(example-app-pr-123-[0-9a-f]{10}-[0-9a-f]{5})\` \\| \`app\` \\| \`([^\`]+:sha-${head.slice(0, 12)})\` \\| \`(sha256:[0-9a-f]{64})\` \\|$`, "m").exec(reviews[0].body);
    expect(row, reviews[0].body).not.toBeNull();
    // The digest is the one the fake node reports for that image (simulator/cluster.ts runPods).
    expect(row![3]).toBe(`sha256:${createHash("sha256").update(row![2]).digest("hex")}`);
    expect(reviews[0].body).toContain(`/pr-123/${r.name}/preview-evidence/preview-evidence.tgz`);
    expect(world.github.writes().filter((q) => q.path.endsWith("/reviews"))).toHaveLength(1);
    // Apart from the preview's deployment and its statuses, the review is the only write to GitHub.
    const allWrites = world.github.writes();
    const writes = world.github.requests.slice(ghBefore).filter((q) => allWrites.includes(q));
    expect(writes.map((q) => `${q.method} ${q.path}`).filter((w) => !/^POST \/repos\/example-org\/example-app\/deployments(\/\d+\/statuses)?$/.test(w)))
      .toEqual(["POST /repos/example-org/example-app/pulls/123/reviews"]);
    // The preview on the PR: a deployment of the tested commit (auto_merge false), in_progress when
    // deploy started, success with the preview's URL when the run succeeded.
    const deployment = world.github.deployments(OWNER, REPO).filter((d) => d.environment === "pr-123").at(-1);
    expect(deployment).toMatchObject({ sha: head, request: { auto_merge: false, transient_environment: true } });
    expect(deployment!.statuses.map((s) => [s.state, s.environment_url ?? ""])).toEqual([["in_progress", ""], ["success", `https://${hostOf(123)}/`]]);

    // cleanup ran on success: it deleted nothing and stamped the expiry.
    expect(onExit(r).phase).toBe("Succeeded");
    expect(exitStep(r, "cleanup").env?.WORKFLOW_STATUS).toBe("Succeeded");
    // stop-agents found this run's three children, all finished, and stopped none.
    expect(exitStep(r, "stop-agents").stdout).toContain("no agent Workflow of this run is still running");
    expect(world.cluster.events.filter((e) => e.kind === "Workflow")).toEqual([]);
    expect(world.cluster.events.filter((e) => e.verb === "delete" || e.verb === "uninstall")).toEqual([]);
    const ns = world.cluster.namespaces.get(nsOf(123));
    expect(ns?.metadata.labels).toMatchObject({ preview: "true", pr: "123", workflow: r.name });
    const expires = Date.parse(ns?.metadata.annotations?.["implementation-dag/expires-at"] ?? "");
    expect(expires - Date.now()).toBeGreaterThan(47 * 3600_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(48 * 3600_000);
    expect(ns?.metadata.annotations?.["implementation-dag/workflow"]).toBe(r.name);

    // What the specification checks by hand shows exactly this PR's namespace and release.
    const out = await shell("kubectl get ns -l preview=true; helm list -A | grep pr-");
    const rows = out.trim().split("\n");
    expect(rows[0]).toMatch(/^NAME\s+STATUS\s+AGE$/);
    expect(rows.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([[nsOf(123), "Active"], ["example-app-pr-123", nsOf(123)]]);
  });
});

describe("repeated and parallel previews", () => {
  it("the same PR twice: the namespace is reused and the second success posts no second approval", async () => {
    const first = await world.run({ pr: 301 });
    expect(first.phase, logs(first)).toBe("Succeeded");
    const created = world.cluster.events.filter((e) => e.verb === "create" && e.kind === "Namespace");
    expect(created).toHaveLength(1);
    const reviewsAfterFirst = world.github.reviews(OWNER, REPO, 301);
    expect(reviewsAfterFirst.map((x) => x.state)).toEqual(["APPROVED"]);

    const second = await world.run({ pr: 301 });
    expect(second.phase, logs(second)).toBe("Succeeded");
    expect(world.cluster.events.filter((e) => e.verb === "create" && e.kind === "Namespace")).toHaveLength(1);
    expect(node(second, "deploy").stdout).toMatch(new RegExp(`namespace ${nsOf(301)} exists as a preview: reusing it`));
    expect(world.cluster.events.filter((e) => e.kind === "Release").map((e) => e.verb)).toEqual(["install", "upgrade"]);
    expect(world.cluster.namespaces.get(nsOf(301))?.metadata.labels?.workflow).toBe(second.name);
    expect(world.cluster.namespaces.get(nsOf(301))?.metadata.annotations?.["implementation-dag/workflow"]).toBe(second.name);
    expect(node(second, "approve").outputs.parameters.decision).toBe("already-approved");
    expect(world.github.reviews(OWNER, REPO, 301)).toEqual(reviewsAfterFirst);
    expect(world.cluster.events.filter((e) => e.verb === "delete" || e.verb === "uninstall")).toEqual([]);
    expect(world.cluster.unknown).toEqual([]);
  });

  it("two PRs one after the other: neither run touches the other's namespace or release", async () => {
    const first = await world.run({ pr: 401 });
    expect(first.phase, logs(first)).toBe("Succeeded");
    const ns401 = structuredClone(world.cluster.namespaces.get(nsOf(401)));
    const release401 = structuredClone(world.cluster.releases.get(`${nsOf(401)}/example-app-pr-401`));
    const callsBefore = world.standIns.calls.length;
    const eventsBefore = world.cluster.events.length;

    const second = await world.run({ pr: 402 });
    expect(second.phase, logs(second)).toBe("Succeeded");
    const used = namesUsed(callsBefore);
    expect(used.namespaces).toEqual(new Set([nsOf(402)]));
    expect(used.hosts).toEqual(new Set([hostOf(402)]));
    expect(world.cluster.events.slice(eventsBefore).every((e) => (e.namespace ?? e.name) === nsOf(402))).toBe(true);
    expect(world.cluster.namespaces.get(nsOf(401))).toEqual(ns401);
    expect(world.cluster.releases.get(`${nsOf(401)}/example-app-pr-401`)).toEqual(release401);
    expect(world.cluster.previewNamespaces()).toEqual([nsOf(401), nsOf(402)].sort());
    expect(world.cluster.releaseNames()).toEqual([`${nsOf(401)}/example-app-pr-401`, `${nsOf(402)}/example-app-pr-402`].sort());
    expect(world.github.reviews(OWNER, REPO, 401).map((x) => x.commitId)).toEqual([world.headOf(401)]);
    expect(world.github.reviews(OWNER, REPO, 402).map((x) => x.commitId)).toEqual([world.headOf(402)]);
    expect(world.headOf(401)).not.toBe(world.headOf(402));
    expect(world.cluster.namespaces.get(nsOf(402))?.metadata.annotations?.["implementation-dag/deployed-commit"]).toBe(world.headOf(402));
  });

  it("two repositories' PR 55 coexist, and a failed run of one leaves the other's preview and deployment untouched", async () => {
    const a = await world.run({ pr: 55 });
    expect(a.phase, logs(a)).toBe("Succeeded");
    const b = await world.run({ pr: 55, repo: OTHER_REPO });
    expect(b.phase, logs(b)).toBe("Succeeded");
    // Two previews of PR 55, each with its own namespace, host and mutex.
    const [nsA, nsB] = [nsOf(55), nsOf(55, OWNER, OTHER_REPO)];
    expect(nsA).not.toBe(nsB);
    expect(world.cluster.previewNamespaces()).toEqual(expect.arrayContaining([nsA, nsB]));
    expect(a.mutexes).not.toEqual(b.mutexes);
    expect(world.cluster.namespaces.get(nsB)?.metadata.annotations?.["implementation-dag/repository"]).toBe(`${OWNER}/${OTHER_REPO}`);
    const keptA = structuredClone(world.cluster.namespaces.get(nsA));
    const releaseA = structuredClone(world.cluster.releases.get(`${nsA}/example-app-pr-55`));
    const deploymentsA = structuredClone(world.github.deployments(OWNER, REPO).filter((d) => d.environment === "pr-55"));
    const eventsBefore = world.cluster.events.length;

    // The other repository's next run of its PR 55 fails at deploy: its cleanup removes its own preview only.
    world.cluster.faults.helmInstallFails = "context deadline exceeded";
    const failed = await world.run({ pr: 55, repo: OTHER_REPO });
    expect(failed.phase).toBe("Failed");
    expect(world.cluster.events.slice(eventsBefore).every((e) => (e.namespace ?? e.name) === nsB)).toBe(true);
    expect(world.cluster.namespaces.has(nsB)).toBe(false);
    expect(world.cluster.namespaces.get(nsA)).toEqual(keptA);
    expect(world.cluster.releases.get(`${nsA}/example-app-pr-55`)).toEqual(releaseA);
    expect(world.github.deployments(OWNER, REPO).filter((d) => d.environment === "pr-55")).toEqual(deploymentsA);
    expect(world.github.deployments(OWNER, OTHER_REPO).filter((d) => d.environment === "pr-55").map((d) => d.statuses.map((x) => x.state)))
      .toEqual([["in_progress", "success"], ["in_progress", "failure", "inactive"]]);
    expect(world.github.violations).toEqual([]);
  });
});
