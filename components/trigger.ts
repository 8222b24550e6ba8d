/**
 * The trigger: an Argo Events Sensor that starts the pipeline from GitHub `pull_request` webhooks,
 * rendered only when `trigger.enabled` (docs/trigger.md documents the EventSource it reads).
 *
 * What starts what (every event of a repository listed in `github.repositories`, matched
 * case-insensitively on `repository.full_name`):
 *   - `implementation-dag` for a pull request that is not a draft and whose head branch lives in a
 *     listed repository (a fork's branch is one the agents cannot push to, and anyone may open one):
 *       - without `trigger.label`: `opened`, `reopened`, `ready_for_review`;
 *       - with it: `labeled` with that label, and `reopened` / `ready_for_review` of a PR carrying it
 *         (opening a PR with the label set sends `labeled` too, so `opened` itself starts nothing);
 *       - `synchronize` (new commits) of such a PR (carrying the label, when one is configured),
 *         unless the sender is one of the agents' Apps (`<slug>[bot]`): the pipeline's own pushes
 *         would otherwise start a run per agent commit.
 *   - `preview-teardown` for `closed` (merged or not), whatever the PR was.
 * The Workflow gets `owner`, `repo` and `pr` from the payload, nothing else: not the commit (the
 * agents push during the run, and deploy tests the head it finds after them), not a template, an
 * account or a label. set-params and preview-names validate the three values like any submit.
 *
 * Argo Events semantics this relies on (argo-events `pkg/sensors/dependencies/filter.go`, `listener.go`,
 * `triggers/params.go`): a `string` data filter value is a Go regular expression matched anywhere in
 * the value, so every pattern here is anchored; several values of one filter are alternatives, also
 * under `!=` (so the agents' logins are one alternation, not three values); a path that does not exist
 * fails the dependency; a trigger without `conditions` waits for every dependency of the Sensor, so each
 * trigger names its one dependency.
 *
 * The Sensor's account may create Workflows in the workflows namespace and read WorkflowTemplates
 * (the `argo submit` the Sensor runs validates the Workflow against its template; Argo Events then
 * lists Workflows by its labels to find the one it created); an admission policy holds what it creates to a reference to one of the two templates
 * with parameters by value.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { StackConfig } from "./config";
import { denyBinding, failClosedPolicy } from "./admission";
import { clusterScopedName, stackInstance } from "./rbac";
import { PREVIEW_TEARDOWN_NAME, PREVIEW_TEARDOWN_PARAMETERS } from "./preview-teardown";
import { WORKFLOW_TEMPLATE_NAME } from "./workflow";
import { COMMON_LABELS } from "./argo/spec-defaults";

/**
 * Name of the Sensor: `implementation-dag-<instance>`, so that two stacks whose Sensors share one
 * `trigger.namespace` (beside one EventSource) do not collide.
 */
export const sensorName = (cfg: StackConfig): string => `implementation-dag-${stackInstance(cfg)}`;

/** Role (in the workflows namespace) of the Sensor's account. */
export const TRIGGER_ROLE = "implementation-dag-trigger";

/** The parameters the trigger passes, to either template: the pull request, from the payload. */
export const TRIGGER_PARAMETERS = PREVIEW_TEARDOWN_PARAMETERS;

/** The templates the trigger's Workflows may reference. */
export const TRIGGER_TEMPLATES = [WORKFLOW_TEMPLATE_NAME, PREVIEW_TEARDOWN_NAME] as const;

/** The `spec` keys a trigger's Workflow may carry: the template by reference and its arguments. */
export const TRIGGER_WORKFLOW_SPEC_KEYS = ["workflowTemplateRef", "arguments"] as const;

/** Where each parameter comes from in the EventSource's event (`body` is GitHub's payload). */
export const PARAMETER_DATA_KEYS: Record<(typeof TRIGGER_PARAMETERS)[number], string> = {
  owner: "body.repository.owner.login",
  repo: "body.repository.name",
  pr: "body.pull_request.number",
};

/** Name of the policy (and binding) fencing the Workflows the Sensor's account creates. */
export const triggerWorkflowsPolicyName = (cfg: StackConfig): string => clusterScopedName(cfg, "trigger-workflows");

/** The Sensor's namespace: `trigger.namespace`, or the workflows namespace. */
export function sensorNamespace(cfg: StackConfig): string {
  return cfg.trigger.namespace || cfg.namespace;
}

/** The `request.userInfo.username` of the Sensor's account. */
export function triggerUser(cfg: StackConfig): string {
  return `system:serviceaccount:${sensorNamespace(cfg)}:${cfg.trigger.serviceAccountName}`;
}

/** The logins the agents' Apps push as: `<slug>[bot]`, in the order rex, clippy, qa. */
export function agentBotLogins(cfg: StackConfig): string[] {
  const { rex, clippy, qa } = cfg.trigger.agentAppSlugs;
  return [rex, clippy, qa].map((slug) => `${slug}[bot]`);
}

