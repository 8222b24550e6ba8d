/**
 * What the deploy step writes as the steps' service account passes the admission fence the program
 * installs: its Namespace (created, relabelled on reuse, adopted when made before the instance label)
 * and its two RoleBindings, evaluated with the fence's own CEL as the API server would (plain maps,
 * two CEL engines that must agree). And two stacks on one cluster: a second stack's deploy binds its
 * own ClusterRoles, labels its own instance, and each fence keeps each stack off the other's previews.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { parseConfig, type StackConfig } from "../../components/config";
import { namespacePolicy, roleBindingPolicy } from "../../components/admission";
import { deployerClusterRole, guardrailsClusterRole, INSTANCE_LABEL } from "../../components/rbac";
import { readStackConfig, renderStack } from "../../scripts/offline-render";
import { admit, type Obj } from "../helpers/admission";
import { runScriptTemplate } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns } from "../../simulator/stand-ins";
import { DEPLOYER_ROLE, githubWorld, GUARDRAILS_ROLE, guardrailsDir, newWorld, PARAMETERS, previewNamespace, WORKFLOW, worldTools, type World } from "./fixtures";

const STEPS_USER = "system:serviceaccount:argo:implementation-dag";
/** The second stack: another team, another Argo namespace. */
const TEAM_B = "argo-team-b";
const TEAM_B_STEPS_USER = `system:serviceaccount:${TEAM_B}:implementation-dag`;

/** The messages of the validations that deny the request (empty: admitted). Fails if the policy does not apply. */
function denials(policy: IValidatingAdmissionPolicy, operation: "CREATE" | "UPDATE" | "DELETE", object: Obj | null, oldObject: Obj | null, namespaceObject: Obj | null, user = STEPS_USER): string[] {
  const verdict = admit(policy, { user, operation, object, oldObject, namespaceObject });
  expect(verdict.matched).toBe(true);
  return verdict.denied;
}

let github: Awaited<ReturnType<typeof githubWorld>>;
let guardrails: string;
beforeAll(async () => {
  github = await githubWorld();
  guardrails = guardrailsDir();
});
afterAll(() => github.gh.close());

