/**
 * The stand-in for the platform's agent template, `coderun-template`, written from what is known of
 * it (docs DESIGN.md, "The agent template"): a whole-workflow WorkflowTemplate with entrypoint
 * `coderun-main` that declares **no inputs** and reads `{{workflow.parameters.X}}` for twelve
 * parameters, `task-requirements` defaulting to empty and the others without a default. So, as with
 * the real one, a Workflow that runs it must give every one of them, and calling `coderun-main` by
 * `templateRef` from a workflow that lacks them fails Argo's validation.
 *
 * The agent itself is the recording stand-in command {@link CODERUN_AGENT} (see
 * `simulator/stand-ins.ts`): the test process decides its outcome (exit code, delay, what it
 * prints) and sees the parameters it was given in its environment ({@link agentParameters}).
 *
 * One thing is the stand-in's own: the step saves the agent's summary (its stdout) as the output
 * parameter `summary`, without a default, only when the agent printed one. An agent that exits 0
 * without a summary therefore leaves its node — and the child Workflow — in Error, as Argo's
 * executor does for a missing output (`SaveParameters`). That is how a test makes an agent's
 * Workflow error rather than fail.
 */
import { SCRATCH_DIR } from "../components/pod-security";
import { CODERUN_PARAMETERS } from "../components/workflow/agents";
import type { ToolCall } from "./stand-ins";

/** The template's name, as the stack config names it (`agent.templateName`). */
export const CODERUN_TEMPLATE = "coderun-template";
/** Its entrypoint. */
export const CODERUN_ENTRYPOINT = "coderun-main";
/** The recording stand-in command the template runs as the agent. */
export const CODERUN_AGENT = "coderun-agent";

/** The environment variable carrying each workflow parameter: `task-id` → `CODERUN_TASK_ID`. */
export const envName = (parameter: string): string => `CODERUN_${parameter.toUpperCase().replace(/-/g, "_")}`;

/** Where the agent's summary is kept in the pod (under the scratch mount). */
const OUT_DIR = `${SCRATCH_DIR}/coderun`;

/**
 * The step: runs the agent; keeps its summary if it printed one. `source` has no `{{…}}`: the
 * parameters reach it through env only.
 */
const SOURCE = `set -eu
mkdir -p "$CODERUN_OUT"
coderun-agent > "$CODERUN_OUT/agent.out"
if [ -s "$CODERUN_OUT/agent.out" ]; then cp "$CODERUN_OUT/agent.out" "$CODERUN_OUT/summary"; fi
`;

/** The WorkflowTemplate, in `namespace`. */
export function coderunTemplate(namespace: string): Record<string, unknown> {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "WorkflowTemplate",
    metadata: { name: CODERUN_TEMPLATE, namespace },
    spec: {
      entrypoint: CODERUN_ENTRYPOINT,
      arguments: {
        parameters: CODERUN_PARAMETERS.map((name) => (name === "task-requirements" ? { name, value: "" } : { name })),
      },
      templates: [
        {
          name: CODERUN_ENTRYPOINT,
          // The template's own volume: a templateRef caller's volumes would not include it.
          volumes: [{ name: "coderun-scratch", emptyDir: {} }],
          outputs: { parameters: [{ name: "summary", valueFrom: { path: `${OUT_DIR}/summary` } }] },
          script: {
            image: "ghcr.io/example/coderun-agent:stand-in",
            command: ["sh"],
            source: SOURCE,
            env: [
              { name: "CODERUN_OUT", value: OUT_DIR },
              { name: "CODERUN_WORKFLOW", value: "{{workflow.name}}" },
              ...CODERUN_PARAMETERS.map((name) => ({ name: envName(name), value: `{{workflow.parameters.${name}}}` })),
            ],
            volumeMounts: [{ name: "coderun-scratch", mountPath: SCRATCH_DIR }],
          },
        },
      ],
    },
  };
}

/** The twelve parameters one call of the agent stand-in was given, read back from its env. */
export function agentParameters(call: ToolCall): Record<string, string> {
  return Object.fromEntries(CODERUN_PARAMETERS.map((name) => [name, call.env[envName(name)] ?? ""]));
}

/** The Workflow a call of the agent stand-in ran in. */
export const agentWorkflow = (call: ToolCall): string => call.env.CODERUN_WORKFLOW ?? "";
