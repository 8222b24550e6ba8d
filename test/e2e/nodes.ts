/** Reading a finished offline run: its nodes by name, the DAG's tasks, the exit handler, the logs. */
import { PIPELINE } from "../../components/workflow";
import type { NodeResult, WorkflowResult } from "../../simulator/runner";

/** The node whose display name is `name` (a DAG task, a child step, `<workflow>.onExit`). */
export function node(r: WorkflowResult, name: string): NodeResult {
  const n = r.nodes.find((x) => x.displayName === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

/** The exit handler's node. */
export const onExit = (r: WorkflowResult): NodeResult => node(r, `${r.name}.onExit`);

/** The exit handler's two steps: stop-agents and cleanup, side by side. */
export function exitStep(r: WorkflowResult, step: "stop-agents" | "cleanup"): NodeResult {
  const n = r.nodes.find((x) => x.name === `${r.name}.onExit[0].${step}`);
  if (!n) throw new Error(`no exit handler step ${step}`);
  return n;
}

/** The DAG's tasks in the order their nodes were created (a node is created when its task starts). */
export const tasks = (r: WorkflowResult): NodeResult[] => r.nodes.filter((n) => (PIPELINE as readonly string[]).includes(n.displayName));

/** Every node's output, for an assertion's message. */
export const logs = (r: WorkflowResult): string =>
  r.nodes.map((n) => `--- ${n.displayName} (${n.phase})\n${n.stdout ?? ""}${n.stderr ?? ""}`).join("\n");
