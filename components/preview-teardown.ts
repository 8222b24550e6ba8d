/**
 * `preview-teardown`: a WorkflowTemplate (parameters `owner`, `repo`, `pr`) that tears one PR's
 * preview down at once, for a webhook on `pull_request` `closed` (the trigger's Argo Events Sensor,
 * components/trigger.ts, submits it). The TTL sweeper does the same for closed or merged PRs on its
 * schedule; this is the immediate path. Two steps, as the pipeline does it:
 *   1. `preview-names` validates the parameters and derives the preview's namespace, mutex and
 *      repository once, with set-params' rules (lib/names.sh under the configured `naming`); it needs
 *      no Kubernetes API (`components/steps/preview-names.sh`);
 *   2. `teardown` runs under a template-level mutex named from that output, exactly the mutex the
 *      pipeline's `preview` template holds for the same preview, so it never uninstalls a release
 *      while a run of that preview deploys it. It runs under the sweeper's service account
 *      (namespaces list and delete, fenced to previews by the admission policies; Helm inside
 *      previews through the deployer binding) (`components/steps/preview-teardown.sh`), and only
 *      on a namespace of this stack (label `implementation-dag/instance` = the workflows namespace).
 * A mutex built from the raw `pr` parameter would be taken before anything checked it, and would not
 * be the pipeline's once previews are named by repository.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "./config";
import { stackInstance } from "./rbac";
import { scratchVolume } from "./pod-security";
import { TEARDOWN_LIBRARIES } from "./ttl-sweeper";
import { COMMON_LABELS, workflowSpecDefaults } from "./argo/spec-defaults";
import { previewGitHubApp } from "./argo/preview-github";
import {
  input, inputParameters, outputParameter, scriptTemplate, taskOutput, withoutServiceAccountToken, workflowParam,
} from "./argo/script-template";

/** Name of the WorkflowTemplate (and of its entrypoint). */
export const PREVIEW_TEARDOWN_NAME = "preview-teardown";

/** The step (and its template) that derives the preview's names. */
export const PREVIEW_NAMES_STEP = "preview-names";

/** The step (and its template) that tears the preview down, under the preview's mutex. */
export const TEARDOWN_STEP = "teardown";

/** The WorkflowTemplate's parameters: the pull request whose preview goes. */
export const PREVIEW_TEARDOWN_PARAMETERS = ["owner", "repo", "pr"] as const;

/** What preview-names derives (and passes on validated); the teardown step takes all of it. */
export const PREVIEW_NAMES_OUTPUTS = ["ns", "mutex", "repository", "pr"] as const;

/** Deadline of the teardown step: Helm's uninstall timeout per release plus room. */
const TEARDOWN_DEADLINE_SECONDS = 600;

/** The step that validates the parameters and derives the names: no Kubernetes API, no token. */
export function previewNamesStep(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: PREVIEW_NAMES_STEP,
    libraries: ["names"],
    image: cfg.images.setParams,
    deadlineSeconds: cfg.deadlines.setParamsSeconds,
    inputs: { parameters: inputParameters(...PREVIEW_TEARDOWN_PARAMETERS) },
    env: { OWNER: input("owner"), REPO: input("repo"), PR: input("pr"), NAMING: cfg.naming },
    outputs: { parameters: PREVIEW_NAMES_OUTPUTS.map((name) => outputParameter(name)) },
    extra: withoutServiceAccountToken(cfg),
  });
}

/** The teardown step, under the template-level mutex of the preview it tears down. */
export function previewTeardownStep(cfg: StackConfig): ITemplate {
  const github = previewGitHubApp(cfg);
  return scriptTemplate(cfg, {
    name: TEARDOWN_STEP,
    file: "preview-teardown",
    image: cfg.images.sweeper,
    libraries: TEARDOWN_LIBRARIES,
    deadlineSeconds: TEARDOWN_DEADLINE_SECONDS,
    inputs: { parameters: inputParameters(...PREVIEW_NAMES_OUTPUTS) },
    env: {
      NS: input("ns"),
      REPOSITORY: input("repository"),
      // Only this stack's preview: another stack's namespace of the same name is left alone.
      PREVIEW_INSTANCE: stackInstance(cfg),
      PR: input("pr"),
      WORKFLOW_NAME: "{{workflow.name}}",
      ...github.env,
    },
    envFrom: github.envFrom,
    volumeMounts: github.volumeMounts,
    extra: {
      volumes: github.volumes,
      // The pipeline's `preview` template holds the same name: never beside a run of this preview.
      synchronization: { mutexes: [{ name: input("mutex") }] },
    },
  });
}

/** The entrypoint: preview-names, then the teardown with the names it derived. */
export function previewTeardownDag(): ITemplate {
  return {
    name: PREVIEW_TEARDOWN_NAME,
    dag: {
      tasks: [
        {
          name: PREVIEW_NAMES_STEP,
          template: PREVIEW_NAMES_STEP,
          arguments: { parameters: PREVIEW_TEARDOWN_PARAMETERS.map((name) => ({ name, value: workflowParam(name) })) },
        },
        {
          name: TEARDOWN_STEP,
          template: TEARDOWN_STEP,
          depends: `${PREVIEW_NAMES_STEP}.Succeeded`,
          arguments: { parameters: PREVIEW_NAMES_OUTPUTS.map((name) => ({ name, value: taskOutput(PREVIEW_NAMES_STEP, name) })) },
        },
      ],
    },
  };
}

/** Builds the `preview-teardown` WorkflowTemplate from typed config. */
export function buildPreviewTeardown(cfg: StackConfig): IWorkflowTemplate {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "WorkflowTemplate",
    metadata: { name: PREVIEW_TEARDOWN_NAME, namespace: cfg.namespace, labels: { ...COMMON_LABELS } },
    spec: {
      entrypoint: PREVIEW_TEARDOWN_NAME,
      serviceAccountName: cfg.serviceAccounts.sweeper,
      arguments: {
        parameters: [
          { name: "owner", description: "Repository owner (GitHub user or organization)." },
          { name: "repo", description: "Repository name." },
          { name: "pr", description: "Pull request number whose preview goes." },
        ],
      },
      // The teardown may wait on the preview's mutex while a run of the pipeline holds it: as long as
      // that run may live, then its own two steps.
      activeDeadlineSeconds: cfg.deadlines.workflowSeconds + cfg.deadlines.setParamsSeconds + TEARDOWN_DEADLINE_SECONDS + 60,
      ...workflowSpecDefaults(cfg),
      volumes: [scratchVolume],
      templates: [previewTeardownDag(), previewNamesStep(cfg), previewTeardownStep(cfg)],
    },
  };
}

/** Arguments of {@link PreviewTeardown}. */
export interface PreviewTeardownArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the `preview-teardown` WorkflowTemplate. */
export class PreviewTeardown extends pulumi.ComponentResource {
  /** The WorkflowTemplate's name. */
  public readonly templateName: pulumi.Output<string>;

  constructor(name: string, args: PreviewTeardownArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:PreviewTeardown", name, {}, opts);
    const wt = buildPreviewTeardown(args.config);
    const resource = new k8s.apiextensions.CustomResource(
      PREVIEW_TEARDOWN_NAME,
      wt as unknown as k8s.apiextensions.CustomResourceArgs,
      { parent: this },
    );
    this.templateName = resource.metadata.name;
    this.registerOutputs({ templateName: this.templateName });
  }
}
