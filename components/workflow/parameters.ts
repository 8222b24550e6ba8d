/**
 * The workflow's parameters: the seed's, the acceptance thresholds and what the agent template reads,
 * their defaults from the stack config (the thresholds' default is empty: set-params resolves them per
 * repository).
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
    { name: "imageTag", value: "", description: "Image tag to deploy, pulled Always; empty: derived from the deployed commit by the stack's deploy.imageTagPattern." },
    // Empty: the run's repository's setting (stack config acceptance.repositories), else the global one;
    // set-params resolves them. A value given at submit wins over both.
    { name: "min_success_pct", value: "", description: "Acceptance: minimum share of successful requests, in percent (0-100); empty: the repository's setting, else the stack's." },
    { name: "max_p95_ms", value: "", description: "Acceptance: maximum p95 latency in milliseconds; empty: the repository's setting, else the stack's." },
    { name: "requests_per_endpoint", value: "", description: "Acceptance: requests sent to each endpoint; empty: the repository's setting, else the stack's." },
    { name: "taskId", value: "", description: "Agents: the task id (task-id); empty means the PR number." },
    { name: "service", value: cfg.agent.service, description: "Agents: the service id (service-id), a DNS label; empty means the repository's name." },
    { name: "model", value: cfg.agent.model, description: "Agents: the model the agents use." },
    { name: "docsRepository", value: cfg.agent.docsRepository, description: "Agents: the docs repository as <owner>/<repo>; empty means the PR's repository." },
    { name: "docsProjectDirectory", value: cfg.agent.docsProjectDirectory, description: "Agents: the docs project directory in the docs repository." },
    { name: "workingDirectory", value: cfg.agent.workingDirectory, description: "Agents: the working directory in the repository ('.' is its root)." },
    { name: "docsBranch", value: cfg.agent.docsBranch, description: "Agents: the branch of the docs repository." },
    { name: "continueSession", value: String(cfg.agent.continueSession), description: "Agents: continue the previous session (true or false)." },
    { name: "overwriteMemory", value: String(cfg.agent.overwriteMemory), description: "Agents: overwrite the agents' memory (true or false)." },
    { name: "taskRequirements", value: "", description: "Agents: the task's requirements, base64-encoded (task-requirements); empty: none." },
  ];
}
