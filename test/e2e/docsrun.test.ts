/**
 * End to end with the `docsrun` deploy runner: deploy is a steps template that creates the seed's
 * DocsRun (a `resource` template judged by its own success and failure conditions), then discovers
 * the URLs in a step of its own. The world plays the DocsRun controller the seed assumes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { arrangeFailure, nsOf, OWNER, REPO, World } from "../../simulator/world";
import { logs, node } from "./nodes";

let world: World;
beforeAll(async () => {
  world = await World.start({ deployRunner: "docsrun" });
});
afterAll(() => world?.close());
beforeEach(() => world.fresh());


describe("the pipeline with the docsrun deploy runner", () => {
  it("succeeds through the DocsRun and discover-urls, with one approval pinned to the deployed commit", async () => {
    const r = await world.run({ pr: 501 });
    expect(r.phase, logs(r)).toBe("Succeeded");
    const deploy = node(r, "deploy");
    expect(deploy.type).toBe("Steps");
    expect(node(r, "deploy-docsrun").phase).toBe("Succeeded");
    expect(node(r, "discover-urls").phase).toBe("Succeeded");
    // The steps template's outputs come from discover-urls.
    expect(deploy.outputs.parameters.commit).toBe(world.headOf(501));
    expect(Object.keys(deploy.outputs.artifacts)).toEqual(["deploy-urls"]);

    // One DocsRun, created by the resource template with this run's names, carrying the deploy script.
    const docsRuns = r.resources.filter((x) => (x.object as { kind?: string }).kind === "DocsRun");
    expect(docsRuns.map((x) => x.action)).toEqual(["create"]);
    // Besides it, the only objects created are the three agents' Workflows.
    expect(r.resources.filter((x) => !docsRuns.includes(x)).map((x) => (x.object as { kind?: string }).kind)).toEqual(["Workflow", "Workflow", "Workflow"]);
    const cr = docsRuns[0].object as { kind: string; metadata: { labels: Record<string, string> }; spec: { script: string; env: Array<{ name: string; value?: string }> } };
    expect(cr.kind).toBe("DocsRun");
    expect(cr.metadata.labels).toMatchObject({ "implementation-dag/workflow": r.name, "implementation-dag/pr": "501" });
    expect(cr.spec.script).toMatch(/^#!\/usr\/bin\/env bash\n# deploy:/);
    expect(cr.spec.env.find((e) => e.name === "NS")?.value).toBe(nsOf(501));
    expect(world.docsRuns.map((d) => d.phase)).toEqual(["Succeeded"]);

    expect(world.github.reviews(OWNER, REPO, 501).map((x) => [x.state, x.commitId])).toEqual([["APPROVED", world.headOf(501)]]);
    expect(world.cluster.previewNamespaces()).toEqual([nsOf(501)]);
    expect(world.cluster.unknown).toEqual([]);
    expect(world.github.violations).toEqual([]);
  });

  it("a failed DocsRun fails deploy by its failure condition; nothing downstream runs and cleanup removes the preview", async () => {
    const r = await world.run({ pr: 502, ...arrangeFailure(world, "deploy") });
    expect(r.phase, logs(r)).toBe("Failed");
    expect(node(r, "deploy-docsrun").phase).toBe("Failed");
    // As resource.go's matchConditions prints it: the requirement with its values sorted.
    expect(node(r, "deploy-docsrun").message).toBe("failure condition 'status.phase in (Error,Failed)' evaluated true");
    expect(world.docsRuns.at(-1)?.stderr).toMatch(/ERROR: helm: release example-app-pr-502 did not become ready/);
    expect(r.nodes.some((n) => n.displayName === "discover-urls")).toBe(false);
    expect(node(r, "deploy").phase).toBe("Failed");
    expect(node(r, "acceptance").phase).toBe("Omitted");
    expect(node(r, "approve").phase).toBe("Omitted");
    expect(world.github.reviews(OWNER, REPO, 502)).toEqual([]);
    expect(node(r, `${r.name}.onExit`).phase).toBe("Succeeded");
    expect(world.cluster.events.filter((e) => e.verb === "uninstall" || e.verb === "delete").map((e) => e.verb)).toEqual(["uninstall", "delete"]);
    expect(world.cluster.previewNamespaces()).toEqual([]);
    expect(world.cluster.releaseNames()).toEqual([]);
    expect(world.cluster.unknown).toEqual([]);
  });
});
