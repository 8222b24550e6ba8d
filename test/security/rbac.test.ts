import { beforeAll, describe, expect, it } from "vitest";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Secret } from "kubernetes-models/v1/Secret";
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { parseConfig } from "../../components/config";
import { clusterScopedName, deployerClusterRole, guardrailsClusterRole } from "../../components/rbac";
import { readStackConfig, renderStack, type KubeObject, type Render } from "../../scripts/offline-render";
import { objectsOf, previewRender } from "../helpers/render";
import { lintRbac, type RoleLike } from "./rbac-lint";

let render: Render;
const cfg = parseConfig(readStackConfig("preview"));
const DEPLOYER = deployerClusterRole(cfg);
const GUARDRAILS = guardrailsClusterRole(cfg);
const STEPS_ROLE = clusterScopedName(cfg, "steps");
const SWEEPER_ROLE = clusterScopedName(cfg, "sweeper");
const BINDABLE = [DEPLOYER, GUARDRAILS];
const rulesOf = (kind: string, name: string) => (objectsOf(render, kind, name)[0] as RoleLike | undefined)?.rules;
const grants = (rules: IPolicyRule[] | undefined, group: string, resource: string) =>
  (rules ?? []).filter((r) => (r.apiGroups ?? []).includes(group) && (r.resources ?? []).includes(resource)).flatMap((r) => r.verbs);

beforeAll(async () => {
  render = await previewRender();
});

describe("the RBAC lint", () => {
  it("passes over every rendered Role, ClusterRole and ClusterRoleBinding", () => {
    const roles = render.manifests.filter((m) => m.kind === "Role" || m.kind === "ClusterRole");
    expect(roles.length).toBeGreaterThanOrEqual(5);
    expect(lintRbac(render.manifests, BINDABLE)).toEqual([]);
  });

  it("catches what it is there to catch", () => {
    const bad: KubeObject[] = [
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "bad" }, rules: [
        { apiGroups: ["*"], resources: ["pods"], verbs: ["get"] },
        { apiGroups: [""], resources: ["secrets"], verbs: ["list"] },
        { apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind", "escalate"] },
        { apiGroups: [""], resources: ["users"], verbs: ["impersonate"] },
      ] },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "bad" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "bad" }, subjects: [] },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "d" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: DEPLOYER }, subjects: [] },
    ];
    const problems = lintRbac(bad, BINDABLE);
    expect(problems).toEqual(expect.arrayContaining([
      "ClusterRole bad rule 0: wildcard in apiGroups: *",
      "ClusterRole bad rule 1: reads secrets and is bound cluster-wide",
      "ClusterRole bad rule 2: verb escalate",
      `ClusterRole bad rule 2: bind beyond ${DEPLOYER}, ${GUARDRAILS}`,
      "ClusterRole bad rule 3: verb impersonate",
      `ClusterRoleBinding d: binds ${DEPLOYER}, which this stack does not define`,
      `ClusterRoleBinding d: binds ${DEPLOYER} cluster-wide (it is meant per preview namespace)`,
    ]));
  });
});

