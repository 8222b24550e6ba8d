/**
 * The `implementation-dag` WorkflowTemplate: the pure builder that turns typed config into the
 * object, and the thin component that registers it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { IDAGTask } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/DAGTask";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { scratchVolume } from "../pod-security";
import { acceptanceTemplate } from "./acceptance";
import { AGENT_TASKS, agentTask, agentTemplates, STOP_AGENTS_TEMPLATE, stopAgentsTemplate } from "./agents";
import { approveTemplate } from "./approve";
import { withArchivedArtifacts } from "./archive";
import { cleanupTemplate } from "./cleanup";
import { DEPLOY_INPUTS, deployTemplates, deployVolumes } from "./deploy";
import { workflowParameters } from "./parameters";
import { taskOutput, workflowParam } from "./script-template";
import { SET_PARAMS_INPUTS, setParamsTemplate } from "./set-params";
import { artifactRepositoryRef, COMMON_LABELS, workflowSpecDefaults } from "./spec-defaults";

/** Name of the WorkflowTemplate. */
export const WORKFLOW_TEMPLATE_NAME = "implementation-dag";

/** The tasks of the DAG, in the order they run: each depends on the one before. */
export const PIPELINE = ["set-params", "implement", "clippy-format", "qa-testing", "deploy", "acceptance", "approve"] as const;

/** Labels on everything the project renders. */
export { COMMON_LABELS } from "./spec-defaults";

const succeeded = (task: string) => `${task}.Succeeded`;

/** The DAG's tasks: a chain, each task running only when the one before succeeded. */
export function dagTasks(cfg: StackConfig): IDAGTask[] {
  const fromSetParams = (name: string) => ({ name, value: taskOutput("set-params", name) });
  const fromWorkflow = (name: string) => ({ name, value: workflowParam(name) });
  return [
    {
      name: "set-params",
      template: "set-params",
      arguments: { parameters: SET_PARAMS_INPUTS.map(fromWorkflow) },
    },
    ...AGENT_TASKS.map((agent, i) => agentTask(agent, succeeded(PIPELINE[i]))),
    {
      name: "deploy",
      template: "deploy",
      depends: succeeded("qa-testing"),
      arguments: {
        parameters: DEPLOY_INPUTS.map(fromSetParams),
      },
    },
    {
      name: "acceptance",
      template: "acceptance",
      depends: succeeded("deploy"),
      arguments: {
        parameters: ["min_success_pct", "max_p95_ms", "requests_per_endpoint"].map(fromSetParams),
        artifacts: [{ name: "deploy-urls", from: "{{tasks.deploy.outputs.artifacts.deploy-urls}}" }],
      },
    },
    {
      name: "approve",
      template: "approve",
      depends: succeeded("acceptance"),
      arguments: {
        parameters: [
          fromSetParams("owner"),
          fromSetParams("repo"),
          fromSetParams("pr"),
          // The commit deploy checked out and acceptance tested, resolved to a full SHA.
          { name: "commit", value: "{{tasks.deploy.outputs.parameters.commit}}" },
          fromSetParams("host"),
        ],
        artifacts: [{ name: "acceptance-report", from: "{{tasks.acceptance.outputs.artifacts.acceptance-report}}" }],
      },
    },
  ];
}

/** Name of the exit handler. */
export const EXIT_HANDLER = "exit-handler";

/**
 * The exit handler, on every outcome: stops the agents a run leaves running and cleans the preview
 * up, side by side (one failing does not keep the other from running; either fails the handler).
 */
export function exitHandlerTemplate(): ITemplate {
  const group = [
    { name: STOP_AGENTS_TEMPLATE, template: STOP_AGENTS_TEMPLATE },
    { name: "cleanup", template: "cleanup" },
  ];
  // Argo's JSON has each group of parallel steps as a plain list.
  return { name: EXIT_HANDLER, steps: [group] as unknown as ITemplate["steps"] };
}

/** Builds the `implementation-dag` WorkflowTemplate from typed config. */
export function buildWorkflowTemplate(cfg: StackConfig): IWorkflowTemplate {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "WorkflowTemplate",
    metadata: { name: WORKFLOW_TEMPLATE_NAME, namespace: cfg.namespace, labels: { ...COMMON_LABELS } },
    spec: {
      entrypoint: "dag",
      onExit: EXIT_HANDLER,
      serviceAccountName: cfg.serviceAccounts.steps,
      activeDeadlineSeconds: cfg.deadlines.workflowSeconds,
      arguments: { parameters: workflowParameters(cfg) },
      // The preview namespace is per PR number, so one run per PR number at a time.
      synchronization: { mutexes: [{ name: `implementation-dag-pr-${workflowParam("pr")}` }] },
      ...workflowSpecDefaults(cfg),
      artifactRepositoryRef: artifactRepositoryRef(cfg),
      volumes: [scratchVolume, ...deployVolumes(cfg)],
      templates: [
        { name: "dag", dag: { tasks: dagTasks(cfg) } },
        ...agentTemplates(cfg),
        exitHandlerTemplate(),
        stopAgentsTemplate(cfg),
        // Every step's output artifacts are archived under one key prefix per PR and workflow.
        ...withArchivedArtifacts(cfg, [
          setParamsTemplate(cfg),
          ...deployTemplates(cfg),
          acceptanceTemplate(cfg),
          approveTemplate(cfg),
          cleanupTemplate(cfg),
        ]),
      ],
    },
  };
}

/** Arguments of {@link ImplementationDag}. */
export interface ImplementationDagArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the `implementation-dag` WorkflowTemplate. */
export class ImplementationDag extends pulumi.ComponentResource {
  /** The WorkflowTemplate's name. */
  public readonly templateName: pulumi.Output<string>;
  /** The namespace it lives (and its workflows run) in. */
  public readonly namespace: pulumi.Output<string>;

  constructor(name: string, args: ImplementationDagArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:ImplementationDag", name, {}, opts);
    const wt = buildWorkflowTemplate(args.config);
    const resource = new k8s.apiextensions.CustomResource(name, wt as unknown as k8s.apiextensions.CustomResourceArgs, { parent: this });
    this.templateName = resource.metadata.name;
    this.namespace = resource.metadata.namespace;
    this.registerOutputs({ templateName: this.templateName, namespace: this.namespace });
  }
}
