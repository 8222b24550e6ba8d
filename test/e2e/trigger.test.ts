/**
 * End to end: a pull request starts its own run. A `pull_request` webhook goes through the rendered
 * trigger Sensor (the model of Argo Events in test/helpers/argo-events.ts); the Workflow it submits
 * runs offline in the stand-in world, from the WorkflowTemplate it references with the arguments it
 * carries, to the approval.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStackConfig, renderStack } from "../../scripts/offline-render";
import { SensorModel, type SensorSpec } from "../helpers/argo-events";
import { pullRequestEvent } from "../helpers/github-webhooks";
import { OWNER, REPO, World } from "../../simulator/world";
import { logs } from "./nodes";

let world: World;
let sensor: SensorSpec;
beforeAll(async () => {
  world = await World.start();
  const github = JSON.parse(readStackConfig("preview")["implementation-dag:github"]) as Record<string, unknown>;
  const render = await renderStack({
    overrides: { github, trigger: { enabled: true, agentAppSlugs: { rex: "acme-rex", clippy: "acme-clippy", qa: "acme-qa" } } },
  });
  sensor = render.manifests.find((m) => m.kind === "Sensor") as unknown as SensorSpec;
});
afterAll(() => world?.close());

describe("a pull request starts its run", () => {
  it("the Workflow the Sensor submits for an opened PR runs the pipeline to its approval", async () => {
    const [fired] = new SensorModel(sensor).receive(pullRequestEvent({ name: "github", eventName: "pull-requests" }, "opened", { repository: `${OWNER}/${REPO}`, number: 31 }));
    const wf = fired.resource as { spec: { workflowTemplateRef: { name: string }; arguments: { parameters: Array<{ name: string; value: string }> } } };
    expect(wf.spec.workflowTemplateRef.name).toBe((world.workflowTemplate as { metadata: { name: string } }).metadata.name);
    const args = Object.fromEntries(wf.spec.arguments.parameters.map((p) => [p.name, p.value]));
    expect(Object.keys(args)).toEqual(["owner", "repo", "pr"]);
    const r = await world.run({ owner: args.owner, repo: args.repo, pr: Number(args.pr), parameters: args });
    expect(r.phase, logs(r)).toBe("Succeeded");
    expect(world.github.reviews(OWNER, REPO, 31).map((x) => x.state)).toEqual(["APPROVED"]);
  });
});
