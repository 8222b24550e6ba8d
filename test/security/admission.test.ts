/**
 * The admission fence as a real API server evaluates it: objects as plain maps, every policy run by
 * two CEL engines that must agree (`test/helpers/admission.ts`), failurePolicy Fail.
 */
import { previewNamespace } from "../../components/names";
import { beforeAll, describe, expect, it } from "vitest";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { AGENT_TASKS } from "../../components/workflow/agents";
import { parseConfig } from "../../components/config";
import { agentWorkflowsPolicyName, HOST_ANNOTATION, namespacePolicyName, previewChartsPolicyName, roleBindingPolicyName } from "../../components/admission";
import { deployerClusterRole, guardrailsClusterRole, INSTANCE_LABEL } from "../../components/rbac";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";
import { admit, admitWith, celJs, ENGINES, expressionsOf, type AdmissionRequest, type CelEngine, type Obj } from "../helpers/admission";
import { implementationDag, objectsOf, previewRender, templateNamed } from "../helpers/render";

const STEPS = "system:serviceaccount:argo:implementation-dag";
const SWEEPER = "system:serviceaccount:argo:implementation-dag-sweeper";
const AGENTS = "system:serviceaccount:argo:implementation-dag-agents";
const OUR_ACCOUNTS = ["implementation-dag", "implementation-dag-sweeper", "implementation-dag-executor", "implementation-dag-agents"];

const cfg = parseConfig(readStackConfig("preview"));
/** The preview stack's cluster-scoped names, as its render carries them. */
const NS_POLICY = namespacePolicyName(cfg);
const RB_POLICY = roleBindingPolicyName(cfg);
const AGENT_POLICY = agentWorkflowsPolicyName(cfg);
const CHARTS_POLICY = previewChartsPolicyName(cfg);

const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};
/** This stack's instance label (its workflows namespace is argo). */
const OURS = { [INSTANCE_LABEL]: "argo" };
const namespace = (name: string, labels: Record<string, string> = { preview: "true", ...OURS, ...RESTRICTED }, annotations?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels, ...(annotations ? { annotations } : {}) },
});
const withoutLabel = (labels: Record<string, string>, key: string) => Object.fromEntries(Object.entries(labels).filter(([k]) => k !== key));
const PREVIEW = namespace("impl-pr-42");
const WORKFLOWS_NS = namespace("argo", { "kubernetes.io/metadata.name": "argo" });
/** Another stack's preview (instance argo-team-b), of a name this stack could derive too. */
const THEIRS = namespace("impl-pr-42", { preview: "true", [INSTANCE_LABEL]: "argo-team-b", ...RESTRICTED }, { "implementation-dag/repository": "example-org/example-app" });
/** A preview made before previews carried the instance label: preview=true and its repository, no instance. */
const LEGACY = namespace("impl-pr-42", { preview: "true", ...RESTRICTED }, { "implementation-dag/repository": "example-org/example-app" });

const policyOf = (render: Render, name: string) => {
  const [p] = objectsOf(render, "ValidatingAdmissionPolicy", name);
  if (!p) throw new Error(`the render has no ValidatingAdmissionPolicy ${name}`);
  return p as unknown as IValidatingAdmissionPolicy;
};

/** Sample values for what Argo substitutes into an agent step's manifest. */
const SAMPLE_PARAMETERS: Record<string, string> = {
  "task-id": "42",
  "service-id": "example-app",
  "repository-url": "https://github.com/example-org/example-app",
  "docs-repository-url": "https://github.com/example-org/example-app",
  "docs-project-directory": "docs",
  "working-directory": ".",
  model: "claude-sonnet-4-20250514",
  "continue-session": "false",
  "overwrite-memory": "false",
  "docs-branch": "main",
  "task-requirements": "",
};
const PARENT = "implementation-dag-x7k2p";

/**
 * The child Workflow an agent step of a render creates, as Argo's resource executor submits it:
 * the rendered manifest with `{{…}}` substituted and the owner reference `setOwnerReference` adds.
 */
