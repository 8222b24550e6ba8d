import { beforeAll, describe, expect, it } from "vitest";
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { RenderedResource, Render } from "../scripts/offline-render";
import { MERGE_VECTORS } from "../components/no-merge";
import { previewRender } from "../test/helpers/render";
import {
  githubAppSecretsAreSecret, leastPrivilegeRoles, noClusterWideSecretReads, noExpressionsInExecutableText,
  noMergeVectors, policies, previewGuardrailsPresent, restrictedStepPods,
} from "./policies";

/** The validation args CrossGuard would pass for a rendered resource. */
function asArgs(r: Pick<RenderedResource, "type" | "name" | "inputs"> & { additionalSecretOutputs?: string[] }): ResourceValidationArgs {
  return {
    type: r.type,
    name: r.name,
    urn: `urn:pulumi:preview::implementation-dag::${r.type}::${r.name}`,
    props: r.inputs as Record<string, unknown> as ResourceValidationArgs["props"],
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: r.additionalSecretOutputs ?? [] },
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: () => ({}),
  } as unknown as ResourceValidationArgs;
}

async function violations(policy: ResourceValidationPolicy, resources: Array<Pick<RenderedResource, "type" | "name" | "inputs"> & { additionalSecretOutputs?: string[] }>): Promise<string[]> {
  const found: string[] = [];
  for (const r of resources) {
    const validate = policy.validateResource;
    const fns = Array.isArray(validate) ? validate : validate ? [validate] : [];
    for (const fn of fns) await fn(asArgs(r), (message) => found.push(message));
  }
  return found;
}

async function stackViolations(policy: StackValidationPolicy, resources: Array<Pick<RenderedResource, "type" | "name" | "inputs"> & { additionalSecretOutputs?: string[] }>): Promise<string[]> {
  const found: string[] = [];
  const policyResources = resources.map((r) => ({ ...asArgs(r), dependencies: [], propertyDependencies: {} }) as unknown as PolicyResource);
  await policy.validateStack!({ resources: policyResources, getConfig: () => ({}) } as never, (message) => found.push(message));
  return found;
}

let render: Render;
beforeAll(async () => {
  render = await previewRender();
});

const ofType = (suffix: string) => render.resources.filter((r) => r.type.endsWith(suffix));
const wtResource = () => structuredClone(ofType(":WorkflowTemplate").find((r) => r.name === "implementation-dag")!);
type Spec = { templates: Array<{ name: string; script?: { source: string; securityContext?: Record<string, unknown>; resources?: { limits?: Record<string, string> } } }> };
const spec = (r: RenderedResource) => (r.inputs as { spec: Spec }).spec;

