/**
 * End to end: a failure at each stage of the rendered workflow stops everything downstream (but
 * preview-evidence, which records the preview after acceptance whatever its outcome), posts no
 * approval, fails the workflow, and cleanup removes the preview where it existed and touches nothing
 * where it did not.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PIPELINE } from "../../components/workflow";
import { AGENT_LABEL } from "../../components/workflow/agents";
import { arrangeFailure, nsOf, OWNER, REPO, World, type Stage } from "../../simulator/world";
import { exitStep, logs, node, onExit, tasks } from "./nodes";

let world: World;
beforeAll(async () => {
  world = await World.start();
});
afterAll(() => world?.close());
beforeEach(() => world.fresh());


/** A failure at one stage: whether the preview existed by then, and what the failing node says. */
interface FailureCase {
  stage: Stage;
  pr: number;
  /** Whether deploy had created the namespace and release before the failure. */
  previewExisted: boolean;
  /** The workflow's phase: Failed, or Error when the failing node errored. Defaults to Failed. */
  phase?: "Failed" | "Error";
  /** What the failing node says (its message, stdout and stderr): the failure is the one arranged. */
  why: RegExp;
  /** For an agent: how its child Workflow ended, and what its failed node says (message, logs). */
  agentChild?: { phase: "Failed" | "Error"; why: RegExp };
}

/** How an agent step fails when its child Workflow failed or errored (resource.go, matchConditions). */
const CHILD_FAILED = /^failure condition 'status\.phase in \(Error,Failed\)' evaluated true$/;

/** The file the hostile parameter would create if it ever ran as code. */
const PWNED = `/tmp/e2e-pwned-${process.pid}`;

/** One failure per stage; {@link arrangeFailure} says how each is made. */
const FAILURES: FailureCase[] = [
  { stage: "set-params", pr: 201, previewExisted: false, why: /ERROR: pr: must be a positive integer/ },
  { stage: "implement", pr: 202, previewExisted: false, why: CHILD_FAILED, agentChild: { phase: "Failed", why: /^Error \(exit code 1\)\nagent failed\n$/ } },
  { stage: "clippy-format", pr: 203, previewExisted: false, why: CHILD_FAILED, agentChild: { phase: "Failed", why: /^Error \(exit code 1\)\nclippy found errors\n$/ } },
  { stage: "qa-testing", pr: 204, previewExisted: false, why: CHILD_FAILED, agentChild: { phase: "Error", why: /^open \/mainctrfs\/tmp\/coderun\/summary: no such file or directory$/ } },
  { stage: "deploy", pr: 205, previewExisted: true, why: /INSTALLATION FAILED: context deadline exceeded[\s\S]*ERROR: helm: release example-app-pr-205 did not become ready/ },
  { stage: "acceptance", pr: 206, previewExisted: true, why: /acceptance: fail: success 100% of 10 requests, p95 [0-9.]+ ms/ },
  { stage: "approve", pr: 207, previewExisted: true, why: /^ERROR: github: POST \/repos\/example-org\/example-app\/pulls\/207\/reviews: HTTP 422: Unprocessable Entity$/m },
];