async function deploy(world: World, template?: ITemplate) {
  const standIns = await startStandIns(["kubectl", "helm", "git"], worldTools(world));
  try {
    const r = await runScriptTemplate(template ?? templateNamed(implementationDag(await previewRender()), "deploy"), {
      parameters: PARAMETERS,
      workflow: { name: WORKFLOW },
      pathPrepend: [standIns.dir],
      standInEnv: { ...standIns.env, ...github.env, GUARDRAILS_DIR: guardrails },
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  } finally {
    await standIns.close();
  }
}

describe("deploy within the admission fence", () => {
  const cfg = parseConfig(readStackConfig("preview"));

  it("creates a namespace and RoleBindings the fence admits", async () => {
    const world = newWorld();
    await deploy(world);
    const [ns, ...rest] = world.applied;
    expect(ns.kind).toBe("Namespace");
    expect(denials(namespacePolicy(cfg), "CREATE", ns, null, null)).toEqual([]);
    const bindings = rest.filter((o) => o.kind === "RoleBinding");
    expect(bindings).toHaveLength(2);
    // The case a reserved-word slip breaks on a real server: our accounts bound with `namespace: argo`.
    const subjects = bindings.flatMap((rb) => (rb.subjects ?? []) as Array<Record<string, string>>);
    expect(subjects).toEqual(expect.arrayContaining([{ kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" }]));
    for (const rb of bindings) expect(denials(roleBindingPolicy(cfg), "CREATE", rb, null, world.namespace!)).toEqual([]);
  });

  it("relabels a reused namespace in a way the fence admits", async () => {
    const before = previewNamespace();
    const world = newWorld({ namespace: structuredClone(before) });
    await deploy(world);
    expect(denials(namespacePolicy(cfg), "UPDATE", world.namespace!, before, null)).toEqual([]);
  });

  it("adopts a preview made before the instance label in a way the fence admits, then binds inside it", async () => {
    const before = previewNamespace({ instance: null });
    const world = newWorld({ namespace: structuredClone(before) });
    await deploy(world);
    expect(denials(namespacePolicy(cfg), "UPDATE", world.namespace!, before, null)).toEqual([]);
    const bindings = world.applied.filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => (b.roleRef as { name: string }).name)).toEqual([GUARDRAILS_ROLE, DEPLOYER_ROLE]);
    for (const rb of bindings) expect(denials(roleBindingPolicy(cfg), "CREATE", rb, null, world.namespace!)).toEqual([]);
  });

  it("binds exactly the ClusterRoles the fence allows, by the names the stack derives", async () => {
    const world = newWorld();
    await deploy(world);
    const names = world.applied.filter((o) => o.kind === "RoleBinding").map((o) => (o.roleRef as { name: string }).name);
    expect(names).toEqual([guardrailsClusterRole(cfg), deployerClusterRole(cfg)]);
    const allowed = roleBindingPolicy(cfg).spec?.validations?.map((v) => v.expression).find((e) => e.includes("roleRef.name in"));
    expect(allowed).toContain(`roleRef.name in ['${deployerClusterRole(cfg)}', '${guardrailsClusterRole(cfg)}']`);
  });

  it("the check is real: the fence denies a binding the step would never make", () => {
    const world = newWorld({ namespace: previewNamespace() });
    const rogue = {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "x", namespace: "impl-pr-42" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: "preview-deployer", namespace: "impl-pr-42" }],
    };
    expect(denials(roleBindingPolicy(cfg), "CREATE", rogue, null, world.namespace!)).not.toEqual([]);
  });

  it("the check is real: the fence denies deploy's own binding with kube-system's preview-deployer added", async () => {
    const world = newWorld();
    await deploy(world);
    const [rb] = world.applied.filter((o) => o.kind === "RoleBinding" && (o.metadata as { name?: string }).name === DEPLOYER_ROLE);
    expect(rb).toBeDefined();
    const rogue = { ...rb, subjects: [...(rb.subjects as object[]), { kind: "ServiceAccount", name: "preview-deployer", namespace: "kube-system" }] };
    expect(denials(roleBindingPolicy(cfg), "CREATE", rogue, null, world.namespace!)).toEqual([expect.stringMatching(/its own service accounts/)]);
  });
});

describe("two stacks on one cluster", () => {
  const cfgA = parseConfig(readStackConfig("preview"));
  let cfgB: StackConfig;
  let templateB: ITemplate;
  beforeAll(async () => {
    cfgB = parseConfig({ ...readStackConfig("preview"), "implementation-dag:namespace": TEAM_B });
    templateB = templateNamed(implementationDag(await renderStack({ overrides: { namespace: TEAM_B } })), "deploy");
  });

  it("the second stack's deploy labels its own instance and binds its own ClusterRoles, from its env", async () => {
    const env = Object.fromEntries((templateB.script?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      PREVIEW_INSTANCE: TEAM_B,
      DEPLOYER_CLUSTER_ROLE: "implementation-dag-argo-team-b-deployer",
      GUARDRAILS_CLUSTER_ROLE: "implementation-dag-argo-team-b-guardrails",
    });
    const world = newWorld();
    await deploy(world, templateB);
    const [ns, ...rest] = world.applied;
    expect((ns.metadata as { labels: Record<string, string> }).labels[INSTANCE_LABEL]).toBe(TEAM_B);
    const bindings = rest.filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => [(b.metadata as { name: string }).name, (b.roleRef as { name: string }).name])).toEqual([
      ["implementation-dag-argo-team-b-guardrails", "implementation-dag-argo-team-b-guardrails"],
      ["implementation-dag-argo-team-b-deployer", "implementation-dag-argo-team-b-deployer"],
    ]);
    expect(denials(namespacePolicy(cfgB), "CREATE", ns, null, null, TEAM_B_STEPS_USER)).toEqual([]);
    for (const rb of bindings) expect(denials(roleBindingPolicy(cfgB), "CREATE", rb, null, world.namespace!, TEAM_B_STEPS_USER)).toEqual([]);
    // The first stack's fence would refuse those very bindings to the first stack's steps.
    for (const rb of bindings) expect(denials(roleBindingPolicy(cfgA), "CREATE", rb, null, world.namespace!)).not.toEqual([]);
  });

  it("each stack's fence keeps its steps off the other stack's preview: no relabel, no binding, no delete", async () => {
    const world = newWorld();
    await deploy(world);
    const previewOfA = world.namespace!;
    const [bindingOfA] = world.applied.filter((o) => o.kind === "RoleBinding");
    const relabelled = { ...previewOfA, metadata: { ...(previewOfA.metadata as object), labels: { ...(previewOfA.metadata as { labels: object }).labels, workflow: "implementation-dag-b0b0b" } } };
    const message = new RegExp(`instance ${TEAM_B}\\) may only`);
    expect(denials(namespacePolicy(cfgB), "UPDATE", relabelled, previewOfA, null, TEAM_B_STEPS_USER)).toEqual([expect.stringMatching(message)]);
    expect(denials(namespacePolicy(cfgB), "DELETE", null, previewOfA, null, TEAM_B_STEPS_USER)).toEqual([expect.stringMatching(message)]);
    const bindingForB = { ...bindingOfA, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: guardrailsClusterRole(cfgB) }, subjects: [{ kind: "ServiceAccount", name: "implementation-dag", namespace: TEAM_B }] };
    expect(denials(roleBindingPolicy(cfgB), "CREATE", bindingForB, null, previewOfA, TEAM_B_STEPS_USER)).toEqual([expect.stringMatching(message)]);
    // The same requests on the first stack's own preview are admitted: the instance is what denies.
    expect(denials(namespacePolicy(cfgA), "DELETE", null, previewOfA, null)).toEqual([]);
  });

  it("the second stack's deploy refuses the first stack's preview of the same name", async () => {
    const world = newWorld({ namespace: previewNamespace() });
    const standIns = await startStandIns(["kubectl", "helm", "git"], worldTools(world));
    try {
      const r = await runScriptTemplate(templateB, {
        parameters: PARAMETERS,
        workflow: { name: WORKFLOW },
        pathPrepend: [standIns.dir],
        standInEnv: { ...standIns.env, ...github.env, GUARDRAILS_DIR: guardrails },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ERROR: ns: namespace impl-pr-42 belongs to the implementation-dag instance 'argo', not to ${TEAM_B}; refusing to touch it\n`);
      expect(world.applied).toEqual([]);
    } finally {
      await standIns.close();
    }
  });
});
