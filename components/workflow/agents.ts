/**
 * The three agent steps. The platform's agent template (`coderun-template`) is a whole-workflow
 * template: it declares no inputs and reads `{{workflow.parameters.X}}`. Called by `templateRef`
 * from this workflow, Argo would validate those references against *our* parameters and fail the
 * submission, and one workflow-wide `github-app` could not differ per agent. So each agent is a
 * **child Workflow** of that template: a `resource` step creates it with `workflowTemplateRef`,
 * every parameter the template reads given as an argument, an owner reference to this workflow,
 * and waits for its phase. The step runs as the agents' own service account (the only one that may
 * create Workflows); the child runs as the template's own or the configured one, never as ours.
 */
import type { IDAGTask } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/DAGTask";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, inputParameters, scriptTemplate } from "../argo/script-template";
import { outputName, PARAMETERS } from "../parameters";
import { statusCondition } from "./deploy";

/**
 * The agent template's parameters that are no entry of the parameter table, each with its place (from
 * 1) among the parameters the template reads: set-params derives `repository-url`; `github-app` is
 * the stack config's, per agent (`agent.githubApps`).
 */
export const AGENT_OWN_PARAMETERS = [
  { name: "repository-url", agentOrder: 3 },
  { name: "github-app", agentOrder: 7 },
] as const;

/**
 * The workflow parameters the platform's agent template reads, in its order. Each child Workflow is
 * given every one: the parameter table's agent entries under their output names (set-params'
 * outputs, validated there), each at its `agentOrder`, and {@link AGENT_OWN_PARAMETERS} at theirs.
 */
export const CODERUN_PARAMETERS: readonly string[] = inAgentOrder([
  ...PARAMETERS.filter((p) => p.step === "agents" || p.agentOrder !== undefined).map((p) => {
    const name = outputName(p);
    if (p.step !== "agents" || p.agentOrder === undefined || name === undefined) {
      throw new Error(`components/parameters.ts: ${p.name}: an agent parameter has step "agents", an agentOrder and an output`);
    }
    return { name, agentOrder: p.agentOrder };
  }),
  ...AGENT_OWN_PARAMETERS,
]);

/** The names of `placed` by their `agentOrder`, which must number them 1, 2, 3, … without a gap or a repeat. */
export function inAgentOrder(placed: ReadonlyArray<{ name: string; agentOrder: number }>): string[] {
  const sorted = [...placed].sort((a, b) => a.agentOrder - b.agentOrder);
  sorted.forEach((p, i) => {
    if (p.agentOrder !== i + 1) throw new Error(`the agent template's parameters: ${p.name} has agentOrder ${p.agentOrder}, expected ${i + 1} (a gap or a repeat)`);
  });
  return sorted.map((p) => p.name);
}

/** The agent template's parameters that set-params validates and derives (all but `github-app`). */
export const AGENT_INPUTS = CODERUN_PARAMETERS.filter((p) => p !== "github-app");

/** The agent steps in pipeline order: the DAG task (and template) name, its app and deadline keys. */
export const AGENT_TASKS = [
  { task: "implement", app: "rex", deadline: "implementSeconds" },
  { task: "clippy-format", app: "clippy", deadline: "clippyFormatSeconds" },
  { task: "qa-testing", app: "qa", deadline: "qaTestingSeconds" },
] as const;

/** One agent step. */
export type AgentTask = (typeof AGENT_TASKS)[number];

/** Seconds between a child Workflow's own deadline and its step's: room to see it end. */
export const AGENT_GRACE_SECONDS = 60;

/** Label on every child Workflow naming the agent step that created it. */
export const AGENT_LABEL = "implementation-dag/agent";
/** Annotation on every child Workflow naming the workflow that created it. */
export const PARENT_ANNOTATION = "implementation-dag/parent-workflow";
/** Label on every child Workflow holding the uid of the workflow that created it (a name may be too long for a label). */
export const PARENT_UID_LABEL = "implementation-dag/parent-uid";