function childWorkflow(render: Render, task: string): Obj {
  const manifest = templateNamed(implementationDag(render), task).resource?.manifest;
  if (!manifest) throw new Error(`template ${task} has no resource manifest`);
  const text = manifest
    .replace(/\{\{\s*inputs\.parameters\.([a-z-]+)\s*\}\}/g, (_m, name: string) => {
      if (!(name in SAMPLE_PARAMETERS)) throw new Error(`no sample value for ${name}`);
      return SAMPLE_PARAMETERS[name];
    })
    .replace(/\{\{\s*workflow\.name\s*\}\}/g, PARENT)
    .replace(/\{\{\s*workflow\.uid\s*\}\}/g, "0b7c2d9e-1f3a-4c5b-8d6e-7f8091a2b3c4");
  if (text.includes("{{")) throw new Error(`unsubstituted placeholder in ${task}'s manifest: ${text}`);
  const child = JSON.parse(text) as Obj & { metadata: Obj };
  child.metadata.ownerReferences = [{ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", name: PARENT, uid: "0b1e9c9e-2f1c-4b57-9d0e-1a2b3c4d5e6f", controller: true, blockOwnerDeletion: true }];
  return child;
}

/** A copy of a child Workflow with its spec changed by `change`. */
function changed(child: Obj, change: (spec: Record<string, unknown>) => void): Obj {
  const copy = structuredClone(child) as Obj & { spec: Record<string, unknown> };
  change(copy.spec);
  return copy;
}

const expectDenied = (policy: IValidatingAdmissionPolicy, req: AdmissionRequest, message: RegExp) => {
  const v = admit(policy, req);
  expect(v.matched).toBe(true);
  expect(v.denied.length).toBeGreaterThan(0);
  expect(v.denied.join("\n")).toMatch(message);
};

let render: Render;
let nsPolicy: IValidatingAdmissionPolicy;
let rbPolicy: IValidatingAdmissionPolicy;
let agentPolicy: IValidatingAdmissionPolicy;
let policies: IValidatingAdmissionPolicy[];
beforeAll(async () => {
  render = await previewRender();
  nsPolicy = policyOf(render, NS_POLICY);
  rbPolicy = policyOf(render, RB_POLICY);
  agentPolicy = policyOf(render, AGENT_POLICY);
  policies = objectsOf(render, "ValidatingAdmissionPolicy") as unknown as IValidatingAdmissionPolicy[];
});

describe("the admission fence objects", () => {
  it("are four admissionregistration.k8s.io/v1 policies, each bound with validationActions [Deny], under the AdmissionFence component", () => {
    const bindings = objectsOf(render, "ValidatingAdmissionPolicyBinding") as unknown as IValidatingAdmissionPolicyBinding[];
    // Named from the stack's instance (its workflows namespace, argo): implementation-dag-<instance>-<purpose>.
    expect(policies.map((p) => p.metadata?.name).sort()).toEqual([
      "implementation-dag-argo-agent-workflows", "implementation-dag-argo-namespaces", "implementation-dag-argo-preview-charts", "implementation-dag-argo-rolebindings",
    ]);
    expect(bindings.map((b) => [b.metadata?.name, b.spec?.policyName, b.spec?.validationActions]).sort()).toEqual([
      [AGENT_POLICY, AGENT_POLICY, ["Deny"]],
      [NS_POLICY, NS_POLICY, ["Deny"]],
      [CHARTS_POLICY, CHARTS_POLICY, ["Deny"]],
      [RB_POLICY, RB_POLICY, ["Deny"]],
    ]);
    for (const o of [...policies, ...bindings]) expect(o.apiVersion).toBe("admissionregistration.k8s.io/v1");
    for (const p of policies) expect(p.spec?.failurePolicy).toBe("Fail");
    const component = render.resources.find((r) => r.type === "implementation-dag:index:AdmissionFence");
    const fenced = render.resources.filter((r) => r.type.startsWith("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"));
    expect(fenced).toHaveLength(8);
    for (const r of fenced) expect(r.parent).toBe(component?.urn);
  });

  it("match the Kubernetes schema", () => {
    for (const p of objectsOf(render, "ValidatingAdmissionPolicy")) expect(() => new ValidatingAdmissionPolicy(p as never).validate()).not.toThrow();
    for (const b of objectsOf(render, "ValidatingAdmissionPolicyBinding")) expect(() => new ValidatingAdmissionPolicyBinding(b as never).validate()).not.toThrow();
  });

  it("select exactly the steps' and the sweeper's users for namespaces and RoleBindings, and only the agents' user for Workflows", () => {
    for (const p of [nsPolicy, rbPolicy]) {
      expect(p.spec?.matchConditions).toEqual([
        { name: "implementation-dag-service-accounts", expression: `request.userInfo.username in ['${STEPS}', '${SWEEPER}']` },
      ]);
    }
    expect(agentPolicy.spec?.matchConditions).toEqual([{ name: "implementation-dag-agents", expression: `request.userInfo.username == '${AGENTS}'` }]);
  });

  it("cover create, update and delete of namespaces and of RoleBindings, and create and update of Argo Workflows of any version", () => {
    expect(nsPolicy.spec?.matchConstraints?.resourceRules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["namespaces"] }]);
    expect(rbPolicy.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: ["rbac.authorization.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["rolebindings"] },
    ]);
    expect(agentPolicy.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: ["argoproj.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["workflows"] },
    ]);
  });
});