describe("the RBAC objects", () => {
  it("are registered under the Rbac component and match the Kubernetes schema", () => {
    const component = render.resources.find((r) => r.type === "implementation-dag:index:Rbac");
    expect(component).toBeDefined();
    const children = render.resources.filter((r) => r.parent === component?.urn);
    expect(children.map((r) => r.type).sort()).toEqual([
      "kubernetes:core/v1:Secret",
      "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccount",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
      "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:Role",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ].sort());
    const models: Record<string, (o: never) => { validate(): void }> = {
      ServiceAccount: (o) => new ServiceAccount(o), Secret: (o) => new Secret(o), ClusterRole: (o) => new ClusterRole(o),
      ClusterRoleBinding: (o) => new ClusterRoleBinding(o), Role: (o) => new Role(o), RoleBinding: (o) => new RoleBinding(o),
    };
    for (const r of children) {
      const obj = r.inputs as KubeObject;
      expect(() => models[obj.kind](obj as never).validate(), `${obj.kind} ${obj.metadata.name}`).not.toThrow();
    }
  });

  it("give the steps, the sweeper, the agents and Argo's executor their own service accounts, exported as stack outputs", () => {
    expect(objectsOf(render, "ServiceAccount").map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort()).toEqual(
      ["argo/implementation-dag", "argo/implementation-dag-agents", "argo/implementation-dag-executor", "argo/implementation-dag-sweeper"],
    );
    expect(render.outputs.serviceAccounts).toEqual({
      steps: "implementation-dag", sweeper: "implementation-dag-sweeper", executor: "implementation-dag-executor", agents: "implementation-dag-agents",
    });
    expect(objectsOf(render, "ServiceAccount", "implementation-dag-executor")[0]).toMatchObject({ automountServiceAccountToken: false });
    expect(objectsOf(render, "Secret", "implementation-dag-executor.service-account-token")[0]).toMatchObject({
      type: "kubernetes.io/service-account-token",
      metadata: { namespace: "argo", annotations: { "kubernetes.io/service-account.name": "implementation-dag-executor" } },
    });
  });

  it("let the deployer do what a chart needs in its namespace and nothing that lifts the guardrails", () => {
    const deployer = rulesOf("ClusterRole", DEPLOYER);
    for (const [group, resource] of [["apps", "deployments"], ["", "services"], ["networking.k8s.io", "ingresses"], ["", "configmaps"], ["", "secrets"], ["", "persistentvolumeclaims"], ["", "serviceaccounts"], ["rbac.authorization.k8s.io", "roles"], ["rbac.authorization.k8s.io", "rolebindings"], ["batch", "jobs"]]) {
      expect(grants(deployer, group, resource), `${group}/${resource}`).toEqual(expect.arrayContaining(["create", "get", "patch", "delete"]));
    }
    for (const [group, resource] of [["", "resourcequotas"], ["", "limitranges"], ["networking.k8s.io", "networkpolicies"], ["", "namespaces"], ["", "serviceaccounts/token"], ["", "pods/exec"]]) {
      expect(grants(deployer, group, resource), `${group}/${resource}`).toEqual([]);
    }
    expect((deployer ?? []).flatMap((r) => r.verbs)).not.toEqual(expect.arrayContaining(["bind"]));
  });

  it("let the guardrails role write exactly the guardrails and the chart's deployer identity", () => {
    expect(rulesOf("ClusterRole", GUARDRAILS)).toEqual([
      { apiGroups: [""], resources: ["resourcequotas", "limitranges"], verbs: ["get", "create", "patch", "update"] },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "create", "patch", "update"] },
      { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "create"] },
      { apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] },
    ]);
  });

  it("bind the deployer and guardrails ClusterRoles nowhere cluster-wide (deploy binds them per preview namespace)", () => {
    const bound = [...objectsOf(render, "ClusterRoleBinding"), ...objectsOf(render, "RoleBinding")] as unknown as Array<IClusterRoleBinding | IRoleBinding>;
    expect(bound.map((b) => b.roleRef.name)).not.toEqual(expect.arrayContaining([DEPLOYER]));
    expect(bound.map((b) => b.roleRef.name)).not.toEqual(expect.arrayContaining([GUARDRAILS]));
  });

  it("give the steps exactly their cluster-scope rights, bound to the steps' service account", () => {
    expect(rulesOf("ClusterRole", STEPS_ROLE)).toEqual([
      { apiGroups: [""], resources: ["namespaces"], verbs: ["create", "get", "list", "patch", "delete"] },
      { apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind"], resourceNames: [DEPLOYER, GUARDRAILS] },
      { apiGroups: ["rbac.authorization.k8s.io"], resources: ["rolebindings"], verbs: ["create"] },
    ]);
    expect(objectsOf(render, "ClusterRoleBinding", STEPS_ROLE)[0]).toMatchObject({
      roleRef: { kind: "ClusterRole", name: STEPS_ROLE },
      subjects: [{ kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" }],
    });
  });

  it("give the sweeper only namespaces list and delete, and persistentvolumes list (to report, never to change)", () => {
    expect(rulesOf("ClusterRole", SWEEPER_ROLE)).toEqual([
      { apiGroups: [""], resources: ["namespaces"], verbs: ["list", "delete"] },
      { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["list"] },
    ]);
    expect(objectsOf(render, "ClusterRoleBinding", SWEEPER_ROLE)[0]).toMatchObject({
      subjects: [{ kind: "ServiceAccount", name: "implementation-dag-sweeper", namespace: "argo" }],
    });
  });

  it("let the sweeper's account only list Workflows, in the workflows namespace (the uninstall's check for runs in progress)", () => {
    expect(objectsOf(render, "Role", "implementation-dag-sweeper-runs")).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ namespace: "argo" }),
        rules: [{ apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["list"] }],
      }),
    ]);
    expect(objectsOf(render, "RoleBinding", "implementation-dag-sweeper-runs")).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ namespace: "argo" }),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "implementation-dag-sweeper-runs" },
        subjects: [{ kind: "ServiceAccount", name: "implementation-dag-sweeper", namespace: "argo" }],
      }),
    ]);
  });

  it("let Argo's executor in every pod of ours (the agent steps' included) only report task results", () => {
    expect(rulesOf("Role", "implementation-dag-executor")).toEqual([{ apiGroups: ["argoproj.io"], resources: ["workflowtaskresults"], verbs: ["create", "patch"] }]);
    expect(objectsOf(render, "RoleBinding", "implementation-dag-executor")[0]).toMatchObject({
      metadata: { namespace: "argo" },
      roleRef: { kind: "Role", name: "implementation-dag-executor" },
      subjects: ["implementation-dag", "implementation-dag-sweeper", "implementation-dag-executor", "implementation-dag-agents"].map((name) => ({ kind: "ServiceAccount", name, namespace: "argo" })),
    });
  });

  it("let the agents' service account, and only it, create and follow Workflows, by a Role in the workflows namespace", () => {
    expect(objectsOf(render, "Role", "implementation-dag-agents")).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ name: "implementation-dag-agents", namespace: "argo" }),
        rules: [{ apiGroups: ["argoproj.io"], resources: ["workflows"], verbs: ["create", "get", "list", "watch", "patch"] }],
      }),
    ]);
    expect(objectsOf(render, "RoleBinding", "implementation-dag-agents")).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ namespace: "argo" }),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "implementation-dag-agents" },
        subjects: [{ kind: "ServiceAccount", name: "implementation-dag-agents", namespace: "argo" }],
      }),
    ]);
    // Whatever binds a role that does more than list workflows binds it to the agents alone.
    const touchesWorkflows = (rules: IPolicyRule[] | undefined) =>
      (rules ?? []).some((r) => (r.apiGroups ?? []).some((g) => g === "argoproj.io" || g === "*") && (r.resources ?? []).some((x) => x === "workflows" || x === "*")
        && (r.verbs ?? []).some((v) => v !== "list"));
    const workflowRoles = render.manifests.filter((m) => (m.kind === "Role" || m.kind === "ClusterRole") && touchesWorkflows((m as RoleLike).rules));
    expect(workflowRoles.map((r) => `${r.kind} ${r.metadata.name}`)).toEqual(["Role implementation-dag-agents"]);
    const bindingsOfIt = [...objectsOf(render, "RoleBinding"), ...objectsOf(render, "ClusterRoleBinding")] as unknown as Array<IRoleBinding | IClusterRoleBinding>;
    expect(bindingsOfIt.filter((b) => b.roleRef.name === "implementation-dag-agents").flatMap((b) => b.subjects ?? [])).toEqual([
      { kind: "ServiceAccount", name: "implementation-dag-agents", namespace: "argo" },
    ]);
  });

  it("grant workflows in no ClusterRole, with either deploy runner", async () => {
    const docsrun = await renderStack({ overrides: { deploy: { runner: "docsrun" } } });
    for (const r of [render, docsrun]) {
      const clusterRoles = objectsOf(r, "ClusterRole") as unknown as RoleLike[];
      expect(clusterRoles.length).toBeGreaterThanOrEqual(4);
      for (const cr of clusterRoles) {
        for (const resource of ["workflows", "workflowtemplates", "clusterworkflowtemplates", "cronworkflows"]) {
          expect(grants(cr.rules, "argoproj.io", resource), `${cr.metadata?.name} ${resource}`).toEqual([]);
        }
        expect((cr.rules ?? []).flatMap((x) => x.resources ?? []), `${cr.metadata?.name}`).not.toContain("*");
      }
    }
  });

  it("grant docsruns create/get/list/watch in the workflows namespace only when the DocsRun runner is chosen", async () => {
    expect(objectsOf(render, "Role", "implementation-dag-docsrun")).toEqual([]);
    const docsrun = await renderStack({ overrides: { deploy: { runner: "docsrun" } } });
    expect(objectsOf(docsrun, "Role", "implementation-dag-docsrun")[0]).toMatchObject({
      metadata: { namespace: "argo" },
      rules: [{ apiGroups: ["taskmaster.io"], resources: ["docsruns"], verbs: ["create", "get", "list", "watch"] }],
    });
    expect(objectsOf(docsrun, "RoleBinding", "implementation-dag-docsrun")[0]).toMatchObject({
      subjects: [{ kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" }],
    });
    expect(lintRbac(docsrun.manifests, BINDABLE)).toEqual([]);
  });
});
