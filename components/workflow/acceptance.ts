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
import { input, INPUT_DIR, inputParameters, OUTPUT_DIR, scriptTemplate, withoutServiceAccountToken } from "./script-template";

/** The acceptance inputs that are workflow parameters too: a value given at submit wins over the config's. */
export const ACCEPTANCE_THRESHOLDS = ["min_success_pct", "max_p95_ms", "requests_per_endpoint"] as const;

/** Every input of the acceptance template, in the order a person reads them; set-params outputs each one. */
export const ACCEPTANCE_INPUTS = [
  ...ACCEPTANCE_THRESHOLDS, "max_p99_ms", "judge", "concurrency", "timeout_ms", "expect", "paths", "insecure", "connect_to",
  "ready_consecutive", "ready_timeout_s", "rate", "duration_s",
] as const;

/**
 * The acceptance template's inputs: the preview's `host` (set-params' output, which every endpoint must
 * be on or under), then the settings.
 */
export const ACCEPTANCE_TEMPLATE_INPUTS = ["host", ...ACCEPTANCE_INPUTS] as const;

/** Label on acceptance pods: the NetworkPolicy of the pipeline's namespace selects them by it. */
export const ACCEPTANCE_POD_LABEL = { "implementation-dag/step": "acceptance" } as const;

/** One acceptance input. */
export type AcceptanceInput = (typeof ACCEPTANCE_INPUTS)[number];

type AcceptanceConfig = StackConfig["acceptance"];
/** The settings a repository may set: every global key but `connectTo` and `repositories`, each optional. */
export type RepositoryAcceptance = AcceptanceConfig["repositories"][string];
type Setting = keyof RepositoryAcceptance;

/**
 * Each setting's input and how its config value becomes the input's text: a number that means "off"
 * (`rate` 0, `maxP99Ms` 0) and an empty `paths` become the empty string the script reads as off.
 */
const SETTING_INPUTS: { [K in Setting]-?: [AcceptanceInput, (value: NonNullable<RepositoryAcceptance[K]>) => string] } = {
  minSuccessPct: ["min_success_pct", String],
  maxP95Ms: ["max_p95_ms", String],
  requestsPerEndpoint: ["requests_per_endpoint", String],
  maxP99Ms: ["max_p99_ms", (ms) => (ms > 0 ? String(ms) : "")],
  judge: ["judge", String],
  concurrency: ["concurrency", String],
  timeoutMs: ["timeout_ms", String],
  expect: ["expect", String],
  paths: ["paths", (paths) => (Object.keys(paths).length > 0 ? JSON.stringify(paths) : "")],
  insecure: ["insecure", String],
  readyConsecutive: ["ready_consecutive", String],
  readyTimeoutSeconds: ["ready_timeout_s", String],
  rate: ["rate", (rate) => (rate > 0 ? String(rate) : "")],
  durationSeconds: ["duration_s", String],
};

/** The inputs a (partial) set of settings gives, as the texts set-params and acceptance read. */
export function acceptanceInputsOf(settings: RepositoryAcceptance): Partial<Record<AcceptanceInput, string>> {
  const inputs: Partial<Record<AcceptanceInput, string>> = {};
  for (const key of Object.keys(SETTING_INPUTS) as Setting[]) {
    const value = settings[key];
    if (value === undefined) continue;
    const [name, render] = SETTING_INPUTS[key] as [AcceptanceInput, (v: unknown) => string];
    inputs[name] = render(value);
  }
  return inputs;
}

/** Every acceptance input from the global settings (`acceptance.*`, `connectTo` included). */
export function acceptanceDefaults(a: AcceptanceConfig): Record<AcceptanceInput, string> {
  return { ...acceptanceInputsOf(a), connect_to: a.connectTo } as Record<AcceptanceInput, string>;
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
    libraries: ACCEPTANCE_PROGRAMS,
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
      MIN_SUCCESS_PCT: input("min_success_pct"),
      MAX_P95_MS: input("max_p95_ms"),
      MAX_P99_MS: input("max_p99_ms"),
      JUDGE: input("judge"),
      REQUESTS_PER_ENDPOINT: input("requests_per_endpoint"),
      CONCURRENCY: input("concurrency"),
      TIMEOUT_MS: input("timeout_ms"),
      EXPECT: input("expect"),
      PATHS: input("paths"),
      INSECURE: input("insecure"),
      CONNECT_TO: input("connect_to"),
      READY_CONSECUTIVE: input("ready_consecutive"),
      READY_TIMEOUT_S: input("ready_timeout_s"),
      RATE: input("rate"),
      DURATION_S: input("duration_s"),
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
