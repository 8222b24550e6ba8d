/**
 * Never merge, proven: nothing the stack renders (every resource's inputs, every object, every
 * embedded script, the stack outputs), with and without repository hardening, carries a merge
 * vector; nor does any step script or shell library on disk. The approve step's own runs against
 * the fake GitHub (test/approve/approve.test.ts) would also fail on any merge route.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { findDeploymentsWithoutAutoMergeOff, findDeploymentsWithoutAutoMergeOffIn, findMergeVectors, findMergeVectorsIn } from "../../components/no-merge";
import { STEPS_DIR } from "../../components/workflow/script-template";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";
import { previewRender } from "../helpers/render";

let renders: Array<[string, Render]>;
beforeAll(async () => {
  const github = parseConfig(readStackConfig("preview")).github;
  renders = [
    ["the preview stack", await previewRender()],
    ["the preview stack with hardening", await renderStack({ overrides: { github: { ...github, hardenRepositories: true } } })],
  ];
});

describe("no merge anywhere", () => {
  it("finds no merge vector in any resource, object, script or output of the render", () => {
    for (const [what, render] of renders) {
      expect(render.resources.length, what).toBeGreaterThan(0);
      expect(findMergeVectorsIn(render.resources), what).toEqual([]);
      expect(findMergeVectorsIn(render.outputs), what).toEqual([]);
    }
  });

  it("scans the embedded scripts line by line (the approve step with its GitHub library among them)", () => {
    const [, render] = renders[0];
    const sources = render.manifests.flatMap((m) =>
      ((m as { spec?: { templates?: Array<{ name?: string; script?: { source?: string } }> } }).spec?.templates ?? [])
        .flatMap((t) => (t.script?.source ? [[t.name ?? "", t.script.source] as const] : [])));
    expect(sources.find(([name]) => name === "approve")?.[1]).toContain("---- lib/github.sh ----");
    for (const [name, source] of sources) expect(findMergeVectors(source), name).toEqual([]);
  });

  it("finds no merge vector in any step script or library on disk", () => {
    const scripts = readdirSync(STEPS_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".sh"));
    expect(scripts).toEqual(expect.arrayContaining(["approve.sh", path.join("lib", "github.sh")]));
    for (const f of scripts) expect(findMergeVectors(readFileSync(path.join(STEPS_DIR, f), "utf8")), f).toEqual([]);
  });

  it("would notice a merge vector hidden in a rendered script", () => {
    const [, render] = renders[0];
    const tampered = structuredClone(render.manifests);
    const wt = tampered.find((m) => m.kind === "WorkflowTemplate") as unknown as { spec: { templates: Array<{ script?: { source: string } }> } };
    const script = wt.spec.templates.find((t) => t.script)!.script!;
    script.source += "\n# curl -X PUT \"$api/repos/o/r/pulls/1/merge\"\n";
    expect(findMergeVectorsIn(tampered)).not.toEqual([]);
  });

  it("every request that creates a deployment sends auto_merge: false (deploy's does, and the scan sees it)", () => {
    for (const [what, render] of renders) expect(findDeploymentsWithoutAutoMergeOffIn(render.resources), what).toEqual([]);
    const [, render] = renders[0];
    const deploy = render.manifests.flatMap((m) => (m as { spec?: { templates?: Array<{ name?: string; script?: { source?: string } }> } }).spec?.templates ?? [])
      .find((t) => t.name === "deploy")!.script!.source!;
    expect(deploy).toContain("---- lib/deployments.sh ----");
    // The scan finds the statement that creates the deployment, and it is clean...
    const creating = deploy.replace(/\\\n/g, " ").split("\n").filter((l) => /\bPOST\b.*\/deployments"/.test(l));
    expect(creating).toHaveLength(1);
    expect(creating[0]).toContain("auto_merge: false");
    // ...and the same script without auto_merge false is caught.
    expect(findDeploymentsWithoutAutoMergeOff(deploy.replace("auto_merge: false, ", ""))).toHaveLength(1);
  });

  it("catches deployment requests without auto_merge: false, REST over continued lines and GraphQL", () => {
    expect(findDeploymentsWithoutAutoMergeOff(`github_request POST "/repos/o/r/deployments" '{"ref":"abc"}'`)).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff(`curl -X POST "$api/repos/o/r/deployments" \\\n  -d '{"ref":"abc","auto_merge":true}'`)).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff(`curl -X POST "$api/repos/o/r/deployments" \\\n  -d '{"ref":"abc","auto_merge":false}'`)).toEqual([]);
    expect(findDeploymentsWithoutAutoMergeOff(`github_request POST "/repos/o/r/deployments/1/statuses" '{"state":"success"}'`)).toEqual([]);
    expect(findDeploymentsWithoutAutoMergeOff("mutation { createDeployment(input: {repositoryId: $r, refId: $ref}) { deployment { id } } }")).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff("mutation { createDeployment(input: {repositoryId: $r, refId: $ref, autoMerge: false}) { deployment { id } } }")).toEqual([]);
  });
});
