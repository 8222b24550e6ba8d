/**
 * The TTL sweeper: a CronWorkflow that deletes expired previews, previews whose pull request was
 * closed or merged (asking GitHub, read-only, once per repository and 100 previews) and orphans of
 * crashed runs, and reports namespaces stuck Terminating and Released volumes of deleted previews
 * (`components/steps/ttl-sweep.sh`), under its own service account, one run at a time. It knows the
 * previews of both naming schemes (`impl-pr-<N>`, `impl-<slug>-<hash>-pr-<N>`) by lib/rules.sh's
 * rule and checks a repository-named preview's annotation against its name with lib/names.sh, and
 * reads each preview again right before deleting it, leaving one a run changed meanwhile alone. It
 * lists only this stack's previews (label `implementation-dag/instance` = the workflows namespace):
 * a second stack on the cluster sweeps its own. The same template in mode `all` is the uninstall
 * (`components/uninstall.ts`): {@link ttlSweepTemplate} builds both.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { ICronWorkflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/CronWorkflow";
import type { IArtifact } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Artifact";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "./config";
import { stackInstance } from "./rbac";
import { scratchVolume } from "./pod-security";
import { artifactRepositoryRef, COMMON_LABELS, workflowSpecDefaults } from "./argo/spec-defaults";
import { previewGitHubApp, PREVIEW_GITHUB_LIBRARIES } from "./argo/preview-github";
import { keyOnlyLocation } from "./argo/archive";
import { input, OUTPUT_DIR, scriptTemplate } from "./argo/script-template";
import { WORKFLOW_TEMPLATE_NAME } from "./workflow";

/** Name of the CronWorkflow (and of its template). */
export const TTL_SWEEPER_NAME = "implementation-dag-ttl-sweep";

/** Name of the artifact the sweeper archives its report as. */
export const TTL_REPORT_ARTIFACT = "ttl-report";

/** Deadline of one sweep (and of the uninstall): generous, since each deletion may wait on a Helm hook. */
export const SWEEP_DEADLINE_SECONDS = 1800;

/**
 * Where the report is archived: a key-only artifact under the configured key prefix, one per sweep
 * (`<keyPrefix>/ttl-sweep/<workflow name>/ttl-report.tgz`), in the repository the CronWorkflow
 * references; with storage `none` the repository's own key format decides.
 */
export function ttlReportLocation(cfg: StackConfig): Partial<IArtifact> {
  return keyOnlyLocation(cfg, `${cfg.artifactRepository.keyPrefix}/ttl-sweep/{{workflow.name}}/${TTL_REPORT_ARTIFACT}.tgz`) ?? {};
}

/** Shell libraries of the sweeper (and of preview-teardown's teardown step): lib/teardown.sh needs the others. */
export const TEARDOWN_LIBRARIES = [...PREVIEW_GITHUB_LIBRARIES, "names", "teardown"];

/**
 * What the sweep script is run for: `ttl` is the TTL sweep; `all` is the uninstall, which tears every
 * preview of this stack down and refuses while a run of the pipeline is in progress (see
 * `components/uninstall.ts`).
 */
export type SweepMode = "ttl" | "all";

/** Name of the sweep's template for each mode. */
export const SWEEP_TEMPLATE_NAME: Record<SweepMode, string> = { ttl: "ttl-sweep", all: "uninstall" };

/**
 * The sweep template: the script step (`components/steps/ttl-sweep.sh`), its `dryRun` input, and the
 * archived report. `mode` defaults to `ttl`; `all` runs the same script and libraries as the
 * uninstall, which also needs the pipeline's WorkflowTemplate name to find its runs in progress.
 */
export function ttlSweepTemplate(cfg: StackConfig, mode: SweepMode = "ttl"): ITemplate {
  const github = previewGitHubApp(cfg);
  return scriptTemplate(cfg, {
    name: SWEEP_TEMPLATE_NAME[mode],
    file: "ttl-sweep",
    image: cfg.images.sweeper,
    libraries: TEARDOWN_LIBRARIES,
    deadlineSeconds: SWEEP_DEADLINE_SECONDS,
    inputs: { parameters: [{ name: "dryRun", value: "false", enum: ["true", "false"] }] },
    env: {
      DRY_RUN: input("dryRun"),
      MODE: mode,
      ...(mode === "all" ? { PIPELINE_TEMPLATE: WORKFLOW_TEMPLATE_NAME } : {}),
      // Only this stack's previews: another stack on the cluster sweeps its own.
      PREVIEW_INSTANCE: stackInstance(cfg),
      MAX_AGE_HOURS: String(cfg.ttl.maxAgeHours),
      TERMINATING_LIMIT_MINUTES: String(cfg.ttl.terminatingLimitMinutes),
      WORKFLOW_NAME: "{{workflow.name}}",
      ...github.env,
    },
    envFrom: github.envFrom,
    volumeMounts: github.volumeMounts,
    outputs: {
      // Archived even when the sweep fails: the report says what was and was not deleted.
      artifacts: [{ name: TTL_REPORT_ARTIFACT, path: `${OUTPUT_DIR}/ttl-report`, optional: true, ...ttlReportLocation(cfg) }],
    },
    extra: { volumes: github.volumes },
  });
}

/** Builds the TTL CronWorkflow from typed config. */
export function buildTtlSweeperCronWorkflow(cfg: StackConfig): ICronWorkflow {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "CronWorkflow",
    metadata: { name: TTL_SWEEPER_NAME, namespace: cfg.namespace, labels: { ...COMMON_LABELS } },
    spec: {
      // Argo >= 3.6 (and v4) take a list; v4 removed the singular `schedule`.
      schedules: [cfg.ttl.schedule],
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: cfg.ttl.startingDeadlineSeconds,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      workflowSpec: {
        entrypoint: "ttl-sweep",
        serviceAccountName: cfg.serviceAccounts.sweeper,
        arguments: { parameters: [{ name: "dryRun", value: "false", enum: ["true", "false"], description: "true: only report what would be deleted." }] },
        activeDeadlineSeconds: SWEEP_DEADLINE_SECONDS + 60,
        ...workflowSpecDefaults(cfg),
        artifactRepositoryRef: artifactRepositoryRef(cfg),
        volumes: [scratchVolume],
        // The entrypoint's `dryRun` input takes the workflow argument of the same name.
        templates: [ttlSweepTemplate(cfg)],
      },
    },
  };
}

/** Arguments of {@link TtlSweeper}. */
export interface TtlSweeperArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the TTL sweeper CronWorkflow. */
export class TtlSweeper extends pulumi.ComponentResource {
  /** The CronWorkflow's name. */
  public readonly cronWorkflowName: pulumi.Output<string>;

  constructor(name: string, args: TtlSweeperArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:TtlSweeper", name, {}, opts);
    const cron = buildTtlSweeperCronWorkflow(args.config);
    const resource = new k8s.apiextensions.CustomResource(
      TTL_SWEEPER_NAME,
      cron as unknown as k8s.apiextensions.CustomResourceArgs,
      { parent: this },
    );
    this.cronWorkflowName = resource.metadata.name;
    this.registerOutputs({ cronWorkflowName: this.cronWorkflowName });
  }
}
