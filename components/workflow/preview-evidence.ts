/**
 * `preview-evidence`: after acceptance, passed or failed, what ran in the preview and how it behaved
 * (each container's image digest, readiness and restarts; the namespace's events; the last lines of
 * every log) as the `preview-evidence` artifact, archived beside the acceptance report. approve
 * reads its `pods.json` to name the image digests in the review. The script is
 * `components/steps/preview-evidence.sh`.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, inputParameters, OUTPUT_DIR, scriptTemplate } from "../argo/script-template";

/** Name of the template, of its DAG task and of its script. */
export const PREVIEW_EVIDENCE_TEMPLATE = "preview-evidence";
/** Name of its output artifact (and the directory under OUTPUT_DIR the script writes it to). */
export const PREVIEW_EVIDENCE_ARTIFACT = "preview-evidence";
/** Inputs of the template: the PR and its preview namespace, as set-params derived them. */
export const PREVIEW_EVIDENCE_INPUTS = ["pr", "ns"] as const;

/**
 * Builds the preview-evidence template. It runs under the workflow's service account (the steps'),
 * which deploy bound to the deployer ClusterRole inside the preview namespace: reading pods, their
 * logs and events there needs nothing more. It runs on the deploy image (kubectl and jq).
 */
export function previewEvidenceTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: PREVIEW_EVIDENCE_TEMPLATE,
    image: cfg.images.deploy,
    deadlineSeconds: cfg.deadlines.evidenceSeconds,
    inputs: { parameters: inputParameters(...PREVIEW_EVIDENCE_INPUTS) },
    env: {
      PR: input("pr"),
      NS: input("ns"),
      LOG_LINES: String(cfg.evidence.logLines),
      LOG_BYTES: String(cfg.evidence.logBytes),
    },
    outputs: {
      artifacts: [{ name: PREVIEW_EVIDENCE_ARTIFACT, path: `${OUTPUT_DIR}/${PREVIEW_EVIDENCE_ARTIFACT}` }],
    },
  });
}
