/**
 * Least-privilege RBAC of the pipeline: its service accounts, the two ClusterRoles deploy binds
 * inside each preview namespace, the cluster-scope rights of the steps and of the sweeper (fenced
 * to this stack's preview namespaces by the admission policies in `admission.ts`), and what Argo's
 * executor needs. Every cluster-scoped name carries the stack's instance ({@link clusterScopedName}),
 * so two stacks (two Argo namespaces) share a cluster without colliding. No rule holds `*`, `escalate` or `impersonate`, and nothing reads secrets cluster-wide:
 * the only rule on secrets is in the deployer ClusterRole, which is only ever bound per namespace.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import type { ISubject } from "kubernetes-models/rbac.authorization.k8s.io/v1/Subject";
import type { StackConfig } from "./config";
import { COMMON_LABELS } from "./argo/spec-defaults";

/**
 * The label deploy puts on every preview namespace it creates or adopts: the instance (stack) the
 * preview belongs to. Two stacks on one cluster tell their previews apart by it; the admission fence
 * holds each stack's service accounts to namespaces carrying their own value.
 */
export const INSTANCE_LABEL = "implementation-dag/instance";

/**
 * The stack's instance: its workflows namespace. Each stack runs its workflows in an Argo namespace
 * of its own, so that namespace tells two stacks on one cluster apart; it is also a valid label value.
 */
export function stackInstance(cfg: StackConfig): string {
  return cfg.namespace;
}

/**
 * What each cluster-scoped object of the stack is for. No purpose ends in `-<another purpose>`, so
 * `<instance>-<purpose>` never reads the same for two instances (see {@link clusterScopedName}).
 */
export const CLUSTER_SCOPED_PURPOSES = ["deployer", "guardrails", "steps", "sweeper", "namespaces", "rolebindings", "agent-workflows", "preview-charts", "trigger-workflows"] as const;
/** One of {@link CLUSTER_SCOPED_PURPOSES}. */
export type ClusterScopedPurpose = (typeof CLUSTER_SCOPED_PURPOSES)[number];

/**
 * The name of a cluster-scoped object of the stack (ClusterRole, ClusterRoleBinding,
 * ValidatingAdmissionPolicy and its binding): `implementation-dag-<instance>-<purpose>`. Cluster-scoped
 * names are shared by every stack on the cluster, so each carries the stack's instance; every such
 * name comes from here, and the scripts that need one receive it through env.
 */
export function clusterScopedName(cfg: StackConfig, purpose: ClusterScopedPurpose): string {
  return `implementation-dag-${stackInstance(cfg)}-${purpose}`;
}

/** ClusterRole bound (by deploy, per preview namespace) to the chart's deployer and to the steps and sweeper. */
export const deployerClusterRole = (cfg: StackConfig): string => clusterScopedName(cfg, "deployer");
/** ClusterRole bound (by deploy, per preview namespace) to the steps: writes the guardrails. */
export const guardrailsClusterRole = (cfg: StackConfig): string => clusterScopedName(cfg, "guardrails");
/** Role (in the workflows namespace) of Argo's executor: reporting task results. */
export const EXECUTOR_ROLE = "implementation-dag-executor";
/** Role (in the workflows namespace) of the agent steps: creating and following their child Workflows. */
export const AGENTS_ROLE = "implementation-dag-agents";
/** Role (in the workflows namespace) of the sweeper's account: finding the pipeline's runs in progress. */
export const SWEEPER_RUNS_ROLE = "implementation-dag-sweeper-runs";
/** Role (in the workflows namespace) for the DocsRun runner. */
export const DOCSRUN_ROLE = "implementation-dag-docsrun";

const RBAC_GROUP = "rbac.authorization.k8s.io";
const READ = ["get", "list", "watch"];
const WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"];

/**
 * What a typical chart needs inside its one namespace, and nothing that could lift the guardrails:
 * no ResourceQuota, LimitRange or NetworkPolicy writes, no `escalate`, `bind` or `impersonate`.
 * Roles and RoleBindings of its own stay harmless: Kubernetes lets nobody grant a right they do
 * not hold, so a chart cannot grant more than this list.
 */
