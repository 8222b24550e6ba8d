/**
 * `cleanup`, the exit handler: on failure removes this run's release and namespace; on success
 * stamps the namespace with its expiry; in both cases only a namespace this run deployed into, of
 * this run's repository and of this stack (its `implementation-dag/instance` label). Reads
 * set-params' names as global outputs, which do not exist when set-params failed: Argo then
 * leaves the reference text in the value (it substitutes
 * unresolved references as they are), and the script reads that as "nothing of ours to clean".
 * It also adds the final statuses to the preview's GitHub deployment (see `preview-github.ts`).
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { stackInstance } from "../rbac";
import { previewGitHubApp, PREVIEW_GITHUB_LIBRARIES } from "../argo/preview-github";
import { scriptTemplate } from "../argo/script-template";

/** Builds the cleanup template (`components/steps/cleanup.sh`). It runs with the steps' service account. */
export function cleanupTemplate(cfg: StackConfig): ITemplate {
  const github = previewGitHubApp(cfg);
  return scriptTemplate(cfg, {
    name: "cleanup",
    image: cfg.images.cleanup,
    libraries: PREVIEW_GITHUB_LIBRARIES,
    deadlineSeconds: cfg.deadlines.cleanupSeconds,
    env: {
      WORKFLOW_STATUS: "{{workflow.status}}",
      WORKFLOW_NAME: "{{workflow.name}}",
      NS: "{{workflow.outputs.parameters.ns}}",
      RELEASE: "{{workflow.outputs.parameters.release}}",
      REPOSITORY: "{{workflow.outputs.parameters.repository}}",
      TTL_HOURS: String(cfg.ttl.hours),
      // A namespace of another stack (another instance label) is left alone.
      PREVIEW_INSTANCE: stackInstance(cfg),
      ...github.env,
    },
    envFrom: github.envFrom,
    volumeMounts: github.volumeMounts,
    extra: { volumes: github.volumes },
  });
}
