import { beforeAll, describe, expect, it } from "vitest";
import { evaluate } from "@marcbachmann/cel-js";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import type { Render } from "../../scripts/offline-render";
import { objectsOf, previewRender } from "../helpers/render";

const STEPS = "system:serviceaccount:argo:implementation-dag";
const SWEEPER = "system:serviceaccount:argo:implementation-dag-sweeper";

type Obj = Record<string, unknown> | null;
interface Request {
  user: string;
  operation: "CREATE" | "UPDATE" | "DELETE";
  object?: Obj;
  oldObject?: Obj;
  /** For namespaced objects: the namespace the request is in. */
  namespaceObject?: Obj;
}
interface Verdict {
  /** Whether the policy applied at all (its matchConditions held). */
  matched: boolean;
  /** Messages of the validations that denied (false, or an error: failurePolicy Fail). */
  denied: string[];
}

/** CEL keywords Kubernetes escapes as `__<keyword>__` when they name a property. */
const RESERVED = new Set(["true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"]);

/** An object as Kubernetes CEL sees it: reserved property names escaped; map keys (labels, annotations) as they are. */
function celView(value: unknown, inMap = false): unknown {
  if (Array.isArray(value)) return value.map((v) => celView(v));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [
      !inMap && RESERVED.has(k) ? `__${k}__` : k,
      celView(v, k === "labels" || k === "annotations"),
    ]));
  }
  return value;
}

/** Evaluates a ValidatingAdmissionPolicy on one request, as the API server would. */
function admit(policy: IValidatingAdmissionPolicy, req: Request): Verdict {
  const kind = req.object ?? req.oldObject;
  const metadata = (kind as { metadata?: { name?: string; namespace?: string } } | null)?.metadata;
  const request = {
    operation: req.operation,
    userInfo: { username: req.user },
    name: metadata?.name ?? "",
    namespace: (req.namespaceObject as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? "",
  };
  const base = {
    request,
    object: celView(req.object ?? null),
    oldObject: celView(req.oldObject ?? null),
    namespaceObject: celView(req.namespaceObject ?? null),
  };
  for (const c of policy.spec?.matchConditions ?? []) {
    if (evaluate(c.expression, base) !== true) return { matched: false, denied: [] };
  }
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec?.variables ?? []) {
    try {
      variables[v.name] = evaluate(v.expression, { ...base, variables });
    } catch {
      variables[v.name] = undefined; // an error surfaces when a validation reads it
    }
  }
  const denied: string[] = [];
  for (const v of policy.spec?.validations ?? []) {
    let ok: unknown;
    try {
      ok = evaluate(v.expression, { ...base, variables });
    } catch (e) {
      ok = e;
    }
    if (ok !== true) denied.push(v.message ?? v.expression);
  }
  return { matched: true, denied };
}

const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};
const namespace = (name: string, labels: Record<string, string> = { preview: "true", ...RESTRICTED }, annotations?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels, ...(annotations ? { annotations } : {}) },
});
const withoutLabel = (labels: Record<string, string>, key: string) => Object.fromEntries(Object.entries(labels).filter(([k]) => k !== key));
const PREVIEW = namespace("impl-pr-42");

let render: Render;
let nsPolicy: IValidatingAdmissionPolicy;
let rbPolicy: IValidatingAdmissionPolicy;
beforeAll(async () => {
  render = await previewRender();
  nsPolicy = objectsOf(render, "ValidatingAdmissionPolicy", "implementation-dag-namespaces")[0] as unknown as IValidatingAdmissionPolicy;
  rbPolicy = objectsOf(render, "ValidatingAdmissionPolicy", "implementation-dag-rolebindings")[0] as unknown as IValidatingAdmissionPolicy;
});

