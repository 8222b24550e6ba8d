/**
 * `stop-agents`, the exit handler's step that terminates the agent Workflows a run leaves running:
 * the rendered script run for real, `kubectl` a recording stand-in holding the workflows namespace's
 * Workflows.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns, type StandIns, type ToolCall, type ToolReply } from "../../simulator/stand-ins";

const UID = "0b7c2d9e-1f3a-4c5b-8d6e-7f8091a2b3c4";
const OTHER_UID = "99999999-1f3a-4c5b-8d6e-7f8091a2b3c4";
const SELECTOR = `implementation-dag/parent-uid=${UID}`;

interface Child { name: string; parentUid: string; phase?: string; shutdown?: string }

/** The workflows namespace as the stand-in kubectl serves it: list by parent uid, patch by name. */
class Workflows {
  readonly patched: string[] = [];
  constructor(readonly children: Child[], readonly failList = false) {}

  handle = (call: ToolCall): ToolReply => {
    const line = call.args.join(" ");
    if (call.args[0] === "get" && call.args[1] === "workflows") {
      if (this.failList) return { stderr: "Error from server (Forbidden): workflows.argoproj.io is forbidden\n", code: 1 };
      const m = /-l implementation-dag\/parent-uid=(\S+)/.exec(line);
      const items = this.children.filter((c) => c.parentUid === m?.[1]).map((c) => ({
        apiVersion: "argoproj.io/v1alpha1", kind: "Workflow",
        metadata: { name: c.name, namespace: "argo", labels: { "implementation-dag/parent-uid": c.parentUid } },
        spec: { workflowTemplateRef: { name: "coderun-template" }, ...(c.shutdown ? { shutdown: c.shutdown } : {}) },
        ...(c.phase !== undefined ? { status: { phase: c.phase } } : {}),
      }));
      return { stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items }) };
    }
    const patch = /^patch workflow (\S+) -n argo --type merge -p \{"spec":\{"shutdown":"Terminate"\}\}$/.exec(line);
    if (patch) {
      const child = this.children.find((c) => c.name === patch[1]);
      if (!child) return { stderr: `Error from server (NotFound): workflows.argoproj.io "${patch[1]}" not found\n`, code: 1 };
      child.shutdown = "Terminate";
      this.patched.push(child.name);
      return { stdout: `workflow.argoproj.io/${child.name} patched\n` };
    }
    return { stderr: `stand-in kubectl: unexpected call: ${line}\n`, code: 97 };
  };
}

let template: ITemplate;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "stop-agents");
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

async function stopAgents(workflows: Workflows, uid = UID) {
  standIns = await startStandIns(["kubectl"], workflows.handle);
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
    const workflows = new Workflows([
      { name: "agent-implement-aaaaa", parentUid: UID, phase: "Succeeded" },
      { name: "agent-clippy-format-bbbbb", parentUid: UID, phase: "Running" },
      { name: "agent-qa-testing-ccccc", parentUid: UID },
      { name: "agent-qa-testing-ddddd", parentUid: UID, phase: "Pending" },
      { name: "agent-implement-eeeee", parentUid: UID, phase: "Failed" },
      { name: "agent-implement-fffff", parentUid: OTHER_UID, phase: "Running" },
    ]);
    const { r, lines } = await stopAgents(workflows);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toEqual([
      `kubectl get workflows -n argo -l ${SELECTOR} -o json`,
      `kubectl patch workflow agent-clippy-format-bbbbb -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
      `kubectl patch workflow agent-qa-testing-ccccc -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
      `kubectl patch workflow agent-qa-testing-ddddd -n argo --type merge -p {"spec":{"shutdown":"Terminate"}}`,
    ]);
    expect(r.stdout).toContain("stop-agents: 3 agent Workflow(s) terminated");
    expect(workflows.children.find((c) => c.parentUid === OTHER_UID)!.shutdown).toBeUndefined();
  });

  it("is idempotent: a second run finds nothing left to stop", async () => {
    const workflows = new Workflows([{ name: "agent-implement-aaaaa", parentUid: UID, phase: "Running" }]);
    await stopAgents(workflows);
    await standIns?.close();
    const { r, lines } = await stopAgents(workflows);
    expect(r.code).toBe(0);
    expect(lines).toEqual([`kubectl get workflows -n argo -l ${SELECTOR} -o json`]);
    expect(r.stdout).toContain("no agent Workflow of this run is still running");
    expect(workflows.patched).toEqual(["agent-implement-aaaaa"]);
  });

  it("fails naming kubectl when the children cannot be listed, and changes nothing", async () => {
    const { r, lines } = await stopAgents(new Workflows([{ name: "agent-implement-aaaaa", parentUid: UID, phase: "Running" }], true));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: kubectl: cannot list this run's agent Workflows in argo");
    expect(lines).toHaveLength(1);
  });

  it("refuses a uid that is not a workflow uid before calling anything", async () => {
    const { r, lines } = await stopAgents(new Workflows([]), "x; kubectl delete workflows --all");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: PARENT_UID: must be a workflow uid (a lowercase UUID)\n");
    expect(lines).toEqual([]);
  });
});
