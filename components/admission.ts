/**
 * The admission fence: ValidatingAdmissionPolicies (with Deny bindings) that hold the pipeline's and
 * the sweeper's service accounts to their own previews, whatever RBAC lets them do cluster-wide.
 *   - Namespaces: create, update and delete only `impl-pr-<N>` carrying `preview=true` (an update
 *     may neither remove the label nor adopt a namespace without it), created and kept with the
 *     Pod Security labels at `restricted` (no pinned older policy version).
 *   - RoleBindings: only inside such namespaces, only to the deployer or guardrails ClusterRole, and
 *     only for our service accounts and the namespace's own `preview-deployer`.
 * Everyone else is untouched: each policy's `matchConditions` select the two service-account users.
 *
 * In Kubernetes CEL a property named like a CEL keyword is escaped: a subject's `namespace` is
 * `__namespace__`. The request's namespace is read from `namespaceObject.metadata.name`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { StackConfig } from "./config";
import { DEPLOYER_CLUSTER_ROLE, GUARDRAILS_CLUSTER_ROLE, serviceAccountUser } from "./rbac";
import { COMMON_LABELS } from "./workflow/spec-defaults";

/** Name of the policy (and binding) fencing namespaces. */
export const NAMESPACE_POLICY = "implementation-dag-namespaces";
/** Name of the policy (and binding) fencing RoleBindings. */
export const ROLEBINDING_POLICY = "implementation-dag-rolebindings";

/** A preview namespace's name, as a CEL (RE2) pattern. */
export const PREVIEW_NAMESPACE_PATTERN = "^impl-pr-[1-9][0-9]{0,8}$";
/** The service account that runs a preview's chart (created by deploy in the preview namespace). */
export const PREVIEW_DEPLOYER_SA = "preview-deployer";

const PSS_MODES = "['enforce', 'audit', 'warn']";

/** CEL: `o` carries `preview=true`. */
const hasPreviewLabel = (o: string) =>
  `has(${o}.metadata.labels) && 'preview' in ${o}.metadata.labels && ${o}.metadata.labels['preview'] == 'true'`;

/** CEL list literal of strings. */
const celList = (items: string[]) => `[${items.map((s) => `'${s}'`).join(", ")}]`;

/** The matchConditions selecting only our two service accounts. */
function ourServiceAccounts(cfg: StackConfig) {
  const users = [cfg.serviceAccounts.steps, cfg.serviceAccounts.sweeper].map((n) => serviceAccountUser(cfg, n));
  return [{ name: "implementation-dag-service-accounts", expression: `request.userInfo.username in ${celList(users)}` }];
}

/** The namespace policy. */
export function namespacePolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: NAMESPACE_POLICY, labels: { ...COMMON_LABELS } },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["namespaces"] }],
      },
      matchConditions: ourServiceAccounts(cfg),
      variables: [
        { name: "name", expression: "request.operation == 'DELETE' ? oldObject.metadata.name : object.metadata.name" },
        { name: "oldPreview", expression: `request.operation != 'CREATE' && ${hasPreviewLabel("oldObject")}` },
        { name: "newPreview", expression: `request.operation != 'DELETE' && ${hasPreviewLabel("object")}` },
      ],
      validations: [
        {
          expression: `variables.name.matches('${PREVIEW_NAMESPACE_PATTERN}')`,
          message: "implementation-dag may only create, change or delete namespaces named impl-pr-<N>",
          reason: "Forbidden",
        },
        {
          expression: "(request.operation == 'CREATE' || variables.oldPreview) && (request.operation == 'DELETE' || variables.newPreview)",
          message: "implementation-dag may only touch namespaces labelled preview=true, and may not remove that label",
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
    },
  };
}

/** The RoleBinding policy. */
export function roleBindingPolicy(cfg: StackConfig): IValidatingAdmissionPolicy {
  const ours = celList([cfg.serviceAccounts.steps, cfg.serviceAccounts.sweeper]);
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: ROLEBINDING_POLICY, labels: { ...COMMON_LABELS } },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: [{ apiGroups: ["rbac.authorization.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["rolebindings"] }],
      },
      matchConditions: ourServiceAccounts(cfg),
      variables: [{ name: "binding", expression: "request.operation == 'DELETE' ? oldObject : object" }],
      validations: [
        {
          expression: `namespaceObject.metadata.name.matches('${PREVIEW_NAMESPACE_PATTERN}') && ${hasPreviewLabel("namespaceObject")}`,
          message: "implementation-dag may only bind roles inside impl-pr-<N> namespaces labelled preview=true",
          reason: "Forbidden",
        },
        {
          expression:
            "variables.binding.roleRef.apiGroup == 'rbac.authorization.k8s.io' && variables.binding.roleRef.kind == 'ClusterRole' && " +
            `variables.binding.roleRef.name in ${celList([DEPLOYER_CLUSTER_ROLE, GUARDRAILS_CLUSTER_ROLE])}`,
          message: `implementation-dag may only bind the ClusterRoles ${DEPLOYER_CLUSTER_ROLE} and ${GUARDRAILS_CLUSTER_ROLE}`,
          reason: "Forbidden",
        },
        {
          expression:
            "!has(variables.binding.subjects) || variables.binding.subjects.all(s, s.kind == 'ServiceAccount' && (" +
            `(has(s.__namespace__) && s.__namespace__ == '${cfg.namespace}' && s.name in ${ours}) || ` +
            `((!has(s.__namespace__) || s.__namespace__ == namespaceObject.metadata.name) && s.name == '${PREVIEW_DEPLOYER_SA}')))`,
          message: `implementation-dag may only bind its own service accounts and the namespace's ${PREVIEW_DEPLOYER_SA}`,
          reason: "Forbidden",
        },
      ],
    },
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

/** Every object of the admission fence: the two policies and their bindings. */
export function buildAdmissionFence(cfg: StackConfig): Array<IValidatingAdmissionPolicy | IValidatingAdmissionPolicyBinding> {
  return [namespacePolicy(cfg), denyBinding(NAMESPACE_POLICY), roleBindingPolicy(cfg), denyBinding(ROLEBINDING_POLICY)];
}

/** Arguments of {@link AdmissionFence}. */
export interface AdmissionFenceArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the admission fence. */
export class AdmissionFence extends pulumi.ComponentResource {
  /** Names of the policies. */
  public readonly policies: string[];

  constructor(name: string, args: AdmissionFenceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:AdmissionFence", name, {}, opts);
    const parent = { parent: this };
    for (const obj of buildAdmissionFence(args.config)) {
      const id = obj.metadata?.name ?? "";
      if (obj.kind === "ValidatingAdmissionPolicy") {
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyArgs, parent);
      } else {
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(id, obj as k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingArgs, parent);
      }
    }
    this.policies = [NAMESPACE_POLICY, ROLEBINDING_POLICY];
    this.registerOutputs({ policies: this.policies });
  }
}
