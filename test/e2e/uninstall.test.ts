/**
 * End to end, offline: after successful runs of two PRs of one repository and one of another (each
 * leaving a fresh preview, a Helm release and a GitHub deployment marked `success`), the rendered
 * `implementation-dag-uninstall` runs in the same world and leaves no preview namespace, no release,
 * and every deployment `inactive`; a namespace that is not a preview stays.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nsOf, OTHER_REPO, OWNER, REPO, World } from "../../simulator/world";
import { logs } from "./nodes";

let world: World;
beforeAll(async () => {
  world = await World.start();
});
afterAll(() => world?.close());


describe("the uninstall, end to end", () => {
  it("after runs of two PRs of two repositories, leaves no preview, no release, and every deployment inactive", async () => {
    for (const run of [{ pr: 61 }, { pr: 62 }, { pr: 61, repo: OTHER_REPO }]) {
      const r = await world.run(run);
      expect(r.phase, logs(r)).toBe("Succeeded");
    }
    const previews = [nsOf(61), nsOf(62), nsOf(61, OWNER, OTHER_REPO)].sort();
    expect(world.cluster.previewNamespaces()).toEqual(previews);
    expect(world.cluster.releaseNames()).toHaveLength(3);
    // A namespace of someone else's, with no preview labels: the uninstall must leave it.
    world.cluster.addNamespace({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-payments", creationTimestamp: "2026-01-01T00:00:00Z", labels: { "kubernetes.io/metadata.name": "team-payments" } }, status: { phase: "Active" } });

    const u = await world.uninstall();
    expect(u.phase, logs(u)).toBe("Succeeded");
    expect(world.cluster.previewNamespaces()).toEqual([]);
    expect(world.cluster.releaseNames()).toEqual([]);
    expect(world.cluster.namespaces.has("team-payments")).toBe(true);
    const deployments = [...world.github.deployments(OWNER, REPO), ...world.github.deployments(OWNER, OTHER_REPO)];
    expect(deployments).toHaveLength(3);
    for (const d of deployments) expect(d.statuses.map((s) => s.state), d.environment).toEqual(["in_progress", "success", "inactive"]);
    expect(world.github.violations).toEqual([]);
    expect(world.cluster.unknown).toEqual([]);
  }, 600_000);
});