describe("a failure at each stage", () => {
  it.each(FAILURES)("$stage fails: nothing downstream runs, no approval, the workflow fails, cleanup removes only what existed", async (c) => {
    const ghWritesBefore = world.github.writes().length;
    const r = await world.run({ pr: c.pr, ...arrangeFailure(world, c.stage, PWNED) });
    expect(r.phase, logs(r)).toBe(c.phase ?? "Failed");
    expect(existsSync(PWNED)).toBe(false);
    const at = PIPELINE.indexOf(c.stage);
    if (at === 0) {
      // The preview template (the other six, under the preview's mutex) never started.
      expect(tasks(r).map((n) => [n.displayName, n.phase])).toEqual([["set-params", "Failed"]]);
      expect(node(r, "preview").phase).toBe("Omitted");
    } else {
      expect(tasks(r).map((n) => [n.displayName, n.phase])).toEqual(PIPELINE.map((t, i) => [
        t, i < at ? "Succeeded" : i === at ? expect.stringMatching(/^(Failed|Error)$/) : "Omitted",
      ]));
      expect(node(r, "preview").phase).toBe("Failed");
    }
    // preview-evidence runs after acceptance whatever acceptance's outcome (so after a failed
    // acceptance, and after an approve that then fails), never when deploy did not succeed; it
    // does not rescue the run: approve stays omitted after a failed acceptance, the workflow fails.
    const evidence = r.nodes.find((x) => x.displayName === "preview-evidence");
    const evidenceRan = at > PIPELINE.indexOf("deploy");
    expect(evidence?.phase, logs(r)).toBe(at === 0 ? undefined : evidenceRan ? "Succeeded" : "Omitted");
    if (evidenceRan) expect(evidence?.stdout).toMatch(new RegExp(`^preview-evidence: ${nsOf(c.pr)}: \\d+ containers in \\d+ pods, 0 restarts, [1-9]\\d* events; logs of`));
    // Omitted tasks never ran: no pod, no agent call.
    for (const n of tasks(r).slice(at + 1)) expect(n.outputs.exitCode).toBeUndefined();
    const failed = tasks(r)[at];
    expect([failed.message, failed.stdout, failed.stderr].filter(Boolean).join("\n")).toMatch(c.why);
    // One child Workflow per agent that ran, none for an omitted one.
    expect(r.childWorkflows.map((c) => c.object.metadata.labels?.[AGENT_LABEL])).toEqual(PIPELINE.slice(1, Math.min(at + 1, 4)));
    if (c.agentChild) {
      const child = r.childWorkflows.at(-1)!;
      expect(child.createdBy).toBe(failed.name);
      expect(child.result?.phase).toBe(c.agentChild.phase);
      const pod = child.result!.nodes.find((n) => n.type === "Pod")!;
      expect([pod.message, pod.stdout, pod.stderr].filter(Boolean).join("\n")).toMatch(c.agentChild.why);
    } else {
      expect(r.childWorkflows.every((x) => x.result?.phase === "Succeeded")).toBe(true);
    }

    // No approval, and no review of any kind.
    expect(world.github.reviews(OWNER, REPO, c.pr)).toEqual([]);
    expect(world.github.writes().slice(ghWritesBefore).filter((q) => q.path.includes("/reviews") && q.status < 300)).toEqual([]);

    // cleanup ran with the failure and removed exactly what existed.
    expect(onExit(r).phase, logs(r)).toBe("Succeeded");
    expect(exitStep(r, "cleanup").env?.WORKFLOW_STATUS).toBe(c.phase ?? "Failed");
    expect(world.cluster.previewNamespaces()).toEqual([]);
    expect(world.cluster.releaseNames()).toEqual([]);
    const removals = world.cluster.events.filter((e) => e.verb === "delete" || e.verb === "uninstall");
    if (c.previewExisted) {
      expect(removals.map((e) => [e.verb, e.kind, e.namespace ?? e.name])).toEqual([
        ["uninstall", "Release", nsOf(c.pr)],
        ["delete", "Namespace", nsOf(c.pr)],
      ]);
    } else {
      // Nothing existed: cleanup changed nothing (no change of any kind was made in the run).
      expect(world.cluster.events).toEqual([]);
    }
    // The preview on the PR: a deployment once deploy started, its statuses ending in failure, then
    // inactive once cleanup deleted the preview; none when the run failed before deploy.
    const deployments = world.github.deployments(OWNER, REPO).filter((d) => d.environment === `pr-${c.pr}`);
    expect(deployments.map((d) => d.statuses.map((s) => s.state))).toEqual(c.previewExisted ? [["in_progress", "failure", "inactive"]] : []);
    expect(world.cluster.unknown).toEqual([]);
    expect(world.github.violations).toEqual([]);
  });

  it("a hostile pr is refused by set-params and never reaches the cluster; the exit handler sees no names", async () => {
    const before = world.standIns.calls.length;
    const r = await world.run({ pr: 208, parameters: { pr: "1; kubectl delete ns kube-system" } });
    expect(r.phase).toBe("Failed");
    expect(node(r, "set-params").stderr).toMatch(/^ERROR: pr: /m);
    // Argo leaves the never-set global outputs as literal text; cleanup recognises that.
    expect(exitStep(r, "cleanup").unresolved).toEqual(["workflow.outputs.parameters.ns", "workflow.outputs.parameters.release", "workflow.outputs.parameters.repository"]);
    expect(onExit(r).phase).toBe("Succeeded");
    // The one call: stop-agents' read-only look for this run's agents (there are none).
    expect(world.lines(before)).toEqual([`kubectl get workflows -n argo -l implementation-dag/parent-uid=${r.uid} -o json`]);
  });
});

