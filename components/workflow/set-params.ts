/**
 * `set-params`: validates every parameter and derives the preview's names once. Later tasks take
 * both from its outputs, never from the raw workflow parameters: what they receive has been
 * validated. The derived names carry `globalName`s so the exit handler can read them as
 * `{{workflow.outputs.parameters.*}}`.
 *
 * It also resolves the run's acceptance settings once, for the validated repository: the stack
 * config's per-repository table and global settings arrive as JSON in env, rendered from config at
 * install time (never from the pull request), and a threshold given at submit wins over both.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { ACCEPTANCE_INPUTS, acceptanceDefaults, repositoryAcceptanceTable } from "./acceptance";
import { AGENT_INPUTS } from "./agents";
import { input, inputParameters, outputParameter, scriptTemplate, withoutServiceAccountToken } from "./script-template";

/** The names set-params derives; every later task reads them from its outputs. */
export const SET_PARAMS_OUTPUTS = ["ns", "release", "host", "domain", "image_tag", "commit", "mutex", "repository"] as const;

/** The parameters set-params passes on as validated, unchanged. */
export const SET_PARAMS_VALIDATED = ["owner", "repo", "pr", "chartPath", "valuesFile"] as const;

/** The inputs set-params validates: the workflow's parameters, one for one. */
export const SET_PARAMS_INPUTS = [
  "owner", "repo", "pr", "commit", "domain", "chartPath", "valuesFile", "imageTag",
  "min_success_pct", "max_p95_ms", "requests_per_endpoint",
  "taskId", "service", "model", "docsRepository", "docsProjectDirectory", "workingDirectory", "docsBranch",
  "continueSession", "overwriteMemory", "taskRequirements",
] as const;

/** Builds the set-params template. */
export function setParamsTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: "set-params",
    libraries: ["names"],
    image: cfg.images.setParams,
    deadlineSeconds: cfg.deadlines.setParamsSeconds,
    inputs: { parameters: inputParameters(...SET_PARAMS_INPUTS) },
    env: {
      OWNER: input("owner"),
      REPO: input("repo"),
      PR: input("pr"),
      COMMIT: input("commit"),
      DOMAIN: input("domain"),
      CHART_PATH: input("chartPath"),
      VALUES_FILE: input("valuesFile"),
      IMAGE_TAG: input("imageTag"),
      MIN_SUCCESS_PCT: input("min_success_pct"),
      MAX_P95_MS: input("max_p95_ms"),
      REQUESTS_PER_ENDPOINT: input("requests_per_endpoint"),
      TASK_ID: input("taskId"),
      SERVICE: input("service"),
      MODEL: input("model"),
      DOCS_REPOSITORY: input("docsRepository"),
      DOCS_PROJECT_DIRECTORY: input("docsProjectDirectory"),
      WORKING_DIRECTORY: input("workingDirectory"),
      DOCS_BRANCH: input("docsBranch"),
      CONTINUE_SESSION: input("continueSession"),
      OVERWRITE_MEMORY: input("overwriteMemory"),
      TASK_REQUIREMENTS: input("taskRequirements"),
      // Rendered from the stack config: a submitter cannot change them, the pull request never sees them.
      ACCEPTANCE_GLOBAL: JSON.stringify(acceptanceDefaults(cfg.acceptance)),
      ACCEPTANCE_REPOSITORIES: JSON.stringify(repositoryAcceptanceTable(cfg.acceptance)),
      GITHUB_WEB_URL: cfg.github.webUrl,
      NAMING: cfg.naming,
    },
    outputs: {
      parameters: [
        ...SET_PARAMS_OUTPUTS.map((name) => outputParameter(name, name, name)),
        ...SET_PARAMS_VALIDATED.map((name) => outputParameter(name)),
        // The run's acceptance settings, resolved and validated: every input of acceptance.
        ...ACCEPTANCE_INPUTS.map((name) => outputParameter(name)),
        // What the agent template reads, under its own names.
        ...AGENT_INPUTS.map((name) => outputParameter(name)),
      ],
    },
    // set-params talks to nothing: no service-account token in its pod.
    extra: withoutServiceAccountToken(cfg),
  });
}
