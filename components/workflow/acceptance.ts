/**
 * `acceptance`: black-box HTTP testing of every endpoint in `urls.json` against thresholds; its
 * evidence (report.json, summary.md, responses/, logs/requests.log) is the `acceptance-report`
 * artifact approve reads. Exit 0 pass, 1 fail (a threshold missed), 2 error (nothing judged).
 * The interface is documented in docs/acceptance.md.
 *
 * Every input comes from set-params, which resolves the settings of the run's repository once
 * (stack config `acceptance.repositories`, else the global `acceptance.*`, a threshold given at submit
 * winning over both) and validates them: the template itself carries no defaults.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { ACCEPTANCE_SETTINGS, PARAMETERS } from "../parameters";
import { input, INPUT_DIR, inputParameters, OUTPUT_DIR, scriptTemplate, withoutServiceAccountToken } from "../argo/script-template";

/** Every setting of acceptance (components/parameters.ts), in the table's order; set-params outputs each one. */
export const ACCEPTANCE_INPUTS = ACCEPTANCE_SETTINGS;

/**
 * The acceptance template's inputs: the preview's `host` (set-params' output, which every endpoint must
 * be on or under), then the settings.
 */
export const ACCEPTANCE_TEMPLATE_INPUTS = ["host", ...ACCEPTANCE_INPUTS];

/** Label on acceptance pods: the NetworkPolicy of the pipeline's namespace selects them by it. */
export const ACCEPTANCE_POD_LABEL = { "implementation-dag/step": "acceptance" } as const;

/** One acceptance input (a name of {@link ACCEPTANCE_INPUTS}). */
export type AcceptanceInput = string;

type AcceptanceConfig = StackConfig["acceptance"];
/** The settings a repository may set: every global key but `connectTo` and `repositories`, each optional. */
export type RepositoryAcceptance = AcceptanceConfig["repositories"][string];

/** The settings a repository may set, each with its table entry (config key `acceptance.<key>`). */
const SETTINGS = PARAMETERS.filter((p) => p.step === "acceptance" && p.config?.key.startsWith("acceptance."))
  .map((p) => ({ key: p.config!.key.slice("acceptance.".length), name: p.name, text: p.config!.text ?? String }));

/**
 * The inputs a (partial) set of settings gives, as the texts set-params and acceptance read: the
 * table's `config.text` of each (a number that means "off" and an empty `paths` become empty).
 */
export function acceptanceInputsOf(settings: RepositoryAcceptance | AcceptanceConfig): Partial<Record<AcceptanceInput, string>> {
  const inputs: Partial<Record<AcceptanceInput, string>> = {};
  const given = settings as Record<string, unknown>;
  for (const { key, name, text } of SETTINGS) {
    if (given[key] !== undefined) inputs[name] = text(given[key]);
  }
  return inputs;
}

/** Every acceptance input from the global settings (`acceptance.*`, `connectTo` included). */
export function acceptanceDefaults(a: AcceptanceConfig): Record<AcceptanceInput, string> {
  return acceptanceInputsOf(a) as Record<AcceptanceInput, string>;
}

/**
 * The per-repository table set-params reads: the lowercased `owner/repo` (GitHub names are
 * case-insensitive; the config refuses two keys that fold to one) to the inputs that repository sets.
 */
export function repositoryAcceptanceTable(a: AcceptanceConfig): Record<string, Partial<Record<AcceptanceInput, string>>> {
  return Object.fromEntries(Object.entries(a.repositories).map(([repository, settings]) => [repository.toLowerCase(), acceptanceInputsOf(settings)]));
}

/** The jq programs acceptance.sh runs: the figures and verdict, and the Markdown summary. */
export const ACCEPTANCE_PROGRAMS = ["acceptance-figures.jq", "acceptance-summary.jq"];

/**
 * Builds the acceptance template: every input reaches the script through env only, the pod has no
 * Kubernetes token (acceptance only speaks HTTP to the preview), and it carries
 * {@link ACCEPTANCE_POD_LABEL}, by which the pipeline namespace's NetworkPolicy limits its egress.
 */
export function acceptanceTemplate(cfg: StackConfig): ITemplate {
  return scriptTemplate(cfg, {
    name: "acceptance",
    // The gate's arithmetic: jq programs in files of their own, tested with fixed samples.
    libraries: ["parameter-rules", "acceptance-budget", ...ACCEPTANCE_PROGRAMS],
    image: cfg.images.acceptance,
    deadlineSeconds: cfg.deadlines.acceptanceSeconds,
    inputs: {
      // No defaults: the DAG passes every one from set-params' outputs.
      parameters: inputParameters(...ACCEPTANCE_TEMPLATE_INPUTS),
      artifacts: [{ name: "deploy-urls", path: `${INPUT_DIR}/urls.json` }],
    },
    env: {
      URLS_FILE: `${INPUT_DIR}/urls.json`,
      HOST: input("host"),
      // Every setting under its env name (components/parameters.ts), as set-params resolved it.
      ...Object.fromEntries(PARAMETERS.filter((p) => p.step === "acceptance").map((p) => [p.env, input(p.name)])),
      // Recorded in report.json so that a figure can be reproduced with the same curl.
      STEP_IMAGE: cfg.images.acceptance,
      REPORT_DIR: `${OUTPUT_DIR}/acceptance`,
    },
    outputs: {
      artifacts: [{ name: "acceptance-report", path: `${OUTPUT_DIR}/acceptance` }],
    },
    // Acceptance only speaks HTTP to the preview: no Kubernetes token.
    extra: { ...withoutServiceAccountToken(cfg), metadata: { labels: { ...ACCEPTANCE_POD_LABEL } } },
  });
}
