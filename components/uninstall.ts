/**
 * `implementation-dag-uninstall`: a WorkflowTemplate that tears every preview of this stack down, run
 * once before `pulumi destroy` (which removes the sweeper and would leave the previews behind). It is
 * the TTL sweeper's own template in mode `all` (`components/steps/ttl-sweep.sh` with lib/teardown.sh,
 * not a copy): one listing of the namespaces labelled `preview=true` and
 * `implementation-dag/instance=<workflows namespace>`, and for each preview namespace of either naming
 * scheme its Helm releases uninstalled, the namespace deleted (after reading it again) and its GitHub
 * deployment marked `inactive`, whatever its expiry, `preview.keep` label or PR state. Another
 * stack's previews and non-preview namespaces are left alone, as by the sweeper.
 *
 * A run of the pipeline still in progress could deploy a preview again after the uninstall, so the
 * uninstall refuses while one is (naming them, nothing changed), and fails, naming them, when one
 * started while it ran or a preview its listing did not have appeared meanwhile. It neither waits
 * for runs nor stops them: that is the operator's decision, and stopping would need more than the
 * `list` right it has. It runs as the sweeper's service account: the sweeper's namespace rights
 * (fenced by the admission policies to this stack's previews) and Helm through the deployer binding
 * in each preview suffice; the one right added is `list` on Workflows in the workflows namespace
 * (`SWEEPER_RUNS_RULES` in `rbac.ts`). The sweeper's CronWorkflow is left running: both only delete
 * this stack's previews, and each reads a namespace again before deleting it, so the loser of a race
 * finds it gone or being deleted.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { StackConfig } from "./config";
import { scratchVolume } from "./pod-security";
import { SWEEP_DEADLINE_SECONDS, SWEEP_TEMPLATE_NAME, ttlSweepTemplate } from "./ttl-sweeper";
import { artifactRepositoryRef, COMMON_LABELS, workflowSpecDefaults } from "./argo/spec-defaults";

/** Name of the WorkflowTemplate. */
export const UNINSTALL_TEMPLATE_NAME = "implementation-dag-uninstall";

/** The sweep template's own deadline, plus room for the pod to start and the report to be archived. */
const UNINSTALL_DEADLINE_SECONDS = SWEEP_DEADLINE_SECONDS + 60;

/** The one command that tears every preview of the stack down, waiting for the end (non-zero unless it succeeded). */
export function uninstallCommand(cfg: StackConfig): string {
  return `argo submit -n ${cfg.namespace} --from workflowtemplate/${UNINSTALL_TEMPLATE_NAME} --wait`;
}

/** Builds the `implementation-dag-uninstall` WorkflowTemplate from typed config. */
export function buildUninstall(cfg: StackConfig): IWorkflowTemplate {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "WorkflowTemplate",
    metadata: { name: UNINSTALL_TEMPLATE_NAME, namespace: cfg.namespace, labels: { ...COMMON_LABELS } },
    spec: {
      entrypoint: SWEEP_TEMPLATE_NAME.all,
      serviceAccountName: cfg.serviceAccounts.sweeper,
      arguments: { parameters: [{ name: "dryRun", value: "false", enum: ["true", "false"], description: "true: only report what would be torn down." }] },
      activeDeadlineSeconds: UNINSTALL_DEADLINE_SECONDS,
      ...workflowSpecDefaults(cfg),
      artifactRepositoryRef: artifactRepositoryRef(cfg),
      volumes: [scratchVolume],
      // The entrypoint's `dryRun` input takes the workflow argument of the same name.
      templates: [ttlSweepTemplate(cfg, "all")],
    },
  };
}

/** Arguments of {@link Uninstall}. */
export interface UninstallArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the `implementation-dag-uninstall` WorkflowTemplate. */
export class Uninstall extends pulumi.ComponentResource {
  /** The WorkflowTemplate's name. */
  public readonly templateName: pulumi.Output<string>;

  constructor(name: string, args: UninstallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:Uninstall", name, {}, opts);
    const resource = new k8s.apiextensions.CustomResource(
      UNINSTALL_TEMPLATE_NAME,
      buildUninstall(args.config) as unknown as k8s.apiextensions.CustomResourceArgs,
      { parent: this },
    );
    this.templateName = resource.metadata.name;
    this.registerOutputs({ templateName: this.templateName });
  }
}
