/**
 * The invariants of implementation-dag as CrossGuard policies, enforced on any change by
 * `pulumi preview --policy-pack policy`. Pure definitions: `index.ts` serves them as a pack, the
 * tests call each validation directly.
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IWorkflowSpec } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowSpec";
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import { GUARDRAIL_FILES, GUARDRAILS_CONFIGMAP } from "../components/guardrails";
import { findDeploymentsWithoutAutoMergeOffIn, findMergeVectorsIn } from "../components/no-merge";
import { executableText } from "../components/argo/lint";

/** Type tokens of Argo objects that carry workflow templates. */
const WORKFLOW_TYPES: Record<string, (props: Record<string, unknown>) => IWorkflowSpec | undefined> = {
  "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate": (p) => p.spec as IWorkflowSpec | undefined,
  "kubernetes:argoproj.io/v1alpha1:ClusterWorkflowTemplate": (p) => p.spec as IWorkflowSpec | undefined,
  "kubernetes:argoproj.io/v1alpha1:Workflow": (p) => p.spec as IWorkflowSpec | undefined,
  "kubernetes:argoproj.io/v1alpha1:CronWorkflow": (p) => (p.spec as { workflowSpec?: IWorkflowSpec } | undefined)?.workflowSpec,
};

const ROLE_TYPES = ["kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"];
const CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole";
const CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";
const SECRET = "kubernetes:core/v1:Secret";

/** Each guardrail template file, and the kind of object it must hold. */
const GUARDRAIL_KINDS: Record<string, string> = {
  [GUARDRAIL_FILES.resourceQuota]: "ResourceQuota",
  [GUARDRAIL_FILES.limitRange]: "LimitRange",
  [GUARDRAIL_FILES.networkPolicy]: "NetworkPolicy",
};

/** Names of the GitHub App secrets. */
export const GITHUB_APP_SECRET = /^github-app-/;

const READ_VERBS = ["get", "list", "watch", "*"];

function objectName(props: Record<string, unknown>): string {
  return ((props.metadata as { name?: string } | undefined)?.name) ?? "";
}

/** Templates of our own pods (script or container) in a workflow spec. */
function podTemplates(spec: IWorkflowSpec): ITemplate[] {
  return (spec.templates ?? []).filter((t) => t.script ?? t.container);
}

/** Why a pod template is not Pod-Security-restricted with requests and limits (empty when it is). */
export function restrictedProblems(spec: IWorkflowSpec, t: ITemplate): string[] {
  const c = (t.script ?? t.container)!;
  const pod = { ...(spec.securityContext ?? {}), ...(t.securityContext ?? {}) };
  const sc = c.securityContext ?? {};
  const problems: string[] = [];
  const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
  const runAsUser = sc.runAsUser ?? pod.runAsUser;
  const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
  if (runAsNonRoot !== true) problems.push("runAsNonRoot is not true");
  if (runAsUser === 0) problems.push("runAsUser is 0");
  if (sc.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation is not false");
  if (sc.privileged === true) problems.push("privileged");
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push("capabilities do not drop ALL");
  if ((sc.capabilities?.add ?? []).some((cap) => cap !== "NET_BIND_SERVICE")) problems.push("adds capabilities beyond NET_BIND_SERVICE");
  if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push("seccompProfile is not RuntimeDefault or Localhost");
  if (sc.readOnlyRootFilesystem !== true) problems.push("readOnlyRootFilesystem is not true");
  for (const kind of ["requests", "limits"] as const) {
    for (const r of ["cpu", "memory"]) {
      if (c.resources?.[kind]?.[r] === undefined) problems.push(`no ${kind}.${r}`);
    }
  }
  return problems;
}

/** Why a Role/ClusterRole rule is too broad (empty when it is not). */
export function ruleProblems(rule: IPolicyRule): string[] {
  const problems: string[] = [];
  for (const field of ["apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"] as const) {
    if ((rule[field] ?? []).some((v) => v.includes("*"))) problems.push(`wildcard in ${field}`);
  }
  for (const verb of ["escalate", "impersonate"]) if (rule.verbs.includes(verb)) problems.push(`verb ${verb}`);
  return problems;
}

const readsSecrets = (rule: IPolicyRule) =>
  (rule.resources ?? []).some((r) => r === "secrets" || r === "*") &&
  (rule.apiGroups ?? [""]).some((g) => g === "" || g === "*") &&
  rule.verbs.some((v) => READ_VERBS.includes(v));

/** No merge endpoint, mutation or push in any Argo workflow object. */
export const noMergeVectors: ResourceValidationPolicy = {
  name: "no-merge-vectors",
  description: "No Argo workflow object may contain a merge endpoint, merge or ref mutation, commit by API, dispatch or push, in any case or encoding: the pipeline approves, a human merges.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (!(args.type in WORKFLOW_TYPES)) return;
    for (const found of findMergeVectorsIn(args.props)) report(`${found.vector} at ${found.at}: ${found.line}`);
    // A deployment request without auto_merge: false merges the default branch into the PR's branch.
    for (const found of findDeploymentsWithoutAutoMergeOffIn(args.props)) report(`deployment request without auto_merge: false at ${found.at}: ${found.statement}`);
  },
};

