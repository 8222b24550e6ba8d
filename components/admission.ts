/**
 * The admission fence: ValidatingAdmissionPolicies (with Deny bindings) that hold the pipeline's
 * service accounts to what they are for, whatever RBAC lets them do.
 *   - Namespaces (the steps and the sweeper): create, update and delete only preview namespaces
 *     (`impl-<owner>-<repo>-<hash>-pr-<N>`, or `impl-pr-<N>` with the `pr-number` naming) carrying
 *     `preview=true` (an update may neither remove the label nor adopt a namespace without it) and
 *     this stack's `implementation-dag/instance` label, before and after (an update may adopt a
 *     preview that has no instance label yet but records its repository: previews made before the
 *     label existed), created and kept with the Pod Security labels at `restricted` (no pinned older
 *     policy version).
 *   - RoleBindings (the steps and the sweeper): only inside such namespaces of this stack, only to
 *     this stack's deployer or guardrails ClusterRole, and only for our service accounts and the
 *     namespace's own `preview-deployer`.
 *   - Workflows (the agents): only the agents' child Workflow of the agent template, in the
 *     workflows namespace, with a deadline, never running as one of our service accounts.
 *   - What a preview's chart creates or updates (the `preview-deployer` of any preview namespace,
 *     whose chart comes from the untrusted PR): no Ingress host outside the preview's host (recorded
 *     by deploy on the namespace, `implementation-dag/host`) and no Ingress default backend, no
 *     Service of type ExternalName, no `externalIPs`, no finalizer of the chart's own.
 * Everyone else is untouched: each policy's `matchConditions` select its service-account users.
 * Every policy and binding is named from the stack's instance (`clusterScopedName`), so a second
 * stack on the cluster installs its own fence beside this one.
 *
 * A ValidatingAdmissionPolicy sees the request's objects as plain, unescaped maps (the `__name__`
 * escaping of CEL keywords applies only to CRD validation rules). `namespace` is a CEL reserved
 * word, and a field selection `x.namespace` does not compile before Kubernetes 1.32, so a subject's
 * namespace is read as `'namespace' in s && s['namespace']`, and the request's namespace from
 * `namespaceObject.metadata.name`. Every expression here parses on Kubernetes 1.30.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { StackConfig } from "./config";
import { clusterScopedName, deployerClusterRole, guardrailsClusterRole, INSTANCE_LABEL, serviceAccountUser, stackInstance } from "./rbac";
import { CODERUN_PARAMETERS } from "./workflow/agents";
import { PREVIEW_NAMESPACE_PATTERN } from "./names";
import { COMMON_LABELS } from "./argo/spec-defaults";

/** Name of the policy (and binding) fencing namespaces. */
export const namespacePolicyName = (cfg: StackConfig): string => clusterScopedName(cfg, "namespaces");
/** Name of the policy (and binding) fencing RoleBindings. */
export const roleBindingPolicyName = (cfg: StackConfig): string => clusterScopedName(cfg, "rolebindings");
/** Name of the policy (and binding) fencing the Workflows the agents' service account creates. */
export const agentWorkflowsPolicyName = (cfg: StackConfig): string => clusterScopedName(cfg, "agent-workflows");

/** Name of the policy (and binding) fencing what a preview's chart creates. */
export const previewChartsPolicyName = (cfg: StackConfig): string => clusterScopedName(cfg, "preview-charts");

/** The annotation deploy records a preview's host in: the chart's Ingress hosts must be it or under it. */
export const HOST_ANNOTATION = "implementation-dag/host";

/**
 * Finalizers a chart's object may carry without the chart having chosen them: the API server's own
 * PVC protection (added by admission before any policy runs) and the garbage collector's, which it
 * removes itself. Any other finalizer would need a controller to remove it, and one nobody removes
 * leaves the preview namespace Terminating for good.
 */
export const SYSTEM_FINALIZERS = ["kubernetes.io/pvc-protection", "foregroundDeletion", "orphan"] as const;

/** The annotation deploy records a preview's repository in (`owner/repo`). */
export const REPOSITORY_ANNOTATION = "implementation-dag/repository";

/**
 * The `spec` keys an agent's child Workflow may carry: the agent template by reference, its
 * arguments, the configured service account, its deadline, and `shutdown` (the exit handler stops
 * the agents a failed run leaves running). Anything else (inline templates,
 * podSpecPatch, volumes, hostNetwork, a workflow-level security context…) would let the agents'
 * service account run a pod of its own making.
 */
