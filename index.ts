/**
 * implementation-dag: reads the stack config, builds the components, and returns the stack outputs.
 * `pulumi up` calls the exported function; so does the offline render (`npm run render`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig, PROJECT, StackConfig } from "./components/config";
import { GitHubApps } from "./components/github-apps";
import { hardeningEnabled, hardeningWarning, RepositoryHardening } from "./components/repository-hardening";
import { PreviewGuardrails } from "./components/guardrails";
import { AcceptanceNetwork } from "./components/acceptance-network";
import { ImplementationDag, WORKFLOW_TEMPLATE_NAME } from "./components/workflow";
import { AdmissionFence } from "./components/admission";
import { Rbac } from "./components/rbac";
import { TtlSweeper } from "./components/ttl-sweeper";
import { PreviewTeardown } from "./components/preview-teardown";
import { howRunsStart, Trigger } from "./components/trigger";
import { Uninstall, uninstallCommand } from "./components/uninstall";

/** Reads the stack config; bad config stops the program with one message naming every bad key. */
function readConfig(): StackConfig {
  try {
    return parseConfig(pulumi.runtime.allConfig());
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/** The `argo submit` line a platform team runs for one PR. */
function submitCommand(cfg: StackConfig): string {
  return [
    `argo submit -n ${cfg.namespace} --from workflowtemplate/${WORKFLOW_TEMPLATE_NAME}`,
    "-p owner=<owner> -p repo=<repo> -p pr=<number>",
    "--watch",
  ].join(" ");
}

/** The program: Pulumi calls it and publishes what it returns as the stack outputs. */
export default async function main() {
  const cfg = readConfig();
  const guardrails = new PreviewGuardrails("preview-guardrails", { config: cfg });
  const dag = new ImplementationDag(PROJECT, { config: cfg });
  const rbac = new Rbac("rbac", { config: cfg });
  const acceptanceNetwork = new AcceptanceNetwork("acceptance-network", { config: cfg });
  new AdmissionFence("admission-fence", { config: cfg });
  // Formerly "ttl-cleanup" of type TtlCleanup: the alias keeps an installed stack's sweeper (and its
  // children) in place instead of replacing them.
  const ttl = new TtlSweeper("ttl-sweeper", { config: cfg }, { aliases: [{ name: "ttl-cleanup", type: "implementation-dag:index:TtlCleanup" }] });
  const teardown = new PreviewTeardown("preview-teardown", { config: cfg });
  const uninstall = new Uninstall("uninstall", { config: cfg });
  const secretConfig = new pulumi.Config(PROJECT);
  const githubApps = new GitHubApps("github-apps", {
    config: cfg,
    privateKeys: {
      rex: secretConfig.requireSecret("rexPrivateKey"),
      clippy: secretConfig.requireSecret("clippyPrivateKey"),
      qa: secretConfig.requireSecret("qaPrivateKey"),
    },
  });
  // Opt-in: the Argo Events Sensor that starts runs from pull request webhooks.
  const trigger = cfg.trigger.enabled ? new Trigger("trigger", { config: cfg }) : undefined;
  const hardening = hardeningEnabled(cfg.github) ? new RepositoryHardening("repository-hardening", { config: cfg }) : undefined;

  return {
    workflowTemplate: dag.templateName,
    namespace: dag.namespace,
    guardrailsConfigMap: guardrails.configMapName,
    acceptanceNetworkPolicy: acceptanceNetwork.policyName ?? "",
    serviceAccounts: rbac.serviceAccounts,
    ttlCronWorkflow: ttl.cronWorkflowName,
    previewTeardownTemplate: teardown.templateName,
    githubAppSecrets: githubApps.secretNames,
    hardenedRepositories: hardening?.repositories ?? [],
    // Empty unless hardening was turned off explicitly: then it says what is left unguarded.
    repositoryHardeningWarning: hardeningWarning(cfg.github) ?? "",
    submitCommand: submitCommand(cfg),
    triggerSensor: trigger?.sensor ?? "",
    runsStart: howRunsStart(cfg, submitCommand(cfg)),
    uninstallTemplate: uninstall.templateName,
    // Tears every preview of this stack down: run it, then `pulumi destroy`.
    uninstallCommand: uninstallCommand(cfg),
  };
}
