/**
 * Two stacks on one cluster (another team, another Argo namespace): every cluster-scoped object is
 * named from the stack's instance by the one function `clusterScopedName`, so the second stack's
 * render shares no cluster-scoped name with the first's, and each fence names only its own roles.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { parseConfig, type StackConfig } from "../../components/config";
import { CLUSTER_SCOPED_PURPOSES, clusterScopedName, stackInstance } from "../../components/rbac";
import { readStackConfig, renderStack, type KubeObject, type Render } from "../../scripts/offline-render";
import { objectsOf, previewRender } from "../helpers/render";

/** Kinds Kubernetes (and Argo) keep at cluster scope: a name of one of these is shared by every stack. */
const CLUSTER_SCOPED_KINDS = [
  "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
  "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
  "Namespace", "CustomResourceDefinition", "PriorityClass", "StorageClass", "PersistentVolume", "IngressClass",
  "RuntimeClass", "ClusterWorkflowTemplate", "ClusterIssuer",
];
const TEAM_B = "argo-team-b";

const clusterScoped = (r: Render) => r.manifests.filter((m) => CLUSTER_SCOPED_KINDS.includes(m.kind));
const key = (m: KubeObject) => `${m.kind}/${m.metadata.name}`;

let first: Render;
let second: Render;
let cfgA: StackConfig;
let cfgB: StackConfig;
beforeAll(async () => {
  first = await previewRender();
  second = await renderStack({ overrides: { namespace: TEAM_B } });
  cfgA = parseConfig(readStackConfig("preview"));
  cfgB = parseConfig({ ...readStackConfig("preview"), "implementation-dag:namespace": TEAM_B });
});

describe("cluster-scoped names", () => {
  it("are implementation-dag-<workflows namespace>-<purpose>", () => {
    expect(stackInstance(cfgA)).toBe("argo");
    expect(CLUSTER_SCOPED_PURPOSES.map((p) => clusterScopedName(cfgA, p))).toEqual([
      "implementation-dag-argo-deployer", "implementation-dag-argo-guardrails", "implementation-dag-argo-steps",
      "implementation-dag-argo-sweeper", "implementation-dag-argo-namespaces", "implementation-dag-argo-rolebindings",
      "implementation-dag-argo-agent-workflows", "implementation-dag-argo-preview-charts", "implementation-dag-argo-trigger-workflows",
    ]);
    expect(clusterScopedName(cfgB, "deployer")).toBe("implementation-dag-argo-team-b-deployer");
  });

  it("never read the same for two instances: no purpose ends in '-' and another purpose", () => {
    for (const a of CLUSTER_SCOPED_PURPOSES) {
      for (const b of CLUSTER_SCOPED_PURPOSES) expect(a === b || !a.endsWith(`-${b}`), `${a} / ${b}`).toBe(true);
    }
    // The pairs a careless scheme confuses: an instance whose name ends like a purpose begins.
    const names = (ns: string) => CLUSTER_SCOPED_PURPOSES.map((p) => clusterScopedName({ ...cfgA, namespace: ns }, p));
    for (const [x, y] of [["argo", "argo-agent"], ["argo", "argo-team-b"], ["a", "a-steps"], ["team", "team-agent"]]) {
      expect(names(x).filter((n) => names(y).includes(n)), `${x} / ${y}`).toEqual([]);
    }
  });

  it("every cluster-scoped object the stack renders is named by clusterScopedName, and nothing else of the stack is cluster-scoped", () => {
    for (const [r, cfg] of [[first, cfgA], [second, cfgB]] as const) {
      const derived = CLUSTER_SCOPED_PURPOSES.map((p) => clusterScopedName(cfg, p));
      const objects = clusterScoped(r);
      expect(objects.length).toBeGreaterThanOrEqual(10);
      for (const m of objects) expect(derived, key(m)).toContain(m.metadata.name);
      // Everything else lives in a namespace (the workflows namespace): an unknown cluster-scoped kind shows here.
      for (const m of r.manifests.filter((x) => !CLUSTER_SCOPED_KINDS.includes(x.kind))) {
        expect(m.metadata.namespace, key(m)).toBe(cfg.namespace);
      }
    }
  });

  it("a second stack (another workflows namespace) renders no cluster-scoped name the first renders", () => {
    const a = clusterScoped(first).map(key);
    const b = clusterScoped(second).map(key);
    expect(b.length).toBe(a.length);
    expect(b.filter((k) => a.includes(k))).toEqual([]);
    // Nor any name at all at cluster scope, whatever the kind.
    const namesA = new Set(clusterScoped(first).map((m) => m.metadata.name));
    expect(clusterScoped(second).map((m) => m.metadata.name).filter((n) => namesA.has(n))).toEqual([]);
  });

  it("each stack's bindings point at its own roles and policies", () => {
    for (const [r, cfg] of [[first, cfgA], [second, cfgB]] as const) {
      for (const b of objectsOf(r, "ClusterRoleBinding") as unknown as IClusterRoleBinding[]) {
        expect(b.roleRef.name.startsWith(`implementation-dag-${cfg.namespace}-`), b.metadata?.name).toBe(true);
        for (const s of b.subjects ?? []) expect(s.namespace).toBe(cfg.namespace);
      }
      for (const b of objectsOf(r, "ValidatingAdmissionPolicyBinding") as unknown as IValidatingAdmissionPolicyBinding[]) {
        expect(b.spec?.policyName).toBe(b.metadata?.name);
        expect(objectsOf(r, "ValidatingAdmissionPolicy", b.spec?.policyName)).toHaveLength(1);
      }
    }
  });

  it("the second stack's fence names only its own ClusterRoles, its own instance and its own service accounts", () => {
    const text = JSON.stringify(objectsOf(second, "ValidatingAdmissionPolicy") as unknown as IValidatingAdmissionPolicy[]);
    expect(text).toContain("implementation-dag-argo-team-b-deployer");
    expect(text).toContain(`'implementation-dag/instance'] == '${TEAM_B}'`);
    expect(text).not.toMatch(/implementation-dag-argo-(deployer|guardrails)/);
    expect(text).not.toContain("system:serviceaccount:argo:");
    expect(text).not.toContain("== 'argo'");
  });
});