describe("the fence's CEL as Kubernetes >= 1.30 compiles it", () => {
  /** A field selection of a CEL reserved word (escaped or not), outside string literals. */
  const RESERVED_SELECTION = /\.\s*(?:__)?(?:namespace|as|break|const|continue|else|for|function|if|import|let|loop|package|return|var|void|while|in|true|false|null)(?:__)?\b/;
  const reservedSelection = (expression: string) => RESERVED_SELECTION.test(expression.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''"));

  it("the reserved-word check catches `.namespace` and `.__namespace__`, and not index syntax or string literals", () => {
    expect(reservedSelection("has(s.namespace)")).toBe(true);
    expect(reservedSelection("s.__namespace__ == 'argo'")).toBe(true);
    expect(reservedSelection("request.namespace == 'argo'")).toBe(true);
    expect(reservedSelection("'namespace' in s && s['namespace'] == 'a.namespace'")).toBe(false);
    expect(reservedSelection("namespaceObject.metadata.name == 'argo'")).toBe(false);
  });

  it("no expression selects a reserved word as a field (`x.namespace` does not compile before Kubernetes 1.32; `__namespace__` is CRD-only escaping)", () => {
    const all = policies.flatMap(expressionsOf);
    expect(all.length).toBeGreaterThanOrEqual(15);
    expect(all.filter((e) => reservedSelection(e.expression))).toEqual([]);
  });

  it("every expression (matchConditions, variables, validations, messageExpressions) parses with both engines", () => {
    const failures: string[] = [];
    for (const engine of ENGINES) {
      for (const { where, expression } of policies.flatMap(expressionsOf)) {
        try {
          engine.compile(expression);
        } catch (e) {
          failures.push(`${engine.name}: ${where}: ${(e as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
    for (const engine of ENGINES) expect(() => engine.compile("s.all(x, "), engine.name).toThrow();
  });

  it("a disagreement between the engines fails the evaluation", () => {
    const contrarian: CelEngine = {
      name: "contrarian",
      compile(expression) {
        const evaluate = celJs.compile(expression);
        return (bindings) => {
          const out = evaluate(bindings);
          return out.ok && typeof out.value === "boolean" && expression.includes("matches") ? { ok: true, value: !out.value } : out;
        };
      },
    };
    const req: AdmissionRequest = { user: STEPS, operation: "CREATE", object: PREVIEW };
    expect(admit(nsPolicy, req, [celJs, ...ENGINES])).toEqual({ matched: true, denied: [] });
    expect(() => admit(nsPolicy, req, [celJs, contrarian])).toThrow(new RegExp(`CEL engines disagree on ${NS_POLICY}`));
  });

  it("an evaluation error denies (failurePolicy Fail), with either engine", () => {
    const broken: IValidatingAdmissionPolicy = {
      ...nsPolicy,
      spec: { ...nsPolicy.spec, validations: [{ expression: "object.spec.noSuchField == 'x'", message: "broken" }] },
    };
    for (const engine of ENGINES) {
      expect(admitWith(engine, broken, { user: STEPS, operation: "CREATE", object: PREVIEW }), engine.name).toEqual({ matched: true, denied: ["broken"] });
    }
  });
});

describe("the namespace policy", () => {
  const allowed: Array<[string, AdmissionRequest]> = [
    ["the steps create a preview namespace", { user: STEPS, operation: "CREATE", object: PREVIEW }],
    ["the steps refresh the workflow label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", { ...PREVIEW.metadata.labels, workflow: "implementation-dag-abc12" }) }],
    ["cleanup stamps the expiry", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", PREVIEW.metadata.labels, { "implementation-dag/expires-at": "2026-11-27T00:00:00Z" }) }],
    ["cleanup deletes a preview namespace", { user: STEPS, operation: "DELETE", oldObject: PREVIEW, object: null }],
    ["the sweeper deletes a preview namespace", { user: SWEEPER, operation: "DELETE", oldObject: namespace("impl-pr-7"), object: null }],
    ["version labels pinned to latest", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...OURS, ...RESTRICTED, "pod-security.kubernetes.io/enforce-version": "latest" }) }],
    ["the steps create a preview named by repository", { user: STEPS, operation: "CREATE", object: namespace(previewNamespace("repository", "Example-Org", "example-app", "42")) }],
    ["the sweeper deletes a preview named by repository", { user: SWEEPER, operation: "DELETE", oldObject: namespace(previewNamespace("repository", "acme", "app.js", "7")), object: null }],
    [
      "deploy adopts a preview made before the instance label, which records its repository",
      { user: STEPS, operation: "UPDATE", oldObject: LEGACY, object: namespace("impl-pr-42", { ...LEGACY.metadata.labels, ...OURS }, LEGACY.metadata.annotations) },
    ],
  ];
  it.each(allowed)("allows: %s", (_what, req) => {
    expect(admit(nsPolicy, req)).toEqual({ matched: true, denied: [] });
  });

  const denied: Array<[string, AdmissionRequest, RegExp]> = [
    ["create with a wrong prefix", { user: STEPS, operation: "CREATE", object: namespace("prod-42") }, /preview namespaces \(impl-/],
    ["create impl-pr-042 (leading zero)", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-042") }, /preview namespaces \(impl-/],
    ["create impl-pr-42-x", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42-x") }, /preview namespaces \(impl-/],
    ["create a repository-named preview without its hash", { user: STEPS, operation: "CREATE", object: namespace("impl-example-org-example-app-pr-42") }, /preview namespaces \(impl-/],
    ["create a repository-named preview with an uppercase hash", { user: STEPS, operation: "CREATE", object: namespace("impl-example-org-example-app-ABCDEF0123-pr-42") }, /preview namespaces \(impl-/],
    ["create without the preview label", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { ...RESTRICTED }) }, /preview=true/],
    ["create with preview=false", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "false", ...RESTRICTED }) }, /preview=true/],
    ["create without any label", { user: STEPS, operation: "CREATE", object: { apiVersion: "v1", kind: "Namespace", metadata: { name: "impl-pr-42" } } }, /preview=true/],
    ["create without Pod Security labels", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...OURS }) }, /restricted/],
    ["create with enforce=baseline", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...OURS, ...RESTRICTED, "pod-security.kubernetes.io/enforce": "baseline" }) }, /restricted/],
    ["create pinning an old policy version", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...OURS, ...RESTRICTED, "pod-security.kubernetes.io/enforce-version": "v1.20" }) }, /version/],
    ["update removing the preview label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", withoutLabel(PREVIEW.metadata.labels, "preview")) }, /preview=true/],
    ["update adopting a namespace without the label", { user: STEPS, operation: "UPDATE", oldObject: namespace("impl-pr-42", { ...RESTRICTED }), object: PREVIEW }, /preview=true/],
    ["update weakening enforce to privileged", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", { ...PREVIEW.metadata.labels, "pod-security.kubernetes.io/enforce": "privileged" }) }, /restricted/],
    ["update dropping the warn label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", withoutLabel(PREVIEW.metadata.labels, "pod-security.kubernetes.io/warn")) }, /restricted/],
    ["update of kube-system", { user: STEPS, operation: "UPDATE", oldObject: namespace("kube-system", {}), object: namespace("kube-system", { preview: "true", ...RESTRICTED }) }, /preview namespaces \(impl-/],
    ["delete of kube-system", { user: STEPS, operation: "DELETE", oldObject: namespace("kube-system", {}), object: null }, /preview namespaces \(impl-/],
    ["the sweeper deleting a namespace named like ours without the label", { user: SWEEPER, operation: "DELETE", oldObject: namespace("impl-pr-42", { team: "payments" }), object: null }, /preview=true/],
    ["the sweeper deleting a labelled namespace not named like ours", { user: SWEEPER, operation: "DELETE", oldObject: namespace("team-payments"), object: null }, /preview namespaces \(impl-/],
    ["create without the instance label", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...RESTRICTED }) }, /implementation-dag\/instance=argo/],
    ["create labelled for another instance", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", THEIRS.metadata.labels) }, /implementation-dag\/instance=argo/],
    ["the steps relabelling another instance's preview", { user: STEPS, operation: "UPDATE", oldObject: THEIRS, object: namespace("impl-pr-42", { ...THEIRS.metadata.labels, workflow: "implementation-dag-abc12" }, THEIRS.metadata.annotations) }, /implementation-dag\/instance=argo/],
    ["the steps taking another instance's preview over", { user: STEPS, operation: "UPDATE", oldObject: THEIRS, object: namespace("impl-pr-42", { ...THEIRS.metadata.labels, ...OURS }, THEIRS.metadata.annotations) }, /implementation-dag\/instance=argo/],
    ["cleanup stamping another instance's preview", { user: STEPS, operation: "UPDATE", oldObject: THEIRS, object: namespace("impl-pr-42", THEIRS.metadata.labels, { ...THEIRS.metadata.annotations, "implementation-dag/expires-at": "2026-11-27T00:00:00Z" }) }, /implementation-dag\/instance=argo/],
    ["cleanup deleting another instance's preview", { user: STEPS, operation: "DELETE", oldObject: THEIRS, object: null }, /implementation-dag\/instance=argo/],
    ["the sweeper deleting another instance's preview", { user: SWEEPER, operation: "DELETE", oldObject: THEIRS, object: null }, /implementation-dag\/instance=argo/],
    ["the sweeper deleting a preview made before the instance label (only deploy adopts it)", { user: SWEEPER, operation: "DELETE", oldObject: LEGACY, object: null }, /implementation-dag\/instance=argo/],
    ["update removing the instance label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", withoutLabel(PREVIEW.metadata.labels, INSTANCE_LABEL)) }, /implementation-dag\/instance=argo/],
    ["update moving the preview to another instance", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", { ...PREVIEW.metadata.labels, [INSTANCE_LABEL]: "argo-team-b" }) }, /implementation-dag\/instance=argo/],
    ["adopting an unlabelled preview that records no repository", { user: STEPS, operation: "UPDATE", oldObject: namespace("impl-pr-42", LEGACY.metadata.labels), object: PREVIEW }, /implementation-dag\/instance=argo/],
    ["adopting an unlabelled preview whose recorded repository is empty", { user: STEPS, operation: "UPDATE", oldObject: namespace("impl-pr-42", LEGACY.metadata.labels, { "implementation-dag/repository": "" }), object: PREVIEW }, /implementation-dag\/instance=argo/],
    ["adopting an unlabelled preview into another instance", { user: STEPS, operation: "UPDATE", oldObject: LEGACY, object: namespace("impl-pr-42", { ...LEGACY.metadata.labels, [INSTANCE_LABEL]: "argo-team-b" }, LEGACY.metadata.annotations) }, /implementation-dag\/instance=argo/],
    ["adopting a preview labelled with an empty instance", { user: STEPS, operation: "UPDATE", oldObject: namespace("impl-pr-42", { ...LEGACY.metadata.labels, [INSTANCE_LABEL]: "" }, LEGACY.metadata.annotations), object: namespace("impl-pr-42", { ...LEGACY.metadata.labels, ...OURS }, LEGACY.metadata.annotations) }, /implementation-dag\/instance=argo/],
  ];
  it.each(denied)("denies: %s", (_what, req, message) => {
    expectDenied(nsPolicy, req, message);
  });

  it.each([
    ["a person deleting kube-system", "kubernetes-admin"],
    ["another service account in the workflows namespace", "system:serviceaccount:argo:argo-server"],
    ["a service account of the same name elsewhere", "system:serviceaccount:default:implementation-dag"],
    ["the agents' service account", AGENTS],
  ])("leaves everyone else untouched: %s", (_what, user) => {
    expect(admit(nsPolicy, { user, operation: "DELETE", oldObject: namespace("kube-system", {}), object: null })).toEqual({ matched: false, denied: [] });
  });
});

describe("the RoleBinding policy", () => {
  const binding = (ns: string, roleRef: Record<string, string>, subjects: Array<Record<string, string>>) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: roleRef.name, namespace: ns },
    roleRef,
    subjects,
  });
  const clusterRole = (name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name });
  const deployerRole = clusterRole(deployerClusterRole(cfg));
  const steps = { kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" };
  const sweeper = { kind: "ServiceAccount", name: "implementation-dag-sweeper", namespace: "argo" };
  const deployer = { kind: "ServiceAccount", name: "preview-deployer", namespace: "impl-pr-42" };
  const deployerBinding = binding("impl-pr-42", deployerRole, [deployer, steps, sweeper]);
  const guardrailsBinding = binding("impl-pr-42", clusterRole(guardrailsClusterRole(cfg)), [steps]);
  const create = (object: Obj, user = STEPS): AdmissionRequest => ({ user, operation: "CREATE", object, namespaceObject: PREVIEW });

  it.each([
    ["deploy's deployer binding: the namespace's preview-deployer and our accounts with namespace argo", deployerBinding],
    ["deploy's guardrails binding: the steps' account with namespace argo", guardrailsBinding],
    ["the namespace's preview-deployer without a namespace (the binding's own)", binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "preview-deployer" }])],
    ["a binding without subjects", binding("impl-pr-42", deployerRole, [])],
  ])("allows: %s", (_what, object) => {
    expect(admit(rbPolicy, create(object))).toEqual({ matched: true, denied: [] });
  });

  it("allows the sweeper to delete deploy's binding", () => {
    expect(admit(rbPolicy, { user: SWEEPER, operation: "DELETE", oldObject: deployerBinding, object: null, namespaceObject: PREVIEW })).toEqual({ matched: true, denied: [] });
  });

  const denied: Array<[string, AdmissionRequest, RegExp]> = [
    ["a binding outside a preview namespace", { ...create(binding("default", deployerRole, [steps])), namespaceObject: namespace("default", {}) }, /inside preview namespaces/],
    ["a binding in a namespace named like ours without the label", { ...create(deployerBinding), namespaceObject: namespace("impl-pr-42", { ...RESTRICTED }) }, /inside preview namespaces/],
    ["a binding to cluster-admin", create(binding("impl-pr-42", clusterRole("cluster-admin"), [steps])), /only bind the ClusterRoles/],
    ["a binding to a Role of the same name", create(binding("impl-pr-42", { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: deployerClusterRole(cfg) }, [steps])), /only bind the ClusterRoles/],
    ["a binding to the deployer ClusterRole's name before names carried the instance", create(binding("impl-pr-42", clusterRole("implementation-dag-deployer"), [steps])), /only bind the ClusterRoles/],
    ["a binding to another instance's deployer ClusterRole", create(binding("impl-pr-42", clusterRole("implementation-dag-argo-team-b-deployer"), [steps])), /only bind the ClusterRoles/],
    ["deploy's binding inside another instance's preview", { ...create(deployerBinding), namespaceObject: THEIRS }, /inside preview namespaces labelled implementation-dag\/instance=argo/],
    ["deploy's binding inside a preview without an instance label", { ...create(deployerBinding), namespaceObject: LEGACY }, /inside preview namespaces labelled implementation-dag\/instance=argo/],
    ["the sweeper deleting deploy's binding in another instance's preview", { user: SWEEPER, operation: "DELETE", oldObject: deployerBinding, object: null, namespaceObject: THEIRS }, /implementation-dag\/instance=argo/],
    ["a binding for another service account", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "default", namespace: "kube-system" }])), /its own service accounts/],
    ["a binding for a user", create(binding("impl-pr-42", deployerRole, [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "mallory" }])), /its own service accounts/],
    ["a group named like a service account", create(binding("impl-pr-42", deployerRole, [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "preview-deployer" }])), /its own service accounts/],
    ["kube-system's preview-deployer", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "preview-deployer", namespace: "kube-system" }])), /its own service accounts/],
    ["another preview's preview-deployer", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "preview-deployer", namespace: "impl-pr-43" }])), /its own service accounts/],
    ["the steps' account name in another namespace", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "implementation-dag", namespace: "default" }])), /its own service accounts/],
    ["the steps' account name without a namespace (the preview's own account of that name)", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "implementation-dag" }])), /its own service accounts/],
    ["the agents' account", create(binding("impl-pr-42", deployerRole, [{ kind: "ServiceAccount", name: "implementation-dag-agents", namespace: "argo" }])), /its own service accounts/],
    ["one rogue subject among deploy's", create(binding("impl-pr-42", deployerRole, [deployer, steps, { kind: "ServiceAccount", name: "preview-deployer", namespace: "kube-system" }])), /its own service accounts/],
    ["the sweeper deleting a chart's own binding", { user: SWEEPER, operation: "DELETE", oldObject: binding("impl-pr-42", { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "app" }, [deployer]), object: null, namespaceObject: PREVIEW }, /only bind the ClusterRoles/],
  ];
  it.each(denied)("denies: %s", (_what, req, message) => {
    expectDenied(rbPolicy, req, message);
  });

  it("leaves everyone else untouched: a person binding cluster-admin in default", () => {
    const req: AdmissionRequest = { user: "kubernetes-admin", operation: "CREATE", object: binding("default", clusterRole("cluster-admin"), [{ kind: "User", name: "x" }]), namespaceObject: namespace("default", {}) };
    expect(admit(rbPolicy, req)).toEqual({ matched: false, denied: [] });
  });
});

describe("the agent Workflows policy", () => {
  const create = (object: Obj, namespaceObject: Obj = WORKFLOWS_NS, user = AGENTS): AdmissionRequest => ({ user, operation: "CREATE", object, namespaceObject });
  let child: Obj;
  beforeAll(() => {
    child = childWorkflow(render, "implement");
  });

  it("the child manifest under test is the rendered one: the agent template by reference, every parameter, a deadline", () => {
    expect(child).toMatchObject({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Workflow",
      spec: { workflowTemplateRef: { name: "coderun-template" }, activeDeadlineSeconds: expect.any(Number) },
    });
    expect(Object.keys((child as { spec: object }).spec).sort()).toEqual(["activeDeadlineSeconds", "arguments", "workflowTemplateRef"]);
  });

  it.each(AGENT_TASKS.map((a) => [a.task]))("allows the child Workflow the %s step creates, exactly as rendered", (task) => {
    expect(admit(agentPolicy, create(childWorkflow(render, task)))).toEqual({ matched: true, denied: [] });
  });

  const deviations: Array<[string, (spec: Record<string, unknown>) => void, RegExp]> = [
    ["an inline template", (s) => { s.templates = [{ name: "main", container: { image: "alpine", command: ["sh", "-c", "id"] } }]; s.entrypoint = "main"; }, /spec may only hold/],
    ["a podSpecPatch", (s) => { s.podSpecPatch = '{"hostPID": true}'; }, /spec may only hold/],
    ["volumes", (s) => { s.volumes = [{ name: "host", hostPath: { path: "/" } }]; }, /spec may only hold/],
    ["hostNetwork", (s) => { s.hostNetwork = true; }, /spec may only hold/],
    ["a workflow-level security context", (s) => { s.securityContext = { runAsUser: 0 }; }, /spec may only hold/],
    ["templateDefaults", (s) => { s.templateDefaults = { container: { securityContext: { privileged: true } } }; }, /spec may only hold/],
    ["another WorkflowTemplate", (s) => { s.workflowTemplateRef = { name: "implementation-dag" }; }, /reference the WorkflowTemplate coderun-template/],
    ["the ClusterWorkflowTemplate of the same name", (s) => { s.workflowTemplateRef = { name: "coderun-template", clusterScope: true }; }, /reference the WorkflowTemplate coderun-template/],
    ["an extra key in workflowTemplateRef", (s) => { s.workflowTemplateRef = { name: "coderun-template", namespace: "kube-system" }; }, /reference the WorkflowTemplate coderun-template/],
    ["no workflowTemplateRef", (s) => { delete s.workflowTemplateRef; }, /reference the WorkflowTemplate coderun-template/],
    ["a serviceAccountName (none is configured)", (s) => { s.serviceAccountName = "default"; }, /agent template's own service account/],
    ...OUR_ACCOUNTS.map((sa): [string, (spec: Record<string, unknown>) => void, RegExp] => [`running as our ${sa}`, (s) => { s.serviceAccountName = sa; }, /never run as one of implementation-dag's service accounts/]),
    ["no activeDeadlineSeconds", (s) => { delete s.activeDeadlineSeconds; }, /positive activeDeadlineSeconds/],
    ["activeDeadlineSeconds 0", (s) => { s.activeDeadlineSeconds = 0; }, /positive activeDeadlineSeconds/],
    ["a negative activeDeadlineSeconds", (s) => { s.activeDeadlineSeconds = -1; }, /positive activeDeadlineSeconds/],
    ["activeDeadlineSeconds as a string", (s) => { s.activeDeadlineSeconds = "2340"; }, /positive activeDeadlineSeconds/],
    ["a parameter read from a ConfigMap", (s) => { (s.arguments as { parameters: object[] }).parameters.push({ name: "model", valueFrom: { configMapKeyRef: { name: "artifact-repositories", key: "default-v1" } } }); }, /parameters, by value/],
    ["a parameter the agent template does not read", (s) => { (s.arguments as { parameters: object[] }).parameters.push({ name: "image", value: "evil" }); }, /parameters, by value/],
    ["argument artifacts", (s) => { (s.arguments as Record<string, unknown>).artifacts = [{ name: "x", http: { url: "http://169.254.169.254/" } }]; }, /parameters, by value/],
  ];
  it.each(deviations)("denies the child Workflow with %s", (_what, change, message) => {
    expectDenied(agentPolicy, create(changed(child, change)), message);
  });

  it("denies a Workflow without a spec", () => {
    expectDenied(agentPolicy, create({ apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", metadata: { generateName: "x-" } }), /spec may only hold/);
  });

  it("denies the exact child Workflow in another namespace", () => {
    expectDenied(agentPolicy, create(child, namespace("kube-system", {})), /only create Workflows in argo/);
    expectDenied(agentPolicy, create(child, PREVIEW), /only create Workflows in argo/);
  });

  it("allows stop-agents' update: spec.shutdown Terminate (or Stop) on a running child", () => {
    for (const value of ["Terminate", "Stop"]) {
      const req: AdmissionRequest = { user: AGENTS, operation: "UPDATE", oldObject: child, object: changed(child, (s) => { s.shutdown = value; }), namespaceObject: WORKFLOWS_NS };
      expect(admit(agentPolicy, req), value).toEqual({ matched: true, denied: [] });
    }
  });

  it("denies a shutdown value Argo does not stop on", () => {
    const req: AdmissionRequest = { user: AGENTS, operation: "UPDATE", oldObject: child, object: changed(child, (s) => { s.shutdown = "Resume"; }), namespaceObject: WORKFLOWS_NS };
    expectDenied(agentPolicy, req, /shutdown may only be Stop or Terminate/);
  });

  it("denies an update that adds a podSpecPatch to a child Workflow", () => {
    expectDenied(agentPolicy, { user: AGENTS, operation: "UPDATE", oldObject: child, object: changed(child, (s) => { s.podSpecPatch = "{}"; }), namespaceObject: WORKFLOWS_NS }, /spec may only hold/);
  });

  it.each([
    ["the steps' account", STEPS],
    ["Argo's server", "system:serviceaccount:argo:argo-server"],
    ["a person", "kubernetes-admin"],
    ["an account named like the agents' in another namespace", "system:serviceaccount:default:implementation-dag-agents"],
  ])("leaves everyone else's Workflows untouched: %s", (_what, user) => {
    const own = changed(child, (s) => { s.podSpecPatch = "{}"; s.serviceAccountName = "implementation-dag"; });
    expect(admit(agentPolicy, create(own, namespace("default", {}), user))).toEqual({ matched: false, denied: [] });
  });

  describe("with a ClusterWorkflowTemplate and a configured service account", () => {
    let configured: Render;
    let policy: IValidatingAdmissionPolicy;
    beforeAll(async () => {
      const agent = JSON.parse(readStackConfig("preview")["implementation-dag:agent"] ?? "{}") as Record<string, unknown>;
      configured = await renderStack({ overrides: { agent: { ...agent, clusterScope: true, serviceAccountName: "coderun-runner" } } });
      policy = policyOf(configured, AGENT_POLICY);
    });

    it.each(AGENT_TASKS.map((a) => [a.task]))("allows the child Workflow the %s step then renders", (task) => {
      const configuredChild = childWorkflow(configured, task);
      expect(configuredChild).toMatchObject({ spec: { workflowTemplateRef: { name: "coderun-template", clusterScope: true }, serviceAccountName: "coderun-runner" } });
      expect(admit(policy, create(configuredChild))).toEqual({ matched: true, denied: [] });
    });

    it.each([
      ["the namespaced WorkflowTemplate", (s: Record<string, unknown>) => { s.workflowTemplateRef = { name: "coderun-template" }; }, /reference the ClusterWorkflowTemplate coderun-template/],
      ["clusterScope false", (s: Record<string, unknown>) => { s.workflowTemplateRef = { name: "coderun-template", clusterScope: false }; }, /reference the ClusterWorkflowTemplate coderun-template/],
      ["no serviceAccountName", (s: Record<string, unknown>) => { delete s.serviceAccountName; }, /must run as coderun-runner/],
      ["another serviceAccountName", (s: Record<string, unknown>) => { s.serviceAccountName = "default"; }, /must run as coderun-runner/],
      ["the steps' service account", (s: Record<string, unknown>) => { s.serviceAccountName = "implementation-dag"; }, /never run as one of implementation-dag's/],
    ])("denies the child Workflow with %s", (_what, change, message) => {
      expectDenied(policy, create(changed(childWorkflow(configured, "implement"), change)), message);
    });
  });

  it("a configured agent service account that is one of ours fails the render, naming the key", async () => {
    const agent = JSON.parse(readStackConfig("preview")["implementation-dag:agent"] ?? "{}") as Record<string, unknown>;
    await expect(renderStack({ overrides: { agent: { ...agent, serviceAccountName: "implementation-dag" } } })).rejects.toThrow(/agent\.serviceAccountName/);
  });
});

describe("the preview charts policy (what a PR's chart may create, as its preview-deployer)", () => {
  const HOST = "pr-42.preview.example.com";
  const DEPLOYER = "system:serviceaccount:impl-pr-42:preview-deployer";
  const previewNs = namespace("impl-pr-42", PREVIEW.metadata.labels, { [HOST_ANNOTATION]: HOST });
  let charts: IValidatingAdmissionPolicy;
  beforeAll(() => {
    charts = policyOf(render, CHARTS_POLICY);
  });
  const create = (object: Obj, user = DEPLOYER, ns: Obj = previewNs): AdmissionRequest => ({ user, operation: "CREATE", object, namespaceObject: ns });
  const ingressOf = (spec: Obj): Obj => ({ apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: "app", namespace: "impl-pr-42" }, spec });
  const rule = (host?: string) => ({
    ...(host !== undefined ? { host } : {}),
    http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "app", port: { number: 80 } } } }] },
  });
  const serviceOf = (spec: Obj, meta: Obj = {}): Obj => ({ apiVersion: "v1", kind: "Service", metadata: { name: "app", namespace: "impl-pr-42", ...meta }, spec });
  const CLUSTER_IP = { type: "ClusterIP", selector: { app: "app" }, ports: [{ port: 80, targetPort: 8080 }] };
  const HOST_RULE = /may only serve the preview's host/;

  it("is bound with Deny, fails closed, and matches every namespaced kind on create and update, only for preview deployers", () => {
    expect(charts.spec?.failurePolicy).toBe("Fail");
    expect(charts.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: ["*"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["*"], scope: "Namespaced" },
    ]);
    expect(charts.spec?.matchConditions?.map((c) => c.name)).toEqual(["implementation-dag-preview-deployers"]);
  });

  it.each([
    ["the deployer of a pr-number preview", "system:serviceaccount:impl-pr-42:preview-deployer", true],
    ["the deployer of a repository-named preview", `system:serviceaccount:${previewNamespace("repository", "example-org", "example-app", "7")}:preview-deployer`, true],
    ["the steps", STEPS, false],
    ["another account of a preview namespace", "system:serviceaccount:impl-pr-42:default", false],
    ["a preview-deployer outside preview namespaces", "system:serviceaccount:default:preview-deployer", false],
    ["a look-alike namespace", "system:serviceaccount:impl-pr-042:preview-deployer", false],
    ["a person", "alice@example.com", false],
  ])("selects %s: %s", (_what, user, matched) => {
    const hostile = serviceOf({ type: "ExternalName", externalName: "argo-server.argo.svc.cluster.local" });
    expect(admit(charts, create(hostile, user)).matched).toBe(matched);
  });

  const allowed: Array<[string, Obj]> = [
    ["an Ingress on the preview's host, with TLS for it", ingressOf({ ingressClassName: "nginx", rules: [rule(HOST)], tls: [{ hosts: [HOST] }] })],
    ["an Ingress on a name under the preview's host", ingressOf({ rules: [rule(`api.${HOST}`), rule(`a.b.${HOST}`)] })],
    ["an Ingress on the wildcard under the preview's host", ingressOf({ rules: [rule(`*.${HOST}`)], tls: [{ hosts: [`*.${HOST}`] }, { secretName: "no-hosts" }] })],
    ["a ClusterIP Service", serviceOf(CLUSTER_IP)],
    ["a headless Service", serviceOf({ clusterIP: "None", selector: { app: "app" }, ports: [{ port: 80 }] })],
    ["a Service with an empty externalIPs list", serviceOf({ ...CLUSTER_IP, externalIPs: [] })],
    ["a ConfigMap without finalizers", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg" }, data: { a: "b" } }],
    ["a PVC carrying the API server's own pvc-protection finalizer", {
      apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "data", finalizers: ["kubernetes.io/pvc-protection"] },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    }],
  ];
  it.each(allowed)("admits %s", (_what, object) => {
    expect(admit(charts, create(object))).toEqual({ matched: true, denied: [] });
  });

  const refused: Array<[string, Obj, RegExp]> = [
    ["an Ingress on the workflows' Argo server", ingressOf({ rules: [rule("argo-server.argo.svc.cluster.local")] }), HOST_RULE],
    ["an Ingress on the API server", ingressOf({ rules: [rule("kubernetes.default.svc")] }), HOST_RULE],
    ["an Ingress on the metadata address", ingressOf({ rules: [rule("169.254.169.254.nip.io")] }), HOST_RULE],
    ["an Ingress on another PR's host", ingressOf({ rules: [rule("pr-43.preview.example.com")] }), HOST_RULE],
    ["an Ingress on a host that merely ends like the preview's", ingressOf({ rules: [rule(`evil${HOST}`)] }), HOST_RULE],
    ["an Ingress on the parent domain's wildcard", ingressOf({ rules: [rule("*.preview.example.com")] }), HOST_RULE],
    ["an Ingress beside a good rule", ingressOf({ rules: [rule(HOST), rule("pr-43.preview.example.com")] }), HOST_RULE],
    ["an Ingress rule without a host (it serves every host)", ingressOf({ rules: [rule()] }), HOST_RULE],
    ["an Ingress with a TLS host outside the preview's", ingressOf({ rules: [rule(HOST)], tls: [{ hosts: [HOST, "pr-43.preview.example.com"] }] }), HOST_RULE],
    ["an Ingress with a default backend", ingressOf({ defaultBackend: { service: { name: "app", port: { number: 80 } } } }), /may not set a defaultBackend/],
    ["a Service of type ExternalName", serviceOf({ type: "ExternalName", externalName: "argo-server.argo.svc.cluster.local" }), /may not create a Service of type ExternalName/],
    ["a Service with externalIPs", serviceOf({ ...CLUSTER_IP, externalIPs: ["10.96.0.1"] }), /may not set externalIPs/],
    ["a ConfigMap with a finalizer of its own", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "stuck", finalizers: ["example.com/never-removed"] } }, /may not set finalizers/],
    ["a Service with a finalizer beside a system one", serviceOf(CLUSTER_IP, { finalizers: ["orphan", "example.com/stuck"] }), /may not set finalizers/],
  ];
  it.each(refused)("refuses %s", (_what, object, message) => {
    expectDenied(charts, create(object), message);
  });

  it("refuses an update that adds a finalizer, and admits one that keeps the finalizers the object already had", () => {
    const before = serviceOf(CLUSTER_IP, { finalizers: ["service.kubernetes.io/load-balancer-cleanup"] });
    const kept = serviceOf({ ...CLUSTER_IP, ports: [{ port: 81, targetPort: 8080 }] }, { finalizers: ["service.kubernetes.io/load-balancer-cleanup"] });
    const added = serviceOf(CLUSTER_IP, { finalizers: ["service.kubernetes.io/load-balancer-cleanup", "example.com/stuck"] });
    expect(admit(charts, { user: DEPLOYER, operation: "UPDATE", oldObject: before, object: kept, namespaceObject: previewNs })).toEqual({ matched: true, denied: [] });
    expectDenied(charts, { user: DEPLOYER, operation: "UPDATE", oldObject: before, object: added, namespaceObject: previewNs }, /may not set finalizers/);
    expectDenied(charts, { user: DEPLOYER, operation: "UPDATE", oldObject: serviceOf(CLUSTER_IP), object: added, namespaceObject: previewNs }, /may not set finalizers/);
  });

  it("refuses an update that turns a Service into ExternalName or moves an Ingress to another host", () => {
    const update = (oldObject: Obj, object: Obj): AdmissionRequest => ({ user: DEPLOYER, operation: "UPDATE", oldObject, object, namespaceObject: previewNs });
    expectDenied(charts, update(serviceOf(CLUSTER_IP), serviceOf({ type: "ExternalName", externalName: "kubernetes.default.svc" })), /ExternalName/);
    expectDenied(charts, update(ingressOf({ rules: [rule(HOST)] }), ingressOf({ rules: [rule("pr-43.preview.example.com")] })), HOST_RULE);
  });

  it("refuses every Ingress host in a namespace that records no preview host, and admits the rest", () => {
    const bare = namespace("impl-pr-42");
    expectDenied(charts, create(ingressOf({ rules: [rule(HOST)] }), DEPLOYER, bare), HOST_RULE);
    expectDenied(charts, create(ingressOf({ rules: [rule(HOST)] }), DEPLOYER, namespace("impl-pr-42", PREVIEW.metadata.labels, { [HOST_ANNOTATION]: "" })), HOST_RULE);
    expect(admit(charts, create(serviceOf(CLUSTER_IP), DEPLOYER, bare))).toEqual({ matched: true, denied: [] });
  });

  it("reads the namespace's annotation as a plain map key, never an escaped field", () => {
    const all = expressionsOf(charts).map((e) => e.expression).join("\n");
    expect(all).toContain(`'${HOST_ANNOTATION}' in namespaceObject.metadata.annotations`);
    expect(all).not.toMatch(/__[a-z]+__/);
  });
});