export const DEPLOYER_RULES: IPolicyRule[] = [
  { apiGroups: [""], resources: ["configmaps", "secrets", "services", "persistentvolumeclaims", "serviceaccounts", "pods"], verbs: WRITE },
  { apiGroups: [""], resources: ["pods/log", "endpoints", "events"], verbs: READ },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets", "daemonsets"], verbs: WRITE },
  { apiGroups: ["apps"], resources: ["replicasets"], verbs: READ },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: WRITE },
  { apiGroups: ["networking.k8s.io"], resources: ["ingresses"], verbs: WRITE },
  { apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"], verbs: WRITE },
  { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: WRITE },
  { apiGroups: [RBAC_GROUP], resources: ["roles", "rolebindings"], verbs: WRITE },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: READ },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: READ },
];

/** What deploy needs to lay the guardrails and the chart's deployer identity into a preview namespace. */
export const GUARDRAILS_RULES: IPolicyRule[] = [
  { apiGroups: [""], resources: ["resourcequotas", "limitranges"], verbs: ["get", "create", "patch", "update"] },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "create", "patch", "update"] },
  { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "create"] },
  { apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] },
];

/**
 * The steps' cluster-scope rights. Namespaces: deploy creates and reuses, cleanup patches (only the
 * expiry annotation) and deletes. RoleBindings: deploy binds this stack's deployer and guardrails
 * ClusterRoles, which needs `bind` on exactly those. The admission fence holds all of it to this
 * stack's preview namespaces.
 */
export function stepsRules(cfg: StackConfig): IPolicyRule[] {
  return [
    { apiGroups: [""], resources: ["namespaces"], verbs: ["create", "get", "list", "patch", "delete"] },
    { apiGroups: [RBAC_GROUP], resources: ["clusterroles"], verbs: ["bind"], resourceNames: [deployerClusterRole(cfg), guardrailsClusterRole(cfg)] },
    { apiGroups: [RBAC_GROUP], resources: ["rolebindings"], verbs: ["create"] },
  ];
}

/**
 * The sweeper's cluster-scope rights: its one list call, deleting (fenced) namespaces, and reading
 * PersistentVolumes to report those left Released by deleted previews (it never changes them).
 */
export const SWEEPER_RULES: IPolicyRule[] = [
  { apiGroups: [""], resources: ["namespaces"], verbs: ["list", "delete"] },
  { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["list"] },
];

/**
 * The uninstall (`components/uninstall.ts`, run as the sweeper's account) lists the workflows
 * namespace's unfinished Workflows to refuse while a run of the pipeline could still deploy a
 * preview. `list` only, in the workflows namespace only: it can neither read one by name nor change,
 * create or stop any.
 */
export const SWEEPER_RUNS_RULES: IPolicyRule[] = [
  { apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["list"] },
];

/** Argo's executor (the `wait` container) reports each step's outputs as a WorkflowTaskResult. */
export const EXECUTOR_RULES: IPolicyRule[] = [
  { apiGroups: ["argoproj.io"], resources: ["workflowtaskresults"], verbs: ["create", "patch"] },
];

/**
 * An agent step creates its child Workflow and follows it to its end (Argo's resource executor
 * reads it back until a condition holds); the exit handler's `stop-agents` lists a run's children
 * and terminates those still running (a patch of `spec.shutdown`). Only in the workflows
 * namespace: a Role, not a ClusterRole; and the admission fence holds what it may create or change
 * to the agent template's child Workflow.
 */
export const AGENTS_RULES: IPolicyRule[] = [
  { apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["create", "get", "list", "watch", "patch"] },
];

/** The DocsRun runner creates the CR and follows it to its end. */
export function docsRunRules(cfg: StackConfig): IPolicyRule[] {
  const group = cfg.deploy.docsrun.apiVersion.includes("/") ? cfg.deploy.docsrun.apiVersion.split("/")[0] : "";
  return [{ apiGroups: [group], resources: ["docsruns"], verbs: ["create", "get", "list", "watch"] }];
}

/** Every object of the RBAC component. */
export type RbacObject = IServiceAccount | ISecret | IClusterRole | IClusterRoleBinding | IRole | IRoleBinding;

/** The `system:serviceaccount:<ns>:<name>` user name of one of our service accounts. */
export function serviceAccountUser(cfg: StackConfig, name: string): string {
  return `system:serviceaccount:${cfg.namespace}:${name}`;
}