describe("the admission fence objects", () => {
  it("are two admissionregistration.k8s.io/v1 policies, each bound with validationActions [Deny], under the AdmissionFence component", () => {
    const policies = objectsOf(render, "ValidatingAdmissionPolicy") as unknown as IValidatingAdmissionPolicy[];
    const bindings = objectsOf(render, "ValidatingAdmissionPolicyBinding") as unknown as IValidatingAdmissionPolicyBinding[];
    expect(policies.map((p) => p.metadata?.name).sort()).toEqual(["implementation-dag-namespaces", "implementation-dag-rolebindings"]);
    expect(bindings.map((b) => [b.spec?.policyName, b.spec?.validationActions]).sort()).toEqual([
      ["implementation-dag-namespaces", ["Deny"]],
      ["implementation-dag-rolebindings", ["Deny"]],
    ]);
    for (const o of [...policies, ...bindings]) expect(o.apiVersion).toBe("admissionregistration.k8s.io/v1");
    for (const p of policies) expect(p.spec?.failurePolicy).toBe("Fail");
    const component = render.resources.find((r) => r.type === "implementation-dag:index:AdmissionFence");
    const fenced = render.resources.filter((r) => r.type.startsWith("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"));
    expect(fenced).toHaveLength(4);
    for (const r of fenced) expect(r.parent).toBe(component?.urn);
  });

  it("match the Kubernetes schema", () => {
    for (const p of objectsOf(render, "ValidatingAdmissionPolicy")) expect(() => new ValidatingAdmissionPolicy(p as never).validate()).not.toThrow();
    for (const b of objectsOf(render, "ValidatingAdmissionPolicyBinding")) expect(() => new ValidatingAdmissionPolicyBinding(b as never).validate()).not.toThrow();
  });

  it("select exactly the steps' and the sweeper's service-account users", () => {
    for (const p of [nsPolicy, rbPolicy]) {
      expect(p.spec?.matchConditions).toEqual([
        { name: "implementation-dag-service-accounts", expression: `request.userInfo.username in ['${STEPS}', '${SWEEPER}']` },
      ]);
    }
  });

  it("cover create, update and delete of namespaces and of RoleBindings", () => {
    expect(nsPolicy.spec?.matchConstraints?.resourceRules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["namespaces"] }]);
    expect(rbPolicy.spec?.matchConstraints?.resourceRules).toEqual([
      { apiGroups: ["rbac.authorization.k8s.io"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE", "DELETE"], resources: ["rolebindings"] },
    ]);
  });
});