export const AGENT_WORKFLOW_SPEC_KEYS = ["workflowTemplateRef", "arguments", "serviceAccountName", "activeDeadlineSeconds", "shutdown"] as const;

/** A preview namespace's name, as a CEL (RE2) pattern. */
export { PREVIEW_NAMESPACE_PATTERN } from "./names";
/** The service account that runs a preview's chart (created by deploy in the preview namespace). */
export const PREVIEW_DEPLOYER_SA = "preview-deployer";

const PSS_MODES = "['enforce', 'audit', 'warn']";

/** CEL: `o` carries `preview=true`. */
const hasPreviewLabel = (o: string) =>
  `has(${o}.metadata.labels) && 'preview' in ${o}.metadata.labels && ${o}.metadata.labels['preview'] == 'true'`;

/** CEL: `o` carries the label `key` (any value). */
const hasLabel = (o: string, key: string) => `has(${o}.metadata.labels) && '${key}' in ${o}.metadata.labels`;

/** CEL: `o` carries this stack's instance label. */
const ofInstance = (o: string, cfg: StackConfig) =>
  `${hasLabel(o, INSTANCE_LABEL)} && ${o}.metadata.labels['${INSTANCE_LABEL}'] == '${stackInstance(cfg)}'`;

/** CEL list literal of strings. */
const celList = (items: string[]) => `[${items.map((s) => `'${s}'`).join(", ")}]`;

/** The matchConditions selecting only the steps' and the sweeper's service accounts. */
function ourServiceAccounts(cfg: StackConfig) {
  const users = [cfg.serviceAccounts.steps, cfg.serviceAccounts.sweeper].map((n) => serviceAccountUser(cfg, n));
  return [{ name: "implementation-dag-service-accounts", expression: `request.userInfo.username in ${celList(users)}` }];
}

/** The namespace policy. */
export function namespacePolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  return failClosedPolicy(namespacePolicyName(cfg), {
    matchConstraints: {
      resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["namespaces"] }],
    },
    matchConditions: ourServiceAccounts(cfg),
    variables: [
      { name: "name", expression: "request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name" },
      { name: "oldPreview", expression: `request.operation != 'CREATE' && ${hasPreviewLabel("oldObject")}` },
      { name: "newPreview", expression: `request.operation != 'DELETE' && ${hasPreviewLabel("object")}` },
      { name: "oldOurs", expression: `request.operation != 'CREATE' && ${ofInstance("oldObject", cfg)}` },
      { name: "newOurs", expression: `request.operation != 'DELETE' && ${ofInstance("object", cfg)}` },
      // A preview made before the instance label existed: no instance label at all, and the
      // repository deploy recorded on it (deploy adopts it only for that repository).
      {
        name: "adoptable",
        expression:
          `request.operation == 'UPDATE' && !(${hasLabel("oldObject", INSTANCE_LABEL)}) && has(oldObject.metadata.annotations) && ` +
          `'${REPOSITORY_ANNOTATION}' in oldObject.metadata.annotations && oldObject.metadata.annotations['${REPOSITORY_ANNOTATION}'] != ''`,
      },
    ],
    validations: [
      {
        expression: `variables.name.matches('${PREVIEW_NAMESPACE_PATTERN}')`,
        message: "implementation-dag may only create, change or delete preview namespaces (impl-<owner>-<repo>-<hash>-pr-<N> or impl-pr-<N>)",
        reason: "Forbidden",
      },
      {
        expression: "(request.operation == 'CREATE' || variables.oldPreview) && (request.operation == 'DELETE' || variables.newPreview)",
        message: "implementation-dag may only touch namespaces labelled preview=true, and may not remove that label",
        reason: "Forbidden",
      },
      {
        expression:
          "(request.operation == 'CREATE' || variables.oldOurs || variables.adoptable) && (request.operation == 'DELETE' || variables.newOurs)",
        message:
          `implementation-dag (instance ${stackInstance(cfg)}) may only touch preview namespaces labelled ${INSTANCE_LABEL}=${stackInstance(cfg)} ` +
          `(or adopt one without that label that records its repository), and may not change or remove that label`,
        reason: "Forbidden",
      },
      {
        expression:
          `request.operation == 'DELETE' || ${PSS_MODES}.all(m, has(object.metadata.labels) && ` +
          "('pod-security.kubernetes.io/' + m) in object.metadata.labels && " +
          "object.metadata.labels['pod-security.kubernetes.io/' + m] == 'restricted')",
        message: "a preview namespace must keep pod-security.kubernetes.io/enforce, audit and warn at restricted",
        reason: "Forbidden",
      },
      {
        expression:
          `request.operation == 'DELETE' || !has(object.metadata.labels) || ${PSS_MODES}.all(m, ` +
          "!(('pod-security.kubernetes.io/' + m + '-version') in object.metadata.labels) || " +
          "object.metadata.labels['pod-security.kubernetes.io/' + m + '-version'] == 'latest')",
        message: "a preview namespace may not pin an older Pod Security policy version",
        reason: "Forbidden",
      },
    ],
  });
}