/** The child Workflow one agent step creates, with `{{inputs.parameters.*}}` where values go. */
export function agentWorkflowManifest(cfg: StackConfig, agent: AgentTask): Record<string, unknown> {
  const githubApp = cfg.agent.githubApps[agent.app];
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: {
      generateName: `agent-${agent.task}-`,
      labels: {
        "app.kubernetes.io/part-of": "implementation-dag",
        "app.kubernetes.io/component": "agent",
        [AGENT_LABEL]: agent.task,
        [PARENT_UID_LABEL]: "{{workflow.uid}}",
      },
      annotations: { [PARENT_ANNOTATION]: "{{workflow.name}}" },
    },
    spec: {
      workflowTemplateRef: {
        name: cfg.agent.templateName,
        ...(cfg.agent.clusterScope ? { clusterScope: true } : {}),
      },
      ...(cfg.agent.serviceAccountName ? { serviceAccountName: cfg.agent.serviceAccountName } : {}),
      // The child stops itself before its step gives up on it: no agent outlives its budget.
      activeDeadlineSeconds: cfg.deadlines[agent.deadline] - AGENT_GRACE_SECONDS,
      arguments: {
        parameters: CODERUN_PARAMETERS.map((name) => ({
          name,
          value: name === "github-app" ? githubApp : input(name),
        })),
      },
    },
  };
}

/**
 * The resource template of one agent step: creates the child Workflow and waits until it
 * succeeded (or fails when it failed or errored). Argo substitutes `{{inputs.parameters.*}}` into
 * the manifest as text; set-params admitted only values without quotes, backslashes or newlines.
 */
export function agentTemplate(cfg: StackConfig, agent: AgentTask): ITemplate {
  return {
    name: agent.task,
    serviceAccountName: cfg.serviceAccounts.agents,
    inputs: { parameters: inputParameters(...AGENT_INPUTS) },
    outputs: {
      parameters: [{ name: "workflow", valueFrom: { jsonPath: "{.metadata.name}" } }],
    },
    activeDeadlineSeconds: cfg.deadlines[agent.deadline],
    resource: {
      action: "create",
      setOwnerReference: true,
      successCondition: statusCondition("status.phase", ["Succeeded"]),
      failureCondition: statusCondition("status.phase", ["Failed", "Error"]),
      manifest: JSON.stringify(agentWorkflowManifest(cfg, agent), null, 2),
    },
  };
}

/** The resource templates of the three agent steps. */
export function agentTemplates(cfg: StackConfig): ITemplate[] {
  return AGENT_TASKS.map((agent) => agentTemplate(cfg, agent));
}

/** The DAG task of one agent step: its inputs are the preview template's (set-params' outputs). */
export function agentTask(agent: AgentTask, depends: string | undefined): IDAGTask {
  return {
    name: agent.task,
    template: agent.task,
    ...(depends ? { depends } : {}),
    arguments: { parameters: AGENT_INPUTS.map((name) => ({ name, value: input(name) })) },
  };
}

/** Name of the exit handler's step that terminates the agents a run leaves running. */
export const STOP_AGENTS_TEMPLATE = "stop-agents";

/**
 * `stop-agents` (components/steps/stop-agents.sh), run by the exit handler: terminates this run's
 * child Workflows that have not finished, as the agents' service account. Without it an agent whose
 * step gave up (its deadline, or the workflow's) would go on working, and pushing, after the run.
 */
export function stopAgentsTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: STOP_AGENTS_TEMPLATE,
    image: cfg.images.cleanup,
    deadlineSeconds: cfg.deadlines.cleanupSeconds,
    env: { PARENT_UID: "{{workflow.uid}}", WORKFLOWS_NAMESPACE: cfg.namespace },
    extra: { serviceAccountName: cfg.serviceAccounts.agents },
  });
}
