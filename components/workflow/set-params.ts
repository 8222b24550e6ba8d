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
import { outputName, PARAMETERS, SUBMITTED } from "../parameters";
import { acceptanceDefaults, repositoryAcceptanceTable } from "./acceptance";
import { input, inputParameters, outputParameter, scriptTemplate, withoutServiceAccountToken } from "../argo/script-template";

/** The names set-params derives; every later task reads them from its outputs. */
export const SET_PARAMS_OUTPUTS = ["ns", "release", "host", "domain", "image_tag", "commit", "mutex", "repository"] as const;

/** The inputs set-params validates: the workflow's parameters (components/parameters.ts), one for one. */
export const SET_PARAMS_INPUTS = SUBMITTED;

/**
 * What set-params passes on beside {@link SET_PARAMS_OUTPUTS}: every parameter and acceptance setting
 * under its output name (validated, resolved, filled in), and the agents' `repository-url`.
 */
export const SET_PARAMS_PASSED = [
  ...PARAMETERS.map(outputName).filter((name): name is string => name !== undefined && !(SET_PARAMS_OUTPUTS as readonly string[]).includes(name)),
  "repository-url",
];

/** Builds the set-params template. */
export function setParamsTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: "set-params",
    libraries: ["names", "parameter-rules", "acceptance-budget"],
    image: cfg.images.setParams,
    deadlineSeconds: cfg.deadlines.setParamsSeconds,
    inputs: { parameters: inputParameters(...SET_PARAMS_INPUTS) },
    env: {
      ...Object.fromEntries(PARAMETERS.filter((p) => p.submit).map((p) => [p.env, input(p.name)])),
      // Rendered from the stack config: a submitter cannot change them, the pull request never sees them.
      ACCEPTANCE_GLOBAL: JSON.stringify(acceptanceDefaults(cfg.acceptance)),
      ACCEPTANCE_REPOSITORIES: JSON.stringify(repositoryAcceptanceTable(cfg.acceptance)),
      GITHUB_WEB_URL: cfg.github.webUrl,
      NAMING: cfg.naming,
    },
    outputs: {
      parameters: [
        ...SET_PARAMS_OUTPUTS.map((name) => outputParameter(name, name, name)),
        ...SET_PARAMS_PASSED.map((name) => outputParameter(name)),
      ],
    },
    // set-params talks to nothing: no service-account token in its pod.
    extra: withoutServiceAccountToken(cfg),
  });
}
