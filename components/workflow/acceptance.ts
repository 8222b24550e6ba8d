/**
 * `acceptance`: black-box HTTP testing of every endpoint in `urls.json` against thresholds; its
 * evidence (report.json, summary.md, responses/, logs/requests.log) is the `acceptance-report`
 * artifact approve reads. Exit 0 pass, 1 fail (a threshold missed), 2 error (nothing judged).
 * The interface is documented in docs/acceptance.md.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, INPUT_DIR, OUTPUT_DIR, scriptTemplate, withoutServiceAccountToken } from "./script-template";

/** The thresholds the DAG passes from set-params' outputs (the workflow parameters, validated). */
export const ACCEPTANCE_THRESHOLDS = ["min_success_pct", "max_p95_ms", "requests_per_endpoint"] as const;

/**
 * The template's input defaults besides the two thresholds (which the DAG always passes), from the
 * stack config `acceptance.*`: a number that means "off" (`rate` 0, `maxP99Ms` 0) and an empty
 * `paths` become the empty string the script reads as off.
 */
export function acceptanceDefaults(a: StackConfig["acceptance"]): Record<string, string> {
  return {
    requests_per_endpoint: String(a.requestsPerEndpoint),
    concurrency: String(a.concurrency),
    timeout_ms: String(a.timeoutMs),
    max_p99_ms: a.maxP99Ms > 0 ? String(a.maxP99Ms) : "",
    judge: a.judge,
    expect: a.expect,
    paths: Object.keys(a.paths).length > 0 ? JSON.stringify(a.paths) : "",
    insecure: String(a.insecure),
    connect_to: a.connectTo,
    ready_consecutive: String(a.readyConsecutive),
    ready_timeout_s: String(a.readyTimeoutSeconds),
    rate: a.rate > 0 ? String(a.rate) : "",
    duration_s: String(a.durationSeconds),
  };
}

/**
 * Builds the acceptance template: every input reaches the script through env only, and the pod has
 * no Kubernetes token (acceptance only speaks HTTP to the preview).
 */
export function acceptanceTemplate(cfg: StackConfig): ITemplate {
  const d = acceptanceDefaults(cfg.acceptance);
  return scriptTemplate(cfg, {
    name: "acceptance",
    image: cfg.images.acceptance,
    deadlineSeconds: cfg.deadlines.acceptanceSeconds,
    inputs: {
      parameters: [
        { name: "min_success_pct" },
        { name: "max_p95_ms" },
        ...Object.entries(d).map(([name, value]) => ({ name, value })),
      ],
      artifacts: [{ name: "deploy-urls", path: `${INPUT_DIR}/urls.json` }],
    },
    env: {
      URLS_FILE: `${INPUT_DIR}/urls.json`,
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
    extra: withoutServiceAccountToken(cfg),
  });
}
