/**
 * `approve`: posts the QA App's review with `event: APPROVE`, pinned to the tested commit, its body
 * the acceptance evidence. Never merges. Runs without a Kubernetes token.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, INPUT_DIR, inputParameters, scriptTemplate, withoutServiceAccountToken } from "./script-template";

/** Builds the approve template. */
export function approveTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: "approve",
    image: cfg.images.approve,
    deadlineSeconds: cfg.deadlines.approveSeconds,
    inputs: {
      parameters: inputParameters("owner", "repo", "pr", "commit", "host"),
      artifacts: [{ name: "acceptance-report", path: `${INPUT_DIR}/acceptance` }],
    },
    env: {
      OWNER: input("owner"),
      REPO: input("repo"),
      PR: input("pr"),
      COMMIT: input("commit"),
      HOST: input("host"),
      REPORT_DIR: `${INPUT_DIR}/acceptance`,
      WORKFLOW_NAME: "{{workflow.name}}",
      WORKFLOW_NAMESPACE: "{{workflow.namespace}}",
      GITHUB_API_URL: cfg.github.apiUrl,
    },
    extra: withoutServiceAccountToken(cfg),
  });
}
