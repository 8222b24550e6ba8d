/**
 * `deploy`: the PR's preview environment (namespace, guardrails, Helm release) and `urls.json`,
 * the `deploy-urls` artifact acceptance reads, plus the `commit` it deployed. Two runners, one
 * script (`components/steps/deploy.sh`), one interface to the DAG:
 * - `pod` (default): the script as a plain script step.
 * - `docsrun`: a steps template that creates the seed's `DocsRun` CR carrying the script (a
 *   resource step, done only when the CR's status says so), then `discover-urls` reads the
 *   deployed commit and the URLs back from the cluster, since a resource step returns no files.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import type { StackConfig } from "../config";
import { outputName, PARAMETERS } from "../parameters";
import { GUARDRAILS_CONFIGMAP, GUARDRAILS_MOUNT_PATH } from "../guardrails";
import { deployerClusterRole, guardrailsClusterRole, stackInstance } from "../rbac";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, scratchMount, scratchVolume, SCRATCH_DIR, stepResources } from "../pod-security";
import { input, inputParameters, OUTPUT_DIR, outputParameter, scriptTemplate, stepSource } from "../argo/script-template";

/** The parameters deploy reads (components/parameters.ts), each under set-params' output name. */
const DEPLOY_PARAMETERS = PARAMETERS.filter((p) => p.step === "deploy").map((p) => ({ env: p.env, input: outputName(p)! }));

/** Inputs of the deploy template: its parameters, then the names set-params derived. */
export const DEPLOY_INPUTS = [...DEPLOY_PARAMETERS.map((p) => p.input), "ns", "release", "host"];

/** The GitHub App whose read-only installation token fetches the chart: the QA app's. */
export const DEPLOY_GITHUB_APP = "qa";
/** Kubernetes Secret of that app (keys `app-id`, `installation-id`, `private-key`). */
export const DEPLOY_GITHUB_SECRET = `github-app-${DEPLOY_GITHUB_APP}`;
/** Where deploy's pod holds the app's private key. */
export const DEPLOY_GITHUB_KEY_DIR = "/etc/implementation-dag/github-app";
/** The chart contract check (docs/chart-contract.md): its jq program, then the shell library that runs it. deploy and `npm run check-chart` embed both. */
export const CHART_CONTRACT_LIBRARIES = ["chart-contract.jq", "chart-contract"];
/** Shell libraries the deploy script uses. */
export const DEPLOY_LIBRARIES = ["parameter-rules", "github", "deployments", "discovery", "image", ...CHART_CONTRACT_LIBRARIES];
/** Name of the resource template of the `docsrun` runner. */
export const DOCSRUN_TEMPLATE = "deploy-docsrun";
/** Name of the discovery step of the `docsrun` runner (and of its script). */
export const DISCOVER_TEMPLATE = "discover-urls";

const GUARDRAILS_VOLUME = "preview-guardrails";
const GITHUB_KEY_VOLUME = "deploy-github-app";

/** The workflow-level volumes deploy mounts: the guardrail templates. */
export function deployVolumes(_cfg: StackConfig): IVolume[] {
  return [{ name: GUARDRAILS_VOLUME, configMap: { name: GUARDRAILS_CONFIGMAP, defaultMode: 0o444 } }];
}

/** The app's private key, readable by the step's group (fsGroup) only. */
const githubKeyVolume: IVolume = {
  name: GITHUB_KEY_VOLUME,
  secret: { secretName: DEPLOY_GITHUB_SECRET, items: [{ key: "private-key", path: "private-key.pem" }], defaultMode: 0o440 },
};

const deployMounts: IVolumeMount[] = [
  { name: GUARDRAILS_VOLUME, mountPath: GUARDRAILS_MOUNT_PATH, readOnly: true },
  { name: GITHUB_KEY_VOLUME, mountPath: DEPLOY_GITHUB_KEY_DIR, readOnly: true },
];

/** The service-account token of the chart's deployer lives as long as the step may (at least 10 minutes). */
export function deployTokenDuration(cfg: StackConfig): string {
  return `${Math.max(600, cfg.deadlines.deploySeconds)}s`;
}