/** The RoleBinding policy. */
export function roleBindingPolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  const ours = celList([cfg.serviceAccounts.steps, cfg.serviceAccounts.sweeper]);
  return failClosedPolicy(roleBindingPolicyName(cfg), {
    matchConstraints: {
      resourceRules: [{ apiGroups: ["rbac.authorization.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["rolebindings"] }],
    },
    matchConditions: ourServiceAccounts(cfg),
    variables: [{ name: "binding", expression: "request.operation == 'DELETE' ? oldObject : object" }],
    validations: [
      {
        expression: `namespaceObject.metadata.name.matches('${PREVIEW_NAMESPACE_PATTERN}') && ${hasPreviewLabel("namespaceObject")}`,
        message: "implementation-dag may only bind roles inside preview namespaces (impl-<owner>-<repo>-<hash>-pr-<N> or impl-pr-<N>) labelled preview=true",
        reason: "Forbidden",
      },
      {
        expression: ofInstance("namespaceObject", cfg),
        message: `implementation-dag (instance ${stackInstance(cfg)}) may only bind roles inside preview namespaces labelled ${INSTANCE_LABEL}=${stackInstance(cfg)}`,
        reason: "Forbidden",
      },
      {
        expression:
          "variables.binding.roleRef.apiGroup == 'rbac.authorization.k8s.io' && variables.binding.roleRef.kind == 'ClusterRole' && " +
          `variables.binding.roleRef.name in ${celList([deployerClusterRole(cfg), guardrailsClusterRole(cfg)])}`,
        message: `implementation-dag may only bind the ClusterRoles ${deployerClusterRole(cfg)} and ${guardrailsClusterRole(cfg)}`,
        reason: "Forbidden",
      },
      {
        expression:
          // `namespace` is a CEL reserved word: index syntax, never a field selection.
          "!has(variables.binding.subjects) || variables.binding.subjects.all(s, s.kind == 'ServiceAccount' && (" +
          `('namespace' in s && s['namespace'] == '${cfg.namespace}' && s.name in ${ours}) || ` +
          `((!('namespace' in s) || s['namespace'] == namespaceObject.metadata.name) && s.name == '${PREVIEW_DEPLOYER_SA}')))`,
        message: `implementation-dag may only bind its own service accounts and the namespace's ${PREVIEW_DEPLOYER_SA}`,
        reason: "Forbidden",
      },
    ],
  });
}

/**
 * The agent Workflows policy. The agents' service account is the only step account that may create
 * Workflows; this holds it to exactly the child Workflow `agentWorkflowManifest` renders: in the
 * workflows namespace, a `workflowTemplateRef` to the agent template and nothing it could run
 * itself, parameters by value only (no `valueFrom` reading ConfigMaps through the controller), a
 * positive deadline, and the configured service account or the template's own, never ours.
 */
export function agentWorkflowsPolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  const ours = celList(Object.values(cfg.serviceAccounts));
  const spec = "object.spec";
  const ref = `${spec}.workflowTemplateRef`;
  const clusterScope = cfg.agent.clusterScope
    ? `has(${ref}.clusterScope) && ${ref}.clusterScope == true`
    : `(!has(${ref}.clusterScope) || ${ref}.clusterScope == false)`;
  const serviceAccount = cfg.agent.serviceAccountName
    ? `has(${spec}.serviceAccountName) && ${spec}.serviceAccountName == '${cfg.agent.serviceAccountName}'`
    : `!has(${spec}.serviceAccountName)`;
  return failClosedPolicy(agentWorkflowsPolicyName(cfg), {
    matchConstraints: {
      // Every version: a later Argo API version must not be a way around the fence.
      resourceRules: [{ apiGroups: ["argoproj.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["workflows"] }],
    },
    matchConditions: [
      { name: "implementation-dag-agents", expression: `request.userInfo.username == '${serviceAccountUser(cfg, cfg.serviceAccounts.agents)}'` },
    ],
    validations: [
      {
        // object.metadata's namespace may be absent on create; the request's namespace is the truth.
        expression: `namespaceObject.metadata.name == '${cfg.namespace}'`,
        message: `the agents may only create Workflows in ${cfg.namespace}`,
        reason: "Forbidden",
      },
      {
        expression: `has(${spec}) && ${spec}.all(k, k in ${celList([...AGENT_WORKFLOW_SPEC_KEYS])})`,
        message: `an agent Workflow's spec may only hold ${AGENT_WORKFLOW_SPEC_KEYS.join(", ")}`,
        reason: "Forbidden",
      },
      {
        expression:
          `has(${ref}) && ${ref}.all(k, k in ['name', 'clusterScope']) && ` +
          `${ref}.name == '${cfg.agent.templateName}' && ${clusterScope}`,
        message: `an agent Workflow must reference the ${cfg.agent.clusterScope ? "ClusterWorkflowTemplate" : "WorkflowTemplate"} ${cfg.agent.templateName}`,
        reason: "Forbidden",
      },
      {
        expression:
          `!has(${spec}.arguments) || (${spec}.arguments.all(k, k == 'parameters') && ` +
          `(!has(${spec}.arguments.parameters) || ${spec}.arguments.parameters.all(p, ` +
          `p.all(k, k in ['name', 'value']) && p.name in ${celList([...CODERUN_PARAMETERS])})))`,
        message: "an agent Workflow may only pass the agent template's parameters, by value",
        reason: "Forbidden",
      },
      {
        expression: serviceAccount,
        message: cfg.agent.serviceAccountName
          ? `an agent Workflow must run as ${cfg.agent.serviceAccountName}`
          : "an agent Workflow must run as the agent template's own service account (no serviceAccountName)",
        reason: "Forbidden",
      },
      {
        expression: `!has(${spec}.serviceAccountName) || !(${spec}.serviceAccountName in ${ours})`,
        message: "an agent Workflow may never run as one of implementation-dag's service accounts",
        reason: "Forbidden",
      },
      {
        expression: `!has(${spec}.shutdown) || ${spec}.shutdown in ['Stop', 'Terminate']`,
        message: "an agent Workflow's shutdown may only be Stop or Terminate",
        reason: "Forbidden",
      },
      {
        expression: `has(${spec}.activeDeadlineSeconds) && ${spec}.activeDeadlineSeconds > 0`,
        message: "an agent Workflow must carry a positive activeDeadlineSeconds",
        reason: "Forbidden",
      },
    ],
  });
}

/**
 * The `request.userInfo.username` of every preview namespace's `preview-deployer`, as an RE2 pattern:
 * `system:serviceaccount:<preview namespace>:preview-deployer`.
 */
export const PREVIEW_DEPLOYER_USER_PATTERN = `^system:serviceaccount:${PREVIEW_NAMESPACE_PATTERN.replace(/^\^/, "").replace(/\$$/, "")}:${PREVIEW_DEPLOYER_SA}$`;

/**
 * The preview charts policy: what a PR's chart, installed by its namespace's `preview-deployer`, may
 * not create or update, whatever RBAC lets the deployer write. Every namespaced kind of every group
 * is matched (the finalizer rule holds for all of them); the kind-specific rules read
 * `object.kind`, which a request's object always carries.
 */
export function previewChartsPolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  const isKind = (kind: string) => `object.kind == '${kind}'`;
  const allowedHost = (h: string) => `(variables.host != '' && (${h} == variables.host || ${h}.endsWith('.' + variables.host)))`;
  return failClosedPolicy(previewChartsPolicyName(cfg), {
    matchConstraints: {
      resourceRules: [{ apiGroups: ["*"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["*"], scope: "Namespaced" }],
    },
    matchConditions: [
      { name: "implementation-dag-preview-deployers", expression: `request.userInfo.username.matches('${PREVIEW_DEPLOYER_USER_PATTERN}')` },
    ],
    variables: [
      {
        name: "host",
        expression:
          `has(namespaceObject.metadata.annotations) && '${HOST_ANNOTATION}' in namespaceObject.metadata.annotations ? ` +
          `namespaceObject.metadata.annotations['${HOST_ANNOTATION}'] : ''`,
      },
      { name: "spec", expression: "has(object.spec) ? object.spec : {}" },
    ],
    validations: [
      {
        expression:
          `!(${isKind("Ingress")}) || ((!has(variables.spec.rules) || variables.spec.rules.all(r, has(r.host) && ${allowedHost("r.host")})) && ` +
          `(!has(variables.spec.tls) || variables.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, ${allowedHost("h")}))))`,
        message:
          `a preview's Ingress may only serve the preview's host (the namespace's ${HOST_ANNOTATION} annotation) or a name under it; ` +
          "every rule needs such a host and every TLS host must be one",
        reason: "Forbidden",
      },
      {
        expression: `!(${isKind("Ingress")}) || !has(variables.spec.defaultBackend)`,
        message: "a preview's Ingress may not set a defaultBackend (it would answer for hosts that are not the preview's)",
        reason: "Forbidden",
      },
      {
        expression: `!(${isKind("Service")}) || !has(variables.spec.type) || variables.spec.type != 'ExternalName'`,
        message: "a preview may not create a Service of type ExternalName (a name the ingress controller would proxy to outside the preview)",
        reason: "Forbidden",
      },
      {
        expression: `!(${isKind("Service")}) || !has(variables.spec.externalIPs) || size(variables.spec.externalIPs) == 0`,
        message: "a preview's Service may not set externalIPs (CVE-2020-8554: it would capture traffic meant for those addresses)",
        reason: "Forbidden",
      },
      {
        expression:
          "!has(object.metadata.finalizers) || object.metadata.finalizers.all(f, " +
          `f in ${celList([...SYSTEM_FINALIZERS])} || ` +
          "(request.operation == 'UPDATE' && has(oldObject.metadata.finalizers) && f in oldObject.metadata.finalizers))",
        message:
          `a preview's chart may not set finalizers (only ${SYSTEM_FINALIZERS.join(", ")}, or one the object already carried): ` +
          "a finalizer nobody removes leaves the namespace Terminating for good",
        reason: "Forbidden",
      },
    ],
  });
}

/** A ValidatingAdmissionPolicy of ours: our labels, and an expression that errors denies (failurePolicy Fail). */
export function failClosedPolicy(name: string, spec: Omit<NonNullable<IValidatingAdmissionPolicy["spec"]>, "failurePolicy">): IValidatingAdmissionPolicy {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name, labels: { ...COMMON_LABELS } },
    spec: { failurePolicy: "Fail", ...spec },
  };
}

/** The Deny binding of a policy. */
export function denyBinding(policyName: string): IValidatingAdmissionPolicyBinding {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: policyName, labels: { ...COMMON_LABELS } },
    spec: { policyName, validationActions: ["Deny"] },
  };
}