/** `s` as a literal inside a Go (RE2) regular expression. */
export function goRegexLiteral(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

/** RE2: exactly one of `items` (literals), case-insensitively: GitHub's names are. */
const exactlyOneOf = (items: string[]) => `(?i)^(${items.map(goRegexLiteral).join("|")})$`;

/** One data filter of a dependency (argo-events `DataFilter`). */
export interface DataFilter {
  path: string;
  type: "string" | "bool" | "number";
  value: string[];
  comparator?: "=" | "!=" | ">" | ">=" | "<" | "<=";
}

/** One dependency of the Sensor (argo-events `EventDependency`, with data filters only). */
export interface SensorDependency {
  name: string;
  eventSourceName: string;
  eventName: string;
  filters: { data: DataFilter[] };
}

/** One parameter of a trigger: a payload value written into the Workflow. */
export interface TriggerParameter {
  src: { dependencyName: string; dataKey: string };
  dest: string;
}

/** The Workflow a trigger submits. */
export interface TriggerWorkflow {
  apiVersion: "argoproj.io/v1alpha1";
  kind: "Workflow";
  metadata: { generateName: string; namespace: string };
  spec: { workflowTemplateRef: { name: string }; arguments: { parameters: Array<{ name: string; value: string }> } };
}

/** One trigger of the Sensor: submits one Workflow when its one dependency is met. */
export interface SensorTrigger {
  template: {
    name: string;
    conditions: string;
    argoWorkflow: { operation: "submit"; source: { resource: TriggerWorkflow }; parameters: TriggerParameter[] };
  };
}

/** The Sensor (argoproj.io/v1alpha1), as the stack renders it. */
export interface Sensor {
  apiVersion: "argoproj.io/v1alpha1";
  kind: "Sensor";
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    eventBusName: string;
    template: {
      serviceAccountName: string;
      securityContext: { runAsNonRoot: true; runAsUser: number; runAsGroup: number; seccompProfile: { type: "RuntimeDefault" } };
      container: { securityContext: { allowPrivilegeEscalation: false; readOnlyRootFilesystem: true; capabilities: { drop: ["ALL"] } } };
    };
    dependencies: SensorDependency[];
    triggers: SensorTrigger[];
  };
}

/** The names of the Sensor's dependencies. */
export const DEPENDENCIES = {
  /** Without a label: a PR opened, reopened or marked ready. */
  opened: "pr-opened",
  /** With a label: the label added. */
  labeled: "pr-labeled",
  /** With a label: a PR carrying it reopened or marked ready. */
  reopened: "pr-reopened",
  /** New commits, not the agents'. */
  synchronize: "pr-synchronize",
  /** The PR closed, merged or not. */
  closed: "pr-closed",
} as const;

/** The dependencies, each a `pull_request` event of a listed repository with its own filters. */
export function sensorDependencies(cfg: StackConfig): SensorDependency[] {
  const repositories = cfg.github.repositories.map((r) => `${r.owner}/${r.repo}`);
  const label = cfg.trigger.label;
  const str = (path: string, value: string, comparator?: "!="): DataFilter =>
    comparator ? { path, type: "string", value: [value], comparator } : { path, type: "string", value: [value] };
  const pullRequestOf = [
    // The GitHub EventSource copies the X-GitHub-Event header into the body as a string.
    str("body.X-GitHub-Event", "^pull_request$"),
    str("body.repository.full_name", exactlyOneOf(repositories)),
  ];
  const action = (...actions: string[]) => str("body.action", `^(${actions.join("|")})$`);
  const runnable: DataFilter[] = [
    { path: "body.pull_request.draft", type: "bool", value: ["false"] },
    // The head branch in a listed repository, not a fork (were `head.repo` ever null, the path would
    // not exist and the dependency would fail: no run).
    str("body.pull_request.head.repo.full_name", exactlyOneOf(repositories)),
  ];
  // `labels.#.name` reads as the JSON list of the names, e.g. ["bug","run"]: one element equal to the label.
  const carriesLabel = str("body.pull_request.labels.#.name", `(?i)(^\\[|,)"${goRegexLiteral(label)}"(,|\\]$)`);
  const notAgents = str("body.sender.login", exactlyOneOf(agentBotLogins(cfg)), "!=");
  const dependency = (name: string, data: DataFilter[]): SensorDependency => ({
    name,
    eventSourceName: cfg.trigger.eventSource.name,
    eventName: cfg.trigger.eventSource.eventName,
    filters: { data: [...pullRequestOf, ...data] },
  });
  const starts = label === ""
    ? [dependency(DEPENDENCIES.opened, [action("opened", "reopened", "ready_for_review"), ...runnable])]
    : [
      dependency(DEPENDENCIES.labeled, [action("labeled"), str("body.label.name", exactlyOneOf([label])), ...runnable]),
      dependency(DEPENDENCIES.reopened, [action("reopened", "ready_for_review"), ...runnable, carriesLabel]),
    ];
  return [
    ...starts,
    dependency(DEPENDENCIES.synchronize, [action("synchronize"), ...runnable, ...(label === "" ? [] : [carriesLabel]), notAgents]),
    dependency(DEPENDENCIES.closed, [action("closed")]),
  ];
}

