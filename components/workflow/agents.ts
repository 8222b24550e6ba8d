/**
 * The three agent tasks: each calls the agent template (by default `coderun-template` /
 * `coderun-main`) with its GitHub App and the PR's coordinates. What the referenced template must
 * accept is stated in the README; here is only what we pass.
 */
import type { IDAGTask } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/DAGTask";
import type { StackConfig } from "../config";
import { taskOutput } from "./script-template";

/** The agent tasks in pipeline order, with the GitHub App each runs as. */
export const AGENT_TASKS = [
  { task: "implement", githubApp: "rex" },
  { task: "clippy-format", githubApp: "clippy" },
  { task: "qa-testing", githubApp: "qa" },
] as const;

/** The DAG task that runs one agent. */
export function agentTask(cfg: StackConfig, task: string, githubApp: string, depends: string): IDAGTask {
  const p = cfg.agent.parameters;
  return {
    name: task,
    depends,
    templateRef: {
      name: cfg.agent.templateName,
      template: cfg.agent.template,
      ...(cfg.agent.clusterScope ? { clusterScope: true } : {}),
    },
    arguments: {
      parameters: [
        { name: p.githubApp, value: githubApp },
        // As validated by set-params, which every agent task runs after.
        { name: p.owner, value: taskOutput("set-params", "owner") },
        { name: p.repo, value: taskOutput("set-params", "repo") },
        { name: p.pr, value: taskOutput("set-params", "pr") },
        { name: p.commit, value: taskOutput("set-params", "commit") },
      ],
    },
  };
}
