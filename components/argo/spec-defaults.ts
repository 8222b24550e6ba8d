/**
 * What every workflow the project renders shares (the implementation-dag WorkflowTemplate, the TTL
 * CronWorkflow's workflow, preview-teardown): restricted pods, labels, pod and workflow garbage
 * collection, and the artifact repository.
 */
import type { IWorkflowSpec } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowSpec";
import type { StackConfig } from "../config";
import { restrictedPodSecurityContext } from "../pod-security";

/** Labels on everything the project renders. */
export const COMMON_LABELS = {
  "app.kubernetes.io/name": "implementation-dag",
  "app.kubernetes.io/part-of": "implementation-dag",
  "app.kubernetes.io/managed-by": "pulumi",
};

/** The spec fields every workflow shares: restricted pods, their labels, and garbage collection. */
export function workflowSpecDefaults(cfg: StackConfig): Pick<IWorkflowSpec, "podGC" | "ttlStrategy" | "securityContext" | "podMetadata"> {
  return {
    podGC: { strategy: cfg.retention.podGC },
    ttlStrategy: {
      secondsAfterSuccess: cfg.retention.secondsAfterSuccess,
      secondsAfterFailure: cfg.retention.secondsAfterFailure,
    },
    securityContext: restrictedPodSecurityContext(cfg.runAsUser),
    podMetadata: { labels: { ...COMMON_LABELS } },
  };
}

/** The artifact repository the config references, for workflows that archive artifacts. */
export const artifactRepositoryRef = (cfg: StackConfig): IWorkflowSpec["artifactRepositoryRef"] => ({
  configMap: cfg.artifactRepository.configMap,
  key: cfg.artifactRepository.key,
});