/** A trigger submitting a Workflow of `template` with the PR's coordinates when `dependency` is met. */
function submitTrigger(cfg: StackConfig, template: (typeof TRIGGER_TEMPLATES)[number], dependency: string): SensorTrigger {
  return {
    template: {
      name: `${template}-on-${dependency}`,
      // Without conditions a trigger waits for every dependency of the Sensor at once.
      conditions: dependency,
      argoWorkflow: {
        operation: "submit",
        source: {
          resource: {
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Workflow",
            // No labels of ours: Argo Events labels what it submits with the Sensor and trigger.
            metadata: { generateName: `${template}-`, namespace: cfg.namespace },
            spec: {
              workflowTemplateRef: { name: template },
              // Placeholders the parameters overwrite; a missing payload value fails the trigger.
              arguments: { parameters: TRIGGER_PARAMETERS.map((name) => ({ name, value: "" })) },
            },
          },
        },
        parameters: TRIGGER_PARAMETERS.map((name, i) => ({
          src: { dependencyName: dependency, dataKey: PARAMETER_DATA_KEYS[name] },
          dest: `spec.arguments.parameters.${i}.value`,
        })),
      },
    },
  };
}

/** Builds the Sensor from typed config. */
export function buildSensor(cfg: StackConfig): Sensor {
  const dependencies = sensorDependencies(cfg);
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Sensor",
    metadata: { name: sensorName(cfg), namespace: sensorNamespace(cfg), labels: { ...COMMON_LABELS } },
    spec: {
      eventBusName: cfg.trigger.eventBusName,
      template: {
        serviceAccountName: cfg.trigger.serviceAccountName,
        // The Sensor image runs as root unless told otherwise; its controller mounts an emptyDir at
        // /tmp, where `argo submit` writes the Workflow, so the root filesystem can be read-only.
        securityContext: { runAsNonRoot: true, runAsUser: cfg.runAsUser, runAsGroup: cfg.runAsUser, seccompProfile: { type: "RuntimeDefault" } },
        container: { securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } } },
      },
      dependencies,
      triggers: dependencies.map((d) =>
        submitTrigger(cfg, d.name === DEPENDENCIES.closed ? PREVIEW_TEARDOWN_NAME : WORKFLOW_TEMPLATE_NAME, d.name)),
    },
  };
}

/**
 * The Sensor account's rights in the workflows namespace: create Workflows and list them (Argo
 * Events finds the one it submitted by its labels), read WorkflowTemplates (`argo submit` validates
 * the Workflow against its template). Nothing else, nowhere else.
 */
export const TRIGGER_RULES: IPolicyRule[] = [
  { apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["create", "list"] },
  { apiGroups: ["argoproj.io"], resources: ["workflowtemplates"], verbs: ["get"] },
];

/**
 * The trigger Workflows policy: the Sensor's account may only create, in the workflows namespace, a
 * Workflow that references `implementation-dag` or `preview-teardown` (namespaced) and passes
 * `owner`, `repo` and `pr` by value, nothing else in its spec (no service account, inline
 * template, podSpecPatch, volumes…).
 */