/** The deploy script's plain env: inputs by Argo reference, everything else from config. */
export function deployEnv(cfg: StackConfig): Record<string, string> {
  return {
    ...Object.fromEntries(DEPLOY_PARAMETERS.map((p) => [p.env, input(p.input)])),
    NS: input("ns"),
    RELEASE: input("release"),
    HOST: input("host"),
    // The image is the commit's: its tag when none is given, and the build deploy waits for.
    IMAGE_TAG_PATTERN: cfg.deploy.imageTagPattern,
    BUILD_KIND: cfg.deploy.build.kind,
    BUILD_NAME: cfg.deploy.build.name,
    BUILD_TIMEOUT_SECONDS: String(cfg.deploy.build.timeoutSeconds),
    BUILD_POLL_SECONDS: String(cfg.deploy.build.pollSeconds),
    // The chart's values select the IngressClass doctor checks: deploy gives it as ingress.className.
    INGRESS_CLASS: cfg.deploy.ingressClass,
    WORKFLOW_NAME: "{{workflow.name}}",
    HELM_TIMEOUT: cfg.deploy.helmTimeout,
    TOKEN_DURATION: deployTokenDuration(cfg),
    WORKFLOWS_NAMESPACE: cfg.namespace,
    STEPS_SERVICE_ACCOUNT: cfg.serviceAccounts.steps,
    SWEEPER_SERVICE_ACCOUNT: cfg.serviceAccounts.sweeper,
    // Cluster-scoped names carry the stack's instance: the script takes them from here, never as literals.
    PREVIEW_INSTANCE: stackInstance(cfg),
    DEPLOYER_CLUSTER_ROLE: deployerClusterRole(cfg),
    GUARDRAILS_CLUSTER_ROLE: guardrailsClusterRole(cfg),
    GUARDRAILS_DIR: GUARDRAILS_MOUNT_PATH,
    GITHUB_API_URL: cfg.github.apiUrl,
    GITHUB_WEB_URL: cfg.github.webUrl,
    ENVIRONMENT_PREFIX: cfg.github.environmentPrefix,
    ARGO_UI_URL: cfg.links.argoUiUrl,
    GITHUB_APP_PRIVATE_KEY_FILE: `${DEPLOY_GITHUB_KEY_DIR}/private-key.pem`,
  };
}

/** The app and installation ids, from the app's Secret. */
export const deployGithubEnv: IEnvVar[] = [
  { name: "GITHUB_APP_ID", valueFrom: { secretKeyRef: { name: DEPLOY_GITHUB_SECRET, key: "app-id" } } },
  { name: "GITHUB_INSTALLATION_ID", valueFrom: { secretKeyRef: { name: DEPLOY_GITHUB_SECRET, key: "installation-id" } } },
];

const deployOutputs = {
  parameters: [outputParameter("commit")],
  artifacts: [
    { name: "deploy-urls", path: `${OUTPUT_DIR}/urls.json`, archive: { none: {} } },
    { name: "deploy-evidence", path: `${OUTPUT_DIR}/evidence`, optional: true },
  ],
};

/** The `pod` runner: the deploy script as a script step. */
function podRunner(cfg: StackConfig): ITemplate[] {
  return [
    scriptTemplate(cfg, {
      name: "deploy",
      libraries: DEPLOY_LIBRARIES,
      image: cfg.images.deploy,
      deadlineSeconds: cfg.deadlines.deploySeconds,
      inputs: { parameters: inputParameters(...DEPLOY_INPUTS) },
      env: deployEnv(cfg),
      envFrom: deployGithubEnv,
      volumeMounts: deployMounts,
      outputs: deployOutputs,
      extra: { volumes: [githubKeyVolume] },
    }),
  ];
}

/** An Argo resource condition: `field == v` for one value, `field in (a,b)` for several. */
export function statusCondition(field: string, values: string[]): string {
  return values.length === 1 ? `${field} == ${values[0]}` : `${field} in (${values.join(",")})`;
}

/**
 * The seed's DocsRun: its spec carries the command, the script and the env (plus what its pod
 * needs to run the script as the step would: image, service account, restricted security
 * contexts, requests and limits, the scratch, guardrails and key volumes). Argo substitutes the
 * `{{inputs.parameters.*}}` in it textually, so it takes only values set-params validated, each
 * inside a JSON string; the script validates them again.
 */
