/**
 * What the deploy step writes as the steps' service account passes the admission fence the program
 * installs: its Namespace (created, and relabelled on reuse) and its two RoleBindings, evaluated
 * with the fence's own CEL as the API server would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate } from "@marcbachmann/cel-js";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { parseConfig } from "../../components/config";
import { namespacePolicy, roleBindingPolicy } from "../../components/admission";
import { readStackConfig } from "../../scripts/offline-render";
import { runScriptTemplate } from "../helpers/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { startStandIns } from "../helpers/stand-ins";
import { githubWorld, guardrailsDir, newWorld, PARAMETERS, previewNamespace, WORKFLOW, worldHandler, type World } from "./fixtures";

const STEPS_USER = "system:serviceaccount:argo:implementation-dag";
type Obj = Record<string, unknown> | null;

/** CEL keywords Kubernetes escapes as `__<keyword>__` when they name a property (not inside label or annotation maps). */
const RESERVED = new Set(["namespace", "in", "as", "null", "true", "false", "package", "return", "var", "void", "while", "for", "if", "else", "let", "import", "function", "const", "break", "continue", "loop"]);
function celView(value: unknown, inMap = false): unknown {
  if (Array.isArray(value)) return value.map((v) => celView(v));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [!inMap && RESERVED.has(k) ? `__${k}__` : k, celView(v, k === "labels" || k === "annotations")]));
  }
  return value;
}

/** The messages of the validations that deny the request (empty: admitted). Fails if the policy does not apply. */
function denials(policy: IValidatingAdmissionPolicy, operation: "CREATE" | "UPDATE", object: Obj, oldObject: Obj, namespaceObject: Obj): string[] {
  const base = {
    request: { operation, userInfo: { username: STEPS_USER } },
    object: celView(object), oldObject: celView(oldObject), namespaceObject: celView(namespaceObject),
  };
  for (const c of policy.spec!.matchConditions ?? []) expect(evaluate(c.expression, base)).toBe(true);
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec!.variables ?? []) variables[v.name] = evaluate(v.expression, { ...base, variables });
  return (policy.spec!.validations ?? []).filter((v) => evaluate(v.expression, { ...base, variables }) !== true).map((v) => v.message ?? v.expression);
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
});