describe("the namespace policy", () => {
  const allowed: Array<[string, Request]> = [
    ["the steps create a preview namespace", { user: STEPS, operation: "CREATE", object: PREVIEW }],
    ["the steps refresh the workflow label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", { ...PREVIEW.metadata.labels, workflow: "implementation-dag-abc12" }) }],
    ["cleanup stamps the expiry", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", PREVIEW.metadata.labels, { "implementation-dag/expires-at": "2026-11-27T00:00:00Z" }) }],
    ["cleanup deletes a preview namespace", { user: STEPS, operation: "DELETE", oldObject: PREVIEW, object: null }],
    ["the sweeper deletes a preview namespace", { user: SWEEPER, operation: "DELETE", oldObject: namespace("impl-pr-7"), object: null }],
    ["version labels pinned to latest", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...RESTRICTED, "pod-security.kubernetes.io/enforce-version": "latest" }) }],
  ];
  it.each(allowed)("allows: %s", (_what, req) => {
    expect(admit(nsPolicy, req)).toEqual({ matched: true, denied: [] });
  });

  const denied: Array<[string, Request, RegExp]> = [
    ["create with a wrong prefix", { user: STEPS, operation: "CREATE", object: namespace("prod-42") }, /named impl-pr-<N>/],
    ["create impl-pr-042 (leading zero)", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-042") }, /named impl-pr-<N>/],
    ["create impl-pr-42-x", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42-x") }, /named impl-pr-<N>/],
    ["create without the preview label", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { ...RESTRICTED }) }, /preview=true/],
    ["create with preview=false", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "false", ...RESTRICTED }) }, /preview=true/],
    ["create without Pod Security labels", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true" }) }, /restricted/],
    ["create with enforce=baseline", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...RESTRICTED, "pod-security.kubernetes.io/enforce": "baseline" }) }, /restricted/],
    ["create pinning an old policy version", { user: STEPS, operation: "CREATE", object: namespace("impl-pr-42", { preview: "true", ...RESTRICTED, "pod-security.kubernetes.io/enforce-version": "v1.20" }) }, /version/],
    ["update removing the preview label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", withoutLabel(PREVIEW.metadata.labels, "preview")) }, /preview=true/],
    ["update adopting a namespace without the label", { user: STEPS, operation: "UPDATE", oldObject: namespace("impl-pr-42", { ...RESTRICTED }), object: PREVIEW }, /preview=true/],
    ["update weakening enforce to privileged", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", { ...PREVIEW.metadata.labels, "pod-security.kubernetes.io/enforce": "privileged" }) }, /restricted/],
    ["update dropping the warn label", { user: STEPS, operation: "UPDATE", oldObject: PREVIEW, object: namespace("impl-pr-42", withoutLabel(PREVIEW.metadata.labels, "pod-security.kubernetes.io/warn")) }, /restricted/],
    ["update of kube-system", { user: STEPS, operation: "UPDATE", oldObject: namespace("kube-system", {}), object: namespace("kube-system", { preview: "true", ...RESTRICTED }) }, /named impl-pr-<N>/],
    ["delete of kube-system", { user: STEPS, operation: "DELETE", oldObject: namespace("kube-system", {}), object: null }, /named impl-pr-<N>/],
    ["the sweeper deleting a namespace named like ours without the label", { user: SWEEPER, operation: "DELETE", oldObject: namespace("impl-pr-42", { team: "payments" }), object: null }, /preview=true/],
    ["the sweeper deleting a labelled namespace not named like ours", { user: SWEEPER, operation: "DELETE", oldObject: namespace("team-payments"), object: null }, /named impl-pr-<N>/],
  ];
  it.each(denied)("denies: %s", (_what, req, message) => {
    const v = admit(nsPolicy, req);
    expect(v.matched).toBe(true);
    expect(v.denied.length).toBeGreaterThan(0);
    expect(v.denied.join("\n")).toMatch(message);
  });

  it.each([
    ["a person deleting kube-system", "kubernetes-admin"],
    ["another service account in the workflows namespace", "system:serviceaccount:argo:argo-server"],
    ["a service account of the same name elsewhere", "system:serviceaccount:default:implementation-dag"],
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
  const steps = { kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" };
  const sweeper = { kind: "ServiceAccount", name: "implementation-dag-sweeper", namespace: "argo" };
  const deployer = { kind: "ServiceAccount", name: "preview-deployer", namespace: "impl-pr-42" };
  const deployerBinding = binding("impl-pr-42", clusterRole("implementation-dag-deployer"), [deployer, steps, sweeper]);
  const guardrailsBinding = binding("impl-pr-42", clusterRole("implementation-dag-guardrails"), [steps]);

  it.each([
    ["the deployer binding deploy creates", deployerBinding],
    ["the guardrails binding deploy creates", guardrailsBinding],
  ])("allows: %s", (_what, object) => {
    expect(admit(rbPolicy, { user: STEPS, operation: "CREATE", object, namespaceObject: PREVIEW })).toEqual({ matched: true, denied: [] });
  });

  const denied: Array<[string, Request, RegExp]> = [
    ["a binding outside a preview namespace", { user: STEPS, operation: "CREATE", object: binding("default", clusterRole("implementation-dag-deployer"), [steps]), namespaceObject: namespace("default", {}) }, /inside impl-pr-<N>/],
    ["a binding in a namespace named like ours without the label", { user: STEPS, operation: "CREATE", object: deployerBinding, namespaceObject: namespace("impl-pr-42", { ...RESTRICTED }) }, /inside impl-pr-<N>/],
    ["a binding to cluster-admin", { user: STEPS, operation: "CREATE", object: binding("impl-pr-42", clusterRole("cluster-admin"), [steps]), namespaceObject: PREVIEW }, /only bind the ClusterRoles/],
    ["a binding to a Role of the same name", { user: STEPS, operation: "CREATE", object: binding("impl-pr-42", { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "implementation-dag-deployer" }, [steps]), namespaceObject: PREVIEW }, /only bind the ClusterRoles/],
    ["a binding for another service account", { user: STEPS, operation: "CREATE", object: binding("impl-pr-42", clusterRole("implementation-dag-deployer"), [{ kind: "ServiceAccount", name: "default", namespace: "kube-system" }]), namespaceObject: PREVIEW }, /its own service accounts/],
    ["a binding for a user", { user: STEPS, operation: "CREATE", object: binding("impl-pr-42", clusterRole("implementation-dag-deployer"), [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "mallory" }]), namespaceObject: PREVIEW }, /its own service accounts/],
    ["another namespace's preview-deployer", { user: STEPS, operation: "CREATE", object: binding("impl-pr-42", clusterRole("implementation-dag-deployer"), [{ kind: "ServiceAccount", name: "preview-deployer", namespace: "impl-pr-43" }]), namespaceObject: PREVIEW }, /its own service accounts/],
    ["the sweeper deleting a chart's own binding", { user: SWEEPER, operation: "DELETE", oldObject: binding("impl-pr-42", { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "app" }, [deployer]), object: null, namespaceObject: PREVIEW }, /only bind the ClusterRoles/],
  ];
  it.each(denied)("denies: %s", (_what, req, message) => {
    const v = admit(rbPolicy, req);
    expect(v.matched).toBe(true);
    expect(v.denied.join("\n")).toMatch(message);
  });

  it("leaves everyone else untouched: a person binding cluster-admin in default", () => {
    const req: Request = { user: "kubernetes-admin", operation: "CREATE", object: binding("default", clusterRole("cluster-admin"), [{ kind: "User", name: "x" }]), namespaceObject: namespace("default", {}) };
    expect(admit(rbPolicy, req)).toEqual({ matched: false, denied: [] });
  });
});