export function docsRunManifest(cfg: StackConfig): Record<string, unknown> {
  const env: IEnvVar[] = [
    { name: "HOME", value: `${SCRATCH_DIR}/home` },
    { name: "TMPDIR", value: SCRATCH_DIR },
    { name: "OUTPUT_DIR", value: OUTPUT_DIR },
    ...Object.entries(deployEnv(cfg)).map(([name, value]) => ({ name, value })),
    ...deployGithubEnv,
  ];
  return {
    apiVersion: cfg.deploy.docsrun.apiVersion,
    kind: "DocsRun",
    metadata: {
      generateName: "docsrun-deploy-",
      labels: {
        "app.kubernetes.io/part-of": "implementation-dag",
        "app.kubernetes.io/component": "deploy",
        "implementation-dag/workflow": "{{workflow.name}}",
        "implementation-dag/pr": input("pr"),
      },
    },
    spec: {
      image: cfg.images.deploy,
      serviceAccountName: cfg.serviceAccounts.steps,
      activeDeadlineSeconds: cfg.deadlines.deploySeconds,
      command: ["bash"],
      script: stepSource("deploy", DEPLOY_LIBRARIES),
      env,
      resources: stepResources(cfg),
      podSecurityContext: restrictedPodSecurityContext(cfg.runAsUser),
      securityContext: restrictedContainerSecurityContext(cfg.runAsUser),
      volumes: [scratchVolume, ...deployVolumes(cfg), githubKeyVolume],
      volumeMounts: [scratchMount, ...deployMounts],
    },
  };
}

/** What `discover-urls` takes from deploy's inputs: the host bounds which Ingress hosts become URLs. */
const DISCOVER_INPUTS = ["pr", "ns", "release", "host"] as const;

/** The `docsrun` runner: `deploy` (steps) = the DocsRun resource step, then `discover-urls`. */
function docsRunRunner(cfg: StackConfig): ITemplate[] {
  const d = cfg.deploy.docsrun;
  const passInputs = (names: readonly string[]) => names.map((name) => ({ name, value: input(name) }));
  const steps = [
    [{ name: DOCSRUN_TEMPLATE, template: DOCSRUN_TEMPLATE, arguments: { parameters: passInputs(DEPLOY_INPUTS) } }],
    [{ name: DISCOVER_TEMPLATE, template: DISCOVER_TEMPLATE, arguments: { parameters: passInputs(DISCOVER_INPUTS) } }],
  ];
  return [
    {
      name: "deploy",
      inputs: { parameters: inputParameters(...DEPLOY_INPUTS) },
      outputs: {
        parameters: [{ name: "commit", valueFrom: { parameter: `{{steps.${DISCOVER_TEMPLATE}.outputs.parameters.commit}}` } }],
        artifacts: [{ name: "deploy-urls", from: `{{steps.${DISCOVER_TEMPLATE}.outputs.artifacts.deploy-urls}}` }],
      },
      // Argo's JSON has each group of parallel steps as a plain list.
      steps: steps as unknown as ITemplate["steps"],
    },
    {
      name: DOCSRUN_TEMPLATE,
      inputs: { parameters: inputParameters(...DEPLOY_INPUTS) },
      activeDeadlineSeconds: cfg.deadlines.deploySeconds,
      resource: {
        action: "create",
        setOwnerReference: true,
        successCondition: statusCondition(d.statusField, d.successValues),
        failureCondition: statusCondition(d.statusField, d.failureValues),
        manifest: JSON.stringify(docsRunManifest(cfg), null, 2),
      },
    },
    scriptTemplate(cfg, {
      name: DISCOVER_TEMPLATE,
      libraries: ["discovery"],
      image: cfg.images.deploy,
      deadlineSeconds: cfg.deadlines.deploySeconds,
      inputs: { parameters: inputParameters(...DISCOVER_INPUTS) },
      env: { PR: input("pr"), NS: input("ns"), RELEASE: input("release"), HOST: input("host"), WORKFLOW_NAME: "{{workflow.name}}" },
      outputs: { parameters: [outputParameter("commit")], artifacts: [deployOutputs.artifacts[0]] },
    }),
  ];
}

/** Builds the deploy template(s) of the configured runner; the first is the one the DAG calls. */
export function deployTemplates(cfg: StackConfig): ITemplate[] {
  return cfg.deploy.runner === "docsrun" ? docsRunRunner(cfg) : podRunner(cfg);
}