/** Builds every RBAC object from typed config. */
export function buildRbac(cfg: StackConfig): RbacObject[] {
  const ns = cfg.namespace;
  const labels = { ...COMMON_LABELS };
  const { steps, sweeper, executor, agents } = cfg.serviceAccounts;
  const sa = (name: string): ISubject => ({ kind: "ServiceAccount", name, namespace: ns });
  const serviceAccount = (name: string, description: string): IServiceAccount => ({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace: ns, labels, annotations: { "implementation-dag/purpose": description } },
  });
  const clusterRole = (name: string, rules: IPolicyRule[]): IClusterRole => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name, labels },
    rules,
  });
  const clusterRoleBinding = (name: string, subjects: ISubject[]): IClusterRoleBinding => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name, labels },
    roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name },
    subjects,
  });
  const role = (name: string, rules: IPolicyRule[]): IRole => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace: ns, labels },
    rules,
  });
  const roleBinding = (name: string, subjects: ISubject[]): IRoleBinding => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace: ns, labels },
    roleRef: { apiGroup: RBAC_GROUP, kind: "Role", name },
    subjects,
  });

  const objects: RbacObject[] = [
    serviceAccount(steps, "pipeline steps"),
    serviceAccount(sweeper, "TTL sweeper"),
    serviceAccount(agents, "agent steps: create and follow the agents' child Workflows"),
    { ...serviceAccount(executor, "Argo executor of steps that run without a token"), automountServiceAccountToken: false },
    // Argo mounts the executor's token from this Secret into steps that run without a token of
    // their own (Kubernetes >= 1.24 no longer creates it).
    {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: { name: `${executor}.service-account-token`, namespace: ns, labels, annotations: { "kubernetes.io/service-account.name": executor } },
    },
    clusterRole(deployerClusterRole(cfg), DEPLOYER_RULES),
    clusterRole(guardrailsClusterRole(cfg), GUARDRAILS_RULES),
    clusterRole(clusterScopedName(cfg, "steps"), stepsRules(cfg)),
    clusterRoleBinding(clusterScopedName(cfg, "steps"), [sa(steps)]),
    clusterRole(clusterScopedName(cfg, "sweeper"), SWEEPER_RULES),
    clusterRoleBinding(clusterScopedName(cfg, "sweeper"), [sa(sweeper)]),
    role(EXECUTOR_ROLE, EXECUTOR_RULES),
    // Every pod of ours runs Argo's executor: under its own service account, or the executor one.
    roleBinding(EXECUTOR_ROLE, [sa(steps), sa(sweeper), sa(executor), sa(agents)]),
    role(SWEEPER_RUNS_ROLE, SWEEPER_RUNS_RULES),
    roleBinding(SWEEPER_RUNS_ROLE, [sa(sweeper)]),
    role(AGENTS_ROLE, AGENTS_RULES),
    roleBinding(AGENTS_ROLE, [sa(agents)]),
  ];
  if (cfg.deploy.runner === "docsrun") {
    objects.push(role(DOCSRUN_ROLE, docsRunRules(cfg)), roleBinding(DOCSRUN_ROLE, [sa(steps)]));
  }
  return objects;
}

/** The Pulumi resource class of each kind of object buildRbac returns. */
const RESOURCE_OF_KIND: Record<string, new (name: string, args: never, opts: pulumi.CustomResourceOptions) => pulumi.CustomResource> = {
  ServiceAccount: k8s.core.v1.ServiceAccount,
  Secret: k8s.core.v1.Secret,
  ClusterRole: k8s.rbac.v1.ClusterRole,
  ClusterRoleBinding: k8s.rbac.v1.ClusterRoleBinding,
  Role: k8s.rbac.v1.Role,
  RoleBinding: k8s.rbac.v1.RoleBinding,
};

/** Arguments of {@link Rbac}. */
export interface RbacArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the pipeline's service accounts, roles and bindings. */
export class Rbac extends pulumi.ComponentResource {
  /** Names of the service accounts (steps, sweeper, executor) in the workflows namespace. */
  public readonly serviceAccounts: { steps: string; sweeper: string; executor: string; agents: string };

  constructor(name: string, args: RbacArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:Rbac", name, {}, opts);
    const parent = { parent: this };
    for (const obj of buildRbac(args.config)) {
      const Kind = RESOURCE_OF_KIND[obj.kind];
      if (!Kind) throw new pulumi.ResourceError(`unexpected RBAC object kind ${obj.kind}`, this);
      // Each class takes its own kind's args; the table pairs them, so the object is passed as is.
      new Kind(obj.metadata?.name ?? "", obj as never, parent);
    }
    this.serviceAccounts = { ...args.config.serviceAccounts };
    this.registerOutputs({ serviceAccounts: this.serviceAccounts });
  }
}