export function triggerWorkflowsPolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  const spec = "object.spec";
  const ref = `${spec}.workflowTemplateRef`;
  const list = (items: readonly string[]) => `[${items.map((s) => `'${s}'`).join(", ")}]`;
  return failClosedPolicy(triggerWorkflowsPolicyName(cfg), {
    matchConstraints: {
      // Every version: a later Argo API version must not be a way around the fence.
      resourceRules: [{ apiGroups: ["argoproj.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["workflows"] }],
    },
    matchConditions: [{ name: "implementation-dag-trigger", expression: `request.userInfo.username == '${triggerUser(cfg)}'` }],
    validations: [
      {
        expression: `namespaceObject.metadata.name == '${cfg.namespace}'`,
        message: `the trigger may only create Workflows in ${cfg.namespace}`,
        reason: "Forbidden",
      },
      {
        expression: `has(${spec}) && ${spec}.all(k, k in ${list(TRIGGER_WORKFLOW_SPEC_KEYS)})`,
        message: `a trigger's Workflow spec may only hold ${TRIGGER_WORKFLOW_SPEC_KEYS.join(", ")}`,
        reason: "Forbidden",
      },
      {
        expression: `has(${ref}) && ${ref}.all(k, k == 'name') && ${ref}.name in ${list(TRIGGER_TEMPLATES)}`,
        message: `a trigger's Workflow must reference the WorkflowTemplate ${TRIGGER_TEMPLATES.join(" or ")}`,
        reason: "Forbidden",
      },
      {
        expression:
          `has(${spec}.arguments) && ${spec}.arguments.all(k, k == 'parameters') && has(${spec}.arguments.parameters) && ` +
          `${spec}.arguments.parameters.all(p, p.all(k, k in ['name', 'value']) && p.name in ${list(TRIGGER_PARAMETERS)})`,
        message: `a trigger's Workflow may only pass ${TRIGGER_PARAMETERS.join(", ")}, by value`,
        reason: "Forbidden",
      },
    ],
  });
}

/** Every object of the trigger component. */
export type TriggerObject = IServiceAccount | IRole | IRoleBinding | IValidatingAdmissionPolicy | IValidatingAdmissionPolicyBinding | Sensor;

/** Builds the trigger's objects; none unless `trigger.enabled`. */
export function buildTrigger(cfg: StackConfig): TriggerObject[] {
  if (!cfg.trigger.enabled) return [];
  const labels = { ...COMMON_LABELS };
  const account = cfg.trigger.serviceAccountName;
  const policy = triggerWorkflowsPolicy(cfg);
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: {
        name: account,
        namespace: sensorNamespace(cfg),
        labels,
        annotations: { "implementation-dag/purpose": "the Argo Events Sensor: submits implementation-dag and preview-teardown for pull request events" },
      },
    },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: TRIGGER_ROLE, namespace: cfg.namespace, labels }, rules: TRIGGER_RULES },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: TRIGGER_ROLE, namespace: cfg.namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: TRIGGER_ROLE },
      subjects: [{ kind: "ServiceAccount", name: account, namespace: sensorNamespace(cfg) }],
    },
    policy,
    denyBinding(policy.metadata?.name ?? ""),
    buildSensor(cfg),
  ];
}

/** How runs start: the trigger when it is on, and the manual submit either way. */
export function howRunsStart(cfg: StackConfig, submitCommand: string): string {
  if (!cfg.trigger.enabled) return `by hand (trigger.enabled is false): ${submitCommand}`;
  const repositories = cfg.github.repositories.map((r) => `${r.owner}/${r.repo}`).join(", ");
  const when = cfg.trigger.label === ""
    ? "opened, reopened, marked ready or pushed to"
    : `labelled ${cfg.trigger.label}, or carrying it and reopened, marked ready or pushed to`;
  return `Sensor ${sensorNamespace(cfg)}/${sensorName(cfg)} submits ${WORKFLOW_TEMPLATE_NAME} when a non-draft pull request of ${repositories} is ${when} ` +
    `(not by ${agentBotLogins(cfg).join(", ")}), and ${PREVIEW_TEARDOWN_NAME} when one closes; by hand: ${submitCommand}`;
}

/** Arguments of {@link Trigger}. */
export interface TriggerArgs {
  /** The typed stack config (`trigger.enabled` must be true). */
  config: StackConfig;
}

/** Registers the trigger: the Sensor, its account, Role and binding, and its admission policy. */
export class Trigger extends pulumi.ComponentResource {
  /** `<namespace>/<name>` of the Sensor. */
  public readonly sensor: string;

  constructor(name: string, args: TriggerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:Trigger", name, {}, opts);
    const cfg = args.config;
    if (!cfg.trigger.enabled) {
      throw new pulumi.ResourceError("trigger.enabled is false: the Trigger component renders nothing; do not create it", this);
    }
    const parent = { parent: this };
    for (const obj of buildTrigger(cfg)) {
      const id = `${obj.kind}-${obj.metadata?.name ?? ""}`;
      switch (obj.kind) {
        case "ServiceAccount":
          new k8s.core.v1.ServiceAccount(id, obj as k8s.core.v1.ServiceAccountArgs, parent);
          break;
        case "Role":
          new k8s.rbac.v1.Role(id, obj as k8s.rbac.v1.RoleArgs, parent);
          break;
        case "RoleBinding":
          new k8s.rbac.v1.RoleBinding(id, obj as k8s.rbac.v1.RoleBindingArgs, parent);
          break;
        case "ValidatingAdmissionPolicy":
          new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyArgs, parent);
          break;
        case "ValidatingAdmissionPolicyBinding":
          new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingArgs, parent);
          break;
        case "Sensor":
          new k8s.apiextensions.CustomResource(id, obj as unknown as k8s.apiextensions.CustomResourceArgs, parent);
          break;
      }
    }
    this.sensor = `${sensorNamespace(cfg)}/${sensorName(cfg)}`;
    this.registerOutputs({ sensor: this.sensor });
  }
}