/** Every object of the admission fence: the four policies, each followed by its Deny binding. */
export function buildAdmissionFence(cfg: StackConfig): Array<IValidatingAdmissionPolicy | IValidatingAdmissionPolicyBinding> {
  return [namespacePolicy(cfg), roleBindingPolicy(cfg), agentWorkflowsPolicy(cfg), previewChartsPolicy(cfg)].flatMap((p) => [p, denyBinding(p.metadata?.name ?? "")]);
}

/** Arguments of {@link AdmissionFence}. */
export interface AdmissionFenceArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/**
 * Registers the admission fence. Throws when `agent.serviceAccountName` names one of our own
 * service accounts: the fence would refuse every agent's child Workflow.
 */
export class AdmissionFence extends pulumi.ComponentResource {
  /** Names of the policies (each bound with `validationActions: [Deny]` under the same name). */
  public readonly policies: string[];

  constructor(name: string, args: AdmissionFenceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:AdmissionFence", name, {}, opts);
    const cfg = args.config;
    if (Object.values(cfg.serviceAccounts).includes(cfg.agent.serviceAccountName)) {
      throw new pulumi.ResourceError(
        `agent.serviceAccountName ${cfg.agent.serviceAccountName} is one of implementation-dag's own service accounts, ` +
          "which the fence refuses to the agents' child Workflows: leave it empty or name the agent template's account",
        this,
      );
    }
    const parent = { parent: this };
    for (const obj of buildAdmissionFence(cfg)) {
      const id = obj.metadata?.name ?? "";
      if (obj.kind === "ValidatingAdmissionPolicy") {
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyArgs, parent);
      } else {
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingArgs, parent);
      }
    }
    this.policies = [namespacePolicyName(cfg), roleBindingPolicyName(cfg), agentWorkflowsPolicyName(cfg), previewChartsPolicyName(cfg)];
    this.registerOutputs({ policies: this.policies });
  }
}
