/**
 * What the deploy step writes as the steps' service account passes the admission fence the program
 * installs: its Namespace (created, and relabelled on reuse) and its two RoleBindings, evaluated
 * with the fence's own CEL as the API server would (plain maps, two CEL engines that must agree).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { parseConfig } from "../../components/config";
import { namespacePolicy, roleBindingPolicy } from "../../components/admission";
import { readStackConfig } from "../../scripts/offline-render";
import { admit, type Obj } from "../helpers/admission";
import { runScriptTemplate } from "../helpers/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns } from "../helpers/stand-ins";
import { githubWorld, guardrailsDir, newWorld, PARAMETERS, previewNamespace, WORKFLOW, worldHandler, type World } from "./fixtures";

const STEPS_USER = "system:serviceaccount:argo:implementation-dag";

/** The messages of the validations that deny the request (empty: admitted). Fails if the policy does not apply. */
function denials(policy: IValidatingAdmissionPolicy, operation: "CREATE" | "UPDATE", object: Obj, oldObject: Obj | null, namespaceObject: Obj | null): string[] {
  const verdict = admit(policy, { user: STEPS_USER, operation, object, oldObject, namespaceObject });
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

async function deploy(world: World) {
  const standIns = await startStandIns(["kubectl", "helm", "git"], worldHandler(world));
  try {
    const r = await runScriptTemplate(templateNamed(implementationDag(await previewRender()), "deploy"), {
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
    const [rb] = world.applied.filter((o) => o.kind === "RoleBinding" && (o.metadata as { name?: string }).name === "implementation-dag-deployer");
    expect(rb).toBeDefined();
    const rogue = { ...rb, subjects: [...(rb.subjects as object[]), { kind: "ServiceAccount", name: "preview-deployer", namespace: "kube-system" }] };
    expect(denials(roleBindingPolicy(cfg), "CREATE", rogue, null, world.namespace!)).toEqual([expect.stringMatching(/its own service accounts/)]);
  });
});
