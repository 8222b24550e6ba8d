/**
 * `stop-agents`, the exit handler's step that terminates the agent Workflows a run leaves running:
 * the rendered script run for real, `kubectl` a recording stand-in answered by the fake cluster,
 * which holds the workflows namespace's Workflows.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { FakeCluster } from "../../simulator/cluster";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";

const UID = "0b7c2d9e-1f3a-4c5b-8d6e-7f8091a2b3c4";
const OTHER_UID = "99999999-1f3a-4c5b-8d6e-7f8091a2b3c4";
const SELECTOR = `implementation-dag/parent-uid=${UID}`;

interface Child { name: string; parentUid: string; phase?: string }

/** The fake cluster holding the workflows namespace's agent Workflows, children of one run or another. */
function clusterWith(children: Child[]): FakeCluster {
  const cluster = new FakeCluster();
  cluster.adopt(...children.map((c) => ({
    apiVersion: "argoproj.io/v1alpha1", kind: "Workflow",
    metadata: { name: c.name, namespace: "argo", labels: { "implementation-dag/parent-uid": c.parentUid } },
    spec: { workflowTemplateRef: { name: "coderun-template" } },
    ...(c.phase !== undefined ? { status: { phase: c.phase } } : {}),
  })));
  return cluster;
}

/** The Workflows the cluster saw patched, in order. */
const patched = (cluster: FakeCluster) => cluster.events.filter((e) => e.kind === "Workflow" && e.verb === "update").map((e) => e.name);

let template: ITemplate;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "stop-agents");
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

async function stopAgents(cluster: FakeCluster, uid = UID) {
  standIns = await startStandIns(["kubectl"], cluster.handle);
  const r = await runScriptTemplate(template, { workflow: { uid }, pathPrepend: [standIns.dir], standInEnv: standIns.env });
  return { r, lines: standIns.lines() };
}

describe("stop-agents", () => {
  it("runs as the agents' service account and reads the workflow's uid and namespace through env only", () => {
    expect(template.serviceAccountName).toBe("implementation-dag-agents");
    const env = Object.fromEntries((template.script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ PARENT_UID: "{{workflow.uid}}", WORKFLOWS_NAMESPACE: "argo" });
  });

  it("terminates exactly this run's children that have not finished, and leaves the rest alone", async () => {
    const cluster = clusterWith([
      { name: "agent-implement-aaaaa", parentUid: UID, phase: "Succeeded" },
      { name: "agent-clippy-format-bbbbb", parentUid: UID, phase: "Running" },
      { name: "agent-qa-testing-ccccc", parentUid: UID },
      { name: "agent-qa-testing-ddddd", parentUid: UID, phase: "Pending" },
      { name: "agent-implement-eeeee", parentUid: UID, phase: "Failed" },
      { name: "agent-implement-fffff", parentUid: OTHER_UID, phase: "Running" },
    ]);
    const { r, lines } = await stopAgents(cluster);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toEqual([
      `kubectl get workflows -n argo -l ${SELECTOR} -o json`,
      `kubectl patch workflow agent-clippy-format-bbbbb -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
      `kubectl patch workflow agent-qa-testing-ccccc -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
      `kubectl patch workflow agent-qa-testing-ddddd -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
    ]);
    expect(r.stdout).toContain("stop-agents: 3 agent Workflow(s) terminated");
    expect(patched(cluster)).toEqual(["agent-clippy-format-bbbbb", "agent-qa-testing-ccccc", "agent-qa-testing-ddddd"]);
    const other = cluster.workflows("argo").find((w) => w.metadata.name === "agent-implement-fffff")!;
    expect((other.spec as { shutdown?: string }).shutdown).toBeUndefined();
  });

  it("is idempotent: a second run finds nothing left to stop", async () => {
    const cluster = clusterWith([{ name: "agent-implement-aaaaa", parentUid: UID, phase: "Running" }]);
    await stopAgents(cluster);
    await standIns?.close();
    const { r, lines } = await stopAgents(cluster);
    expect(r.code).toBe(0);
    expect(lines).toEqual([`kubectl get workflows -n argo -l ${SELECTOR} -o json`]);
    expect(r.stdout).toContain("no agent Workflow of this run is still running");
    expect(patched(cluster)).toEqual(["agent-implement-aaaaa"]);
  });

  it("fails naming kubectl when the children cannot be listed, and changes nothing", async () => {
    const cluster = clusterWith([{ name: "agent-implement-aaaaa", parentUid: UID, phase: "Running" }]);
    cluster.faults.forbidden = { user: "system:serviceaccount:argo:implementation-dag-steps", denies: (read) => read.verb === "list" && read.resource === "workflows.argoproj.io" };
    const { r, lines } = await stopAgents(cluster);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: kubectl: cannot list this run's agent Workflows in argo");
    expect(lines).toHaveLength(1);
  });

  it("refuses a uid that is not a workflow uid before calling anything", async () => {
    const { r, lines } = await stopAgents(clusterWith([]), "x; kubectl delete workflows --all");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: PARENT_UID: must be a workflow uid (a lowercase UUID)\n");
    expect(lines).toEqual([]);
  });
});
