/**
 * `deploy`: the PR's preview environment (namespace, guardrails, Helm release) and `urls.json`,
 * the `deploy-urls` artifact acceptance reads. Takes only set-params' validated outputs.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, inputParameters, OUTPUT_DIR, outputParameter, scriptTemplate } from "./script-template";

/** Inputs of the deploy template. */
export const DEPLOY_INPUTS = [
  "owner", "repo", "pr", "commit", "ns", "release", "host", "image_tag", "chartPath", "valuesFile",
] as const;

/** Builds the deploy template(s); the first is the one the DAG calls. */
export function deployTemplates(cfg: StackConfig): ITemplate[] {
  return [
    scriptTemplate(cfg, {
      name: "deploy",
      image: cfg.images.deploy,
      deadlineSeconds: cfg.deadlines.deploySeconds,
      inputs: { parameters: inputParameters(...DEPLOY_INPUTS) },
      env: {
        OWNER: input("owner"),
        REPO: input("repo"),
        PR: input("pr"),
        COMMIT: input("commit"),
        NS: input("ns"),
        RELEASE: input("release"),
        HOST: input("host"),
        IMAGE_TAG: input("image_tag"),
        CHART_PATH: input("chartPath"),
        VALUES_FILE: input("valuesFile"),
        WORKFLOW_NAME: "{{workflow.name}}",
        HELM_TIMEOUT: cfg.deploy.helmTimeout,
      },
      outputs: {
        parameters: [outputParameter("commit")],
        artifacts: [
          { name: "deploy-urls", path: `${OUTPUT_DIR}/urls.json`, archive: { none: {} } },
          { name: "deploy-evidence", path: `${OUTPUT_DIR}/evidence`, optional: true },
        ],
      },
    }),
  ];
}