describe("the policy pack", () => {
  it("is clean on the project's own render", async () => {
    expect(policies.map((p) => p.name)).toEqual([
      "no-merge-vectors", "no-expressions-in-executable-text", "restricted-step-pods", "least-privilege-roles",
      "no-cluster-wide-secret-reads", "preview-guardrails-present", "github-app-secrets-are-secret",
    ]);
    for (const p of policies) {
      expect(p.enforcementLevel, p.name).toBe("mandatory");
      const found = "validateStack" in p ? await stackViolations(p as StackValidationPolicy, render.resources) : await violations(p as ResourceValidationPolicy, render.resources);
      expect(found, p.name).toEqual([]);
    }
  });

  it("no-merge-vectors flags a script that would merge", async () => {
    const r = wtResource();
    spec(r).templates.find((t) => t.name === "approve")!.script!.source += '\ncurl -X PUT "$API/repos/$OWNER/$REPO/pulls/$PR/merge"\n';
    expect(await violations(noMergeVectors, [r])).toEqual([expect.stringMatching(/^REST merge of a pull request .* at spec\.templates\[\d+\]\.script\.source: curl -X PUT/)]);
  });

  it("no-merge-vectors flags every merge or push vector in a workflow's script, as written, upper-cased and percent-encoded", async () => {
    const spellings = [(l: string) => l, (l: string) => l.toUpperCase(), (l: string) => l.replace(/[a-z]/gi, (c) => `%${c.charCodeAt(0).toString(16)}`)];
    for (const v of MERGE_VECTORS) {
      for (const spell of spellings) {
        const wt = { type: "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", name: "x", inputs: { spec: { templates: [{ name: "t", script: { source: `set -euo pipefail\n${spell(v.example)}\n` } }] } } };
        const found = await violations(noMergeVectors, [wt]);
        expect(found.some((m) => m.startsWith(`${v.name} at spec.templates[0].script.source`)), `${v.name}: ${spell(v.example)}`).toBe(true);
      }
    }
  });

  it("no-merge-vectors flags a deployment request without auto_merge: false", async () => {
    const r = wtResource();
    const deploy = spec(r).templates.find((t) => t.name === "deploy")!.script!;
    expect(await violations(noMergeVectors, [structuredClone(r)])).toEqual([]);
    deploy.source = deploy.source!.replace("auto_merge: false, ", "");
    expect(await violations(noMergeVectors, [r])).toEqual([expect.stringMatching(/^deployment request without auto_merge: false at spec\.templates\[\d+\]\.script\.source: /)]);
  });

  it("no-merge-vectors flags a CronWorkflow that enables auto-merge", async () => {
    const cron = { type: "kubernetes:argoproj.io/v1alpha1:CronWorkflow", name: "x", inputs: { spec: { workflowSpec: { templates: [{ name: "t", script: { source: "gh api graphql -f query='mutation { enablePullRequestAutoMerge }'" } }] } } } };
    expect(await violations(noMergeVectors, [cron])).toHaveLength(1);
  });

  it("no-expressions-in-executable-text flags {{…}} in a source and in args", async () => {
    const r = wtResource();
    const t = spec(r).templates.find((x) => x.name === "set-params")!;
    t.script!.source += "\necho {{inputs.parameters.pr}}\n";
    (t.script as Record<string, unknown>).args = ["{{workflow.parameters.repo}}"];
    expect(await violations(noExpressionsInExecutableText, [r])).toEqual([
      "set-params.script.source contains {{…}}",
      "set-params.script.args[0] contains {{…}}",
    ]);
  });

  it("restricted-step-pods flags privilege escalation, a writable root and a missing limit", async () => {
    const r = wtResource();
    const t = spec(r).templates.find((x) => x.name === "set-params")!;
    t.script!.securityContext = { ...t.script!.securityContext, allowPrivilegeEscalation: true, readOnlyRootFilesystem: false };
    delete t.script!.resources!.limits!.memory;
    expect(await violations(restrictedStepPods, [r])).toEqual([
      "template set-params: allowPrivilegeEscalation is not false; readOnlyRootFilesystem is not true; no limits.memory",
    ]);
  });

  it("restricted-step-pods flags a pod that may run as root", async () => {
    const r = wtResource();
    const s = r.inputs.spec as { securityContext: Record<string, unknown>; templates: Array<{ script?: { securityContext?: Record<string, unknown> } }> };
    s.securityContext = {};
    for (const t of s.templates) if (t.script) t.script.securityContext = { ...t.script.securityContext, runAsNonRoot: undefined, runAsUser: 0 };
    const found = await violations(restrictedStepPods, [r]);
    expect(found.length).toBeGreaterThan(0);
    for (const f of found) expect(f).toMatch(/runAsNonRoot is not true; runAsUser is 0/);
  });

  const role = (kind: "Role" | "ClusterRole", rules: unknown[]) => ({
    type: `kubernetes:rbac.authorization.k8s.io/v1:${kind}`, name: "r", inputs: { metadata: { name: "r" }, rules },
  });

  it("least-privilege-roles flags wildcards, escalate and impersonate", async () => {
    expect(await violations(leastPrivilegeRoles, [
      role("ClusterRole", [{ apiGroups: ["*"], resources: ["pods"], verbs: ["get"] }]),
      role("Role", [{ apiGroups: [""], resources: ["pods"], verbs: ["*"] }]),
      role("ClusterRole", [{ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["escalate"] }]),
      role("Role", [{ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["impersonate"] }]),
      role("Role", [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create"] }]),
    ])).toEqual([
      "r rule 0: wildcard in apiGroups",
      "r rule 0: wildcard in verbs",
      "r rule 0: verb escalate",
      "r rule 0: verb impersonate",
    ]);
  });

  it("no-cluster-wide-secret-reads flags a secret-reading ClusterRole bound cluster-wide, not one bound per namespace", async () => {
    const reader = { ...role("ClusterRole", [{ apiGroups: [""], resources: ["secrets"], verbs: ["list"] }]), name: "reader" };
    reader.inputs.metadata.name = "reader";
    const clusterBinding = { type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", name: "b", inputs: { metadata: { name: "b" }, roleRef: { kind: "ClusterRole", name: "reader" } } };
    const roleBinding = { type: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", name: "rb", inputs: { metadata: { name: "rb" }, roleRef: { kind: "ClusterRole", name: "reader" } } };
    expect(await stackViolations(noClusterWideSecretReads, [reader, roleBinding])).toEqual([]);
    expect(await stackViolations(noClusterWideSecretReads, [reader, clusterBinding])).toEqual(["ClusterRoleBinding b grants reader, which reads secrets, cluster-wide"]);
  });

  it("preview-guardrails-present flags a missing ConfigMap and an empty template", async () => {
    const others = render.resources.filter((r) => !(r.type.endsWith(":ConfigMap") && (r.inputs.metadata as { name: string }).name === "implementation-dag-guardrails"));
    expect(await stackViolations(previewGuardrailsPresent, others)).toEqual([expect.stringContaining("declares no ConfigMap implementation-dag-guardrails")]);
    const cm = { type: "kubernetes:core/v1:ConfigMap", name: "g", inputs: { metadata: { name: "implementation-dag-guardrails" }, data: { "resourcequota.yaml": "kind: ResourceQuota\nspec: {}\n", "limitrange.yaml": "", "networkpolicy.yaml": "kind: NetworkPolicy\nspec:\n  podSelector: {}\n" } } };
    expect(await stackViolations(previewGuardrailsPresent, [cm])).toEqual([
      "implementation-dag-guardrails: resourcequota.yaml has an empty spec",
      "implementation-dag-guardrails: limitrange.yaml holds no LimitRange",
    ]);
  });

  it("github-app-secrets-are-secret flags a GitHub App Secret whose data is not marked secret", async () => {
    const secret = (additionalSecretOutputs: string[]) => ({
      type: "kubernetes:core/v1:Secret", name: "s", additionalSecretOutputs,
      inputs: { metadata: { name: "github-app-qa" }, stringData: { "private-key": "x" } },
    });
    expect(await violations(githubAppSecretsAreSecret, [secret([])])).toEqual(["Secret github-app-qa: stringData is not marked secret (additionalSecretOutputs)"]);
    expect(await violations(githubAppSecretsAreSecret, [secret(["data", "stringData"])])).toEqual([]);
  });
});
