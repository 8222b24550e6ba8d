/**
 * The workflow's parameters: exactly the seed's, plus the acceptance thresholds whose defaults come
 * from the stack config.
 */
import type { IParameter } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Parameter";
import type { StackConfig } from "../config";

/** The workflow parameters, in the order a person reads them. */
export function workflowParameters(cfg: StackConfig): IParameter[] {
  return [
    { name: "owner", description: "Repository owner (GitHub user or organization)." },
    { name: "repo", description: "Repository name." },
    { name: "pr", description: "Pull request number." },
    { name: "commit", value: "", description: "Commit to test; empty means the PR head." },
    { name: "domain", value: cfg.domain, description: "Preview domain: the app is served at pr-<pr>.<domain>." },
    { name: "chartPath", value: cfg.chartPath, description: "Chart path in the repository, or an oci:// reference." },
    { name: "valuesFile", value: cfg.valuesFile, description: "Values file, relative to the repository root or else to the chart." },
    { name: "imageTag", value: "", description: "Image tag to deploy; empty means pr-<pr>." },
    { name: "min_success_pct", value: String(cfg.acceptance.minSuccessPct), description: "Acceptance: minimum share of successful requests, in percent (0-100)." },
    { name: "max_p95_ms", value: String(cfg.acceptance.maxP95Ms), description: "Acceptance: maximum p95 latency in milliseconds." },
    { name: "requests_per_endpoint", value: String(cfg.acceptance.requestsPerEndpoint), description: "Acceptance: requests sent to each endpoint." },
  ];
}
