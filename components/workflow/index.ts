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
import { ACCEPTANCE_INPUTS, ACCEPTANCE_TEMPLATE_INPUTS, acceptanceTemplate } from "./acceptance";
import { AGENT_INPUTS, AGENT_TASKS, agentTask, agentTemplates, STOP_AGENTS_TEMPLATE, stopAgentsTemplate } from "./agents";
import { approveTemplate } from "./approve";
import { withArchivedArtifacts } from "../argo/archive";
import { cleanupTemplate } from "./cleanup";
import { DEPLOY_INPUTS, deployTemplates, deployVolumes } from "./deploy";
import { workflowParameters } from "../parameters";
import { PREVIEW_EVIDENCE_ARTIFACT, PREVIEW_EVIDENCE_INPUTS, PREVIEW_EVIDENCE_TEMPLATE, previewEvidenceTemplate } from "./preview-evidence";
import { input, inputParameters, taskOutput, workflowParam } from "../argo/script-template";
import { SET_PARAMS_INPUTS, setParamsTemplate } from "./set-params";
import { artifactRepositoryRef, COMMON_LABELS, workflowSpecDefaults } from "../argo/spec-defaults";

/** Name of the WorkflowTemplate. */
export const WORKFLOW_TEMPLATE_NAME = "implementation-dag";

/** The pipeline's tasks in the order they run, each after the one before (the rest inside `preview`). */
export const PIPELINE = ["set-params", "implement", "clippy-format", "qa-testing", "deploy", "acceptance", "approve"] as const;

/**
 * `preview-evidence` runs beside the chain: after acceptance whatever acceptance's outcome (not after
 * a failed deploy, which keeps its own failure evidence), and approve waits for it. approve stays a
 * child of acceptance, so a failed acceptance still fails the DAG: Argo's assessDAGPhase gives an
 * omitted target (approve) its parents' branch phase, Failed or Error first.
 */
export const PREVIEW_EVIDENCE_DEPENDS = "deploy.Succeeded && (acceptance.Succeeded || acceptance.Failed || acceptance.Errored)";
/** approve's condition: acceptance passed and the evidence of what ran is there. */
export const APPROVE_DEPENDS = `acceptance.Succeeded && ${PREVIEW_EVIDENCE_TEMPLATE}.Succeeded`;

/** Labels on everything the project renders. */
export { COMMON_LABELS } from "../argo/spec-defaults";

const succeeded = (task: string) => `${task}.Succeeded`;

/** The template that runs everything after set-params, under the preview's mutex. */
export const PREVIEW_TEMPLATE = "preview";

/**
 * What the preview template takes from set-params: everything its tasks need, validated or derived
 * there, and the mutex it holds.
 */
export const PREVIEW_INPUTS = [
  ...new Set([...AGENT_INPUTS, ...DEPLOY_INPUTS, ...ACCEPTANCE_INPUTS, "owner", "repo", "pr", "host", "mutex"]),
] as const;

/**
 * The entrypoint's tasks: set-params, then the preview template. The preview's mutex is derived by
 * set-params from the validated owner, repository and PR, so it can only be taken after set-params:
 * a workflow-level mutex would be built from the raw parameters, before anything checked them.
 */
export function dagTasks(_cfg: StackConfig): IDAGTask[] {
  return [
    {
      name: "set-params",
      template: "set-params",
      arguments: { parameters: SET_PARAMS_INPUTS.map((name) => ({ name, value: workflowParam(name) })) },
    },
    {
      name: PREVIEW_TEMPLATE,
      template: PREVIEW_TEMPLATE,
      depends: succeeded("set-params"),
      arguments: { parameters: PREVIEW_INPUTS.map((name) => ({ name, value: taskOutput("set-params", name) })) },
    },
  ];
}

/**
 * The preview template's tasks: a chain, each task running only when the one before succeeded, and
 * preview-evidence after acceptance whether it passed or failed (see {@link PREVIEW_EVIDENCE_DEPENDS}).
 */
export function previewTasks(_cfg: StackConfig): IDAGTask[] {
  const fromInputs = (name: string) => ({ name, value: input(name) });
  return [
    ...AGENT_TASKS.map((agent, i) => agentTask(agent, i === 0 ? undefined : succeeded(AGENT_TASKS[i - 1].task))),
    {
      name: "deploy",
      template: "deploy",
      depends: succeeded("qa-testing"),
      arguments: { parameters: DEPLOY_INPUTS.map(fromInputs) },
    },
    {
      name: "acceptance",
      template: "acceptance",
      depends: succeeded("deploy"),
      arguments: {
        // The preview's host, which bounds what it may request, and every setting as set-params
        // resolved it for the run's repository.
        parameters: ACCEPTANCE_TEMPLATE_INPUTS.map(fromInputs),
        artifacts: [{ name: "deploy-urls", from: "{{tasks.deploy.outputs.artifacts.deploy-urls}}" }],
      },
    },
    {
      name: PREVIEW_EVIDENCE_TEMPLATE,
      template: PREVIEW_EVIDENCE_TEMPLATE,
      depends: PREVIEW_EVIDENCE_DEPENDS,
      arguments: { parameters: PREVIEW_EVIDENCE_INPUTS.map(fromInputs) },
    },
    {
      name: "approve",
      template: "approve",
      depends: APPROVE_DEPENDS,
      arguments: {
        parameters: [
          fromInputs("owner"),
          fromInputs("repo"),
          fromInputs("pr"),
          // The commit deploy checked out and acceptance tested, resolved to a full SHA.
          { name: "commit", value: "{{tasks.deploy.outputs.parameters.commit}}" },
          fromInputs("host"),
        ],
        artifacts: [
          { name: "acceptance-report", from: "{{tasks.acceptance.outputs.artifacts.acceptance-report}}" },
          { name: PREVIEW_EVIDENCE_ARTIFACT, from: `{{tasks.${PREVIEW_EVIDENCE_TEMPLATE}.outputs.artifacts.${PREVIEW_EVIDENCE_ARTIFACT}}}` },
        ],
      },
    },
  ];
}

/** The preview template: the pipeline after set-params, one run of a preview at a time. */
export function previewTemplate(cfg: StackConfig): ITemplate {
  return {
    name: PREVIEW_TEMPLATE,
    inputs: { parameters: inputParameters(...PREVIEW_INPUTS) },
    synchronization: { mutexes: [{ name: input("mutex") }] },
    dag: { tasks: previewTasks(cfg) },
  };
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
      ...workflowSpecDefaults(cfg),
      artifactRepositoryRef: artifactRepositoryRef(cfg),
      volumes: [scratchVolume, ...deployVolumes(cfg)],
      templates: [
        { name: "dag", dag: { tasks: dagTasks(cfg) } },
        previewTemplate(cfg),
        ...agentTemplates(cfg),
        exitHandlerTemplate(),
        stopAgentsTemplate(cfg),
        // Every step's output artifacts are archived under one key prefix per PR and workflow.
        ...withArchivedArtifacts(cfg, [
          setParamsTemplate(cfg),
          ...deployTemplates(cfg),
          acceptanceTemplate(cfg),
          previewEvidenceTemplate(cfg),
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