/** No `{{…}}` in executable text of any template. */
export const noExpressionsInExecutableText: ResourceValidationPolicy = {
  name: "no-expressions-in-executable-text",
  description: "Argo substitutes {{…}} textually, so no script source, command or args may contain one: values go through env.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const spec = WORKFLOW_TYPES[args.type]?.(args.props);
    for (const t of spec?.templates ?? []) {
      for (const e of executableText(t)) if (e.text.includes("{{")) report(`${e.at} contains {{…}}`);
    }
  },
};

/** Every step pod restricted, with requests and limits. */
export const restrictedStepPods: ResourceValidationPolicy = {
  name: "restricted-step-pods",
  description: "Every step pod meets Pod Security 'restricted' and carries cpu/memory requests and limits.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const spec = WORKFLOW_TYPES[args.type]?.(args.props);
    if (!spec) return;
    for (const t of podTemplates(spec)) {
      const problems = restrictedProblems(spec, t);
      if (problems.length > 0) report(`template ${t.name}: ${problems.join("; ")}`);
    }
  },
};

/** No wildcard, escalate or impersonate in any Role or ClusterRole. */
export const leastPrivilegeRoles: ResourceValidationPolicy = {
  name: "least-privilege-roles",
  description: "No Role or ClusterRole grants a wildcard, escalate or impersonate.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!ROLE_TYPES.includes(args.type)) return;
    ((args.props.rules ?? []) as IPolicyRule[]).forEach((rule, i) => {
      const problems = ruleProblems(rule);
      if (problems.length > 0) report(`${objectName(args.props)} rule ${i}: ${problems.join("; ")}`);
    });
  },
};

/** No ClusterRole that reads secrets is bound cluster-wide. */
export const noClusterWideSecretReads: StackValidationPolicy = {
  name: "no-cluster-wide-secret-reads",
  description: "A ClusterRole that reads secrets may only be granted inside namespaces (RoleBindings), never by a ClusterRoleBinding.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const readers = new Set(
      args.resources
        .filter((r) => r.type === CLUSTER_ROLE && ((r.props.rules ?? []) as IPolicyRule[]).some(readsSecrets))
        .map((r) => objectName(r.props)),
    );
    for (const b of args.resources.filter((r) => r.type === CLUSTER_ROLE_BINDING)) {
      const role = (b.props.roleRef as { kind?: string; name?: string } | undefined) ?? {};
      if (role.kind === "ClusterRole" && role.name && readers.has(role.name)) {
        report(`ClusterRoleBinding ${objectName(b.props)} grants ${role.name}, which reads secrets, cluster-wide`, b.urn);
      }
    }
  },
};

/** The preview guardrail templates exist and are not empty. */
export const previewGuardrailsPresent: StackValidationPolicy = {
  name: "preview-guardrails-present",
  description: `The ConfigMap ${GUARDRAILS_CONFIGMAP} holds a non-empty ResourceQuota, LimitRange and NetworkPolicy template.`,
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    const cm = args.resources.find((r: PolicyResource) => r.type === CONFIG_MAP && objectName(r.props) === GUARDRAILS_CONFIGMAP);
    if (!cm) {
      report(`the stack declares no ConfigMap ${GUARDRAILS_CONFIGMAP}: previews would run without quota, limits or network policy`);
      return;
    }
    const data = (cm.props.data ?? {}) as Record<string, string>;
    for (const [key, kind] of Object.entries(GUARDRAIL_KINDS)) {
      const text = data[key] ?? "";
      if (!new RegExp(`^kind:\\s*${kind}\\s*$`, "m").test(text)) report(`${GUARDRAILS_CONFIGMAP}: ${key} holds no ${kind}`, cm.urn);
      else if (!/^spec:\s*\n\s+\S/m.test(text)) report(`${GUARDRAILS_CONFIGMAP}: ${key} has an empty spec`, cm.urn);
    }
  },
};

/** GitHub App secrets are Pulumi secrets. */
export const githubAppSecretsAreSecret: ResourceValidationPolicy = {
  name: "github-app-secrets-are-secret",
  description: "The GitHub App Secrets' data is marked secret in Pulumi, so it is encrypted in state and never shown in plain output.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== SECRET || !GITHUB_APP_SECRET.test(objectName(args.props))) return;
    const marked = args.opts.additionalSecretOutputs ?? [];
    for (const field of ["data", "stringData"]) {
      if (args.props[field] !== undefined && !marked.includes(field)) {
        report(`Secret ${objectName(args.props)}: ${field} is not marked secret (additionalSecretOutputs)`);
      }
    }
  },
};

/** Every policy of the pack. */
export const policies = [
  noMergeVectors,
  noExpressionsInExecutableText,
  restrictedStepPods,
  leastPrivilegeRoles,
  noClusterWideSecretReads,
  previewGuardrailsPresent,
  githubAppSecretsAreSecret,
];
