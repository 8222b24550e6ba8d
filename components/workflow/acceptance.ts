/**
 * `acceptance`: black-box HTTP testing of every endpoint in `urls.json` against thresholds; its
 * evidence (report.json, summary.md, responses/, logs/requests.log) is the `acceptance-report`
 * artifact approve reads. Exit 0 pass, 1 fail (a threshold missed), 2 error (nothing judged).
 * The interface is documented in docs/acceptance.md.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { input, INPUT_DIR, OUTPUT_DIR, scriptTemplate, withoutServiceAccountToken } from "./script-template";

/** The status rule of a success where `paths` says nothing: 2xx and 3xx (`<500` is the seed's lenient rule). */
export const DEFAULT_EXPECT = "2xx,3xx";

/** Length of an open-model run (`rate` set) when `duration_s` is not given, in seconds. */
export const DEFAULT_DURATION_S = 10;

/**
 * Builds the acceptance template: every input reaches the script through env only, and the pod has
 * no Kubernetes token (acceptance only speaks HTTP to the preview).
 */
export function acceptanceTemplate(cfg: StackConfig): ITemplate {
  const a = cfg.acceptance;
  return scriptTemplate(cfg, {
    name: "acceptance",
    image: cfg.images.acceptance,
    deadlineSeconds: cfg.deadlines.acceptanceSeconds,
    inputs: {
      parameters: [
        { name: "min_success_pct" },
        { name: "max_p95_ms" },
        { name: "max_p99_ms", value: "" },
        { name: "judge", value: a.judge },
        { name: "requests_per_endpoint", value: String(a.requestsPerEndpoint) },
        { name: "concurrency", value: String(a.concurrency) },
        { name: "timeout_ms", value: String(a.timeoutMs) },
        { name: "expect", value: DEFAULT_EXPECT },
        { name: "paths", value: "" },
        { name: "insecure", value: "false" },
        { name: "connect_to", value: a.connectTo },
        { name: "ready_consecutive", value: String(a.readyConsecutive) },
        { name: "ready_timeout_s", value: String(a.readyTimeoutSeconds) },
        // Open model: empty rate keeps the closed model (`concurrency`).
        { name: "rate", value: "" },
        { name: "duration_s", value: String(DEFAULT_DURATION_S) },
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
