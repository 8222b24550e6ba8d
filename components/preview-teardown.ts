/**
 * `preview-teardown`: a WorkflowTemplate (parameters `owner`, `repo`, `pr`) that tears one PR's
 * preview down at once, for teams that wire a webhook on `pull_request` `closed` (docs/preview-lifecycle.md
 * shows an Argo Events Sensor). The TTL sweeper does the same for closed or merged PRs on its
 * schedule; this is the immediate path. It runs under the sweeper's service account (namespaces
 * list and delete, fenced to previews by the admission policies; Helm inside previews through the
 * deployer binding) and holds the pipeline's per-PR mutex, so it never uninstalls a release while a
 * run of the same PR deploys it. The script is `components/steps/preview-teardown.sh`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "./config";
import { scratchVolume } from "./pod-security";
import { COMMON_LABELS, workflowSpecDefaults } from "./workflow/spec-defaults";
import { previewGitHubApp, PREVIEW_GITHUB_LIBRARIES } from "./workflow/preview-github";
import { scriptTemplate, workflowParam } from "./workflow/script-template";

/** Name of the WorkflowTemplate (and of its one template). */
export const PREVIEW_TEARDOWN_NAME = "preview-teardown";

/** Deadline of one teardown: Helm's uninstall timeout per release plus room. */
const TEARDOWN_DEADLINE_SECONDS = 600;

/** The mutex the pipeline holds per PR number (see `buildWorkflowTemplate`). */
export const prMutex = (pr: string): string => `implementation-dag-pr-${pr}`;

/** The teardown step. */
export function previewTeardownStep(cfg: StackConfig): ITemplate {
  const github = previewGitHubApp(cfg);
  return scriptTemplate(cfg, {
    name: PREVIEW_TEARDOWN_NAME,
    image: cfg.images.sweeper,
    libraries: [...PREVIEW_GITHUB_LIBRARIES, "teardown"],
    deadlineSeconds: TEARDOWN_DEADLINE_SECONDS,
    env: {
      OWNER: workflowParam("owner"),
      REPO: workflowParam("repo"),
      PR: workflowParam("pr"),
      WORKFLOW_NAME: "{{workflow.name}}",
      ...github.env,
    },
    envFrom: github.envFrom,
    volumeMounts: github.volumeMounts,
    extra: { volumes: github.volumes },
  });
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
      // The same mutex as the pipeline's run of this PR: never beside a deploy of it.
      synchronization: { mutexes: [{ name: prMutex(workflowParam("pr")) }] },
      activeDeadlineSeconds: TEARDOWN_DEADLINE_SECONDS + 60,
      ...workflowSpecDefaults(cfg),
      volumes: [scratchVolume],
      templates: [previewTeardownStep(cfg)],
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
