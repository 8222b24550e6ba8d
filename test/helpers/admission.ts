/**
 * A ValidatingAdmissionPolicy evaluated as the API server evaluates it, by two independent CEL
 * engines that must agree: `@marcbachmann/cel-js` and `@bufbuild/cel` (the one tested against the
 * CEL specification's conformance suite). A disagreement throws, so a test that relies on one
 * engine's leniency fails.
 *
 * What the API server does, and this does too:
 *   - `object`, `oldObject` and `namespaceObject` are the plain JSON maps of the request (no
 *     `__keyword__` escaping: that is for CRD validation rules only), `null` where absent (the
 *     old object of a CREATE, the new one of a DELETE, the namespace of a cluster-scoped object);
 *     JSON integers are CEL `int`.
 *   - `matchConditions`: any false → the policy does not apply; else any error → failurePolicy.
 *   - `variables` are read as `variables.<name>`; one that fails to evaluate fails the expression
 *     reading it (CEL's `||` and `&&` may still absorb the error, as on the server).
 *   - a validation denies when it is not `true`; an evaluation error denies under
 *     `failurePolicy: Fail` (the default) and is ignored under `Ignore`.
 */
import { parse as celJsParse } from "@marcbachmann/cel-js";
import { celEnv, isCelError, parse as bufParse, plan as bufPlan, type CelInput } from "@bufbuild/cel";
import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";

/** The outcome of one CEL evaluation: a value, or the error the engine reported. */
export type CelOutcome = { ok: true; value: unknown } | { ok: false; error: string };

/** One CEL engine: compiles an expression (throwing on a syntax error) into an evaluator. */
export interface CelEngine {
  /** The engine's package name, for messages. */
  readonly name: string;
  /** Parses and plans an expression; throws when it does not parse. */
  compile(expression: string): (bindings: Record<string, unknown>) => CelOutcome;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** `@marcbachmann/cel-js`: throws on evaluation errors. */
export const celJs: CelEngine = {
  name: "@marcbachmann/cel-js",
  compile(expression) {
    const evaluate = celJsParse(expression);
    return (bindings) => {
      try {
        return { ok: true, value: evaluate(bindings) };
      } catch (e) {
        return { ok: false, error: message(e) };
      }
    };
  },
};

/** The standard environment: the request's names are bound at each run, undeclared (dyn). */
const bufEnv = celEnv();

/** `@bufbuild/cel`: parse, plan once, then run; returns errors as values. */
export const bufbuildCel: CelEngine = {
  name: "@bufbuild/cel",
  compile(expression) {
    const evaluate = bufPlan(bufEnv, bufParse(expression));
    return (bindings) => {
      try {
        // The bindings are JSON-like maps, lists, strings, bigints, booleans and null, or values this
        // engine returned (variables): all CelInput, which TypeScript cannot see through `unknown`.
        const value = evaluate(bindings as Record<string, CelInput>);
        return isCelError(value) ? { ok: false, error: message(value) } : { ok: true, value };
      } catch (e) {
        return { ok: false, error: message(e) };
      }
    };
  },
};

/** The engines every policy is evaluated with. */
export const ENGINES: readonly CelEngine[] = [celJs, bufbuildCel];

/** A JSON-like object as a request carries it. */
export type Obj = Record<string, unknown>;

/** One admission request, as the tests describe it. */
export interface AdmissionRequest {
  /** `request.userInfo.username`. */
  user: string;
  /** `request.operation`. */
  operation: "CREATE" | "UPDATE" | "DELETE";
  /** The new object (absent on DELETE). */
  object?: Obj | null;
  /** The old object (absent on CREATE). */
  oldObject?: Obj | null;
  /** For namespaced objects: the Namespace the request is in (its name is `request.namespace`). */
  namespaceObject?: Obj | null;
}

/** What a policy decided about one request. */
export interface Verdict {
  /** Whether the policy applied at all (its matchConditions held, or failed under Fail). */
  matched: boolean;
  /** Messages of the validations (or match conditions) that denied; empty: admitted. */
  denied: string[];
}

/** A JSON value as CEL sees it in an unstructured object: integers are `int` (bigint). */
export function celValue(value: unknown): unknown {
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(celValue);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, celValue(v)]));
  }
  return value;
}

const compiled = new WeakMap<CelEngine, Map<string, (bindings: Record<string, unknown>) => CelOutcome>>();
function compile(engine: CelEngine, expression: string) {
  let cache = compiled.get(engine);
  if (!cache) compiled.set(engine, (cache = new Map()));
  let fn = cache.get(expression);
  if (!fn) cache.set(expression, (fn = engine.compile(expression)));
  return fn;
}

/** The bindings the API server gives a policy's expressions for one request. */
export function bindingsOf(req: AdmissionRequest): Obj {
  const obj = (req.object ?? req.oldObject) as { metadata?: { name?: string } } | null | undefined;
  const ns = (req.namespaceObject as { metadata?: { name?: string } } | null | undefined)?.metadata?.name;
  const request = {
    operation: req.operation,
    userInfo: { username: req.user, groups: ["system:authenticated"] },
    ...(obj?.metadata?.name ? { name: obj.metadata.name } : {}),
    ...(ns ? { namespace: ns } : {}),
  };
  return {
    request: celValue(request),
    object: celValue(req.object ?? null),
    oldObject: celValue(req.oldObject ?? null),
    namespaceObject: celValue(req.namespaceObject ?? null),
  };
}

/** Evaluates a ValidatingAdmissionPolicy on one request with one engine, as the API server would. */
export function admitWith(engine: CelEngine, policy: IValidatingAdmissionPolicy, req: AdmissionRequest): Verdict {
  const spec = policy.spec ?? {};
  const failClosed = (spec.failurePolicy ?? "Fail") === "Fail";
  const base = bindingsOf(req);

  const conditions = (spec.matchConditions ?? []).map((c) => ({ c, out: compile(engine, c.expression)(base) }));
  if (conditions.some(({ out }) => out.ok && out.value === false)) return { matched: false, denied: [] };
  const broken = conditions.filter(({ out }) => !out.ok || out.value !== true);
  if (broken.length > 0) {
    return failClosed ? { matched: true, denied: broken.map(({ c }) => `matchCondition ${c.name} failed`) } : { matched: false, denied: [] };
  }

  // A variable that fails is left out: reading it is then an error, where the server's lazy
  // evaluation would raise that variable's own error.
  const variables: Record<string, unknown> = {};
  for (const v of spec.variables ?? []) {
    const out = compile(engine, v.expression)({ ...base, variables });
    if (out.ok) variables[v.name] = out.value;
  }
  const denied: string[] = [];
  for (const v of spec.validations ?? []) {
    const out = compile(engine, v.expression)({ ...base, variables });
    if (out.ok && out.value === true) continue;
    if (!out.ok && !failClosed) continue;
    denied.push(v.message ?? v.expression);
  }
  return { matched: true, denied };
}

/**
 * Evaluates a policy on one request with every engine and returns their common verdict; throws,
 * naming both verdicts, when the engines disagree.
 */
export function admit(policy: IValidatingAdmissionPolicy, req: AdmissionRequest, engines: readonly CelEngine[] = ENGINES): Verdict {
  const verdicts = engines.map((e) => ({ engine: e.name, verdict: admitWith(e, policy, req) }));
  const [first, ...rest] = verdicts;
  for (const other of rest) {
    if (JSON.stringify(other.verdict) !== JSON.stringify(first.verdict)) {
      throw new Error(
        `CEL engines disagree on ${policy.metadata?.name}: ${first.engine} says ${JSON.stringify(first.verdict)}, ` +
          `${other.engine} says ${JSON.stringify(other.verdict)}`,
      );
    }
  }
  return first.verdict;
}

/** Every CEL expression of a policy, with where it sits (matchConditions, variables, validations). */
export function expressionsOf(policy: IValidatingAdmissionPolicy): Array<{ where: string; expression: string }> {
  const spec = policy.spec ?? {};
  const name = policy.metadata?.name ?? "";
  return [
    ...(spec.matchConditions ?? []).map((c) => ({ where: `${name} matchCondition ${c.name}`, expression: c.expression })),
    ...(spec.variables ?? []).map((v) => ({ where: `${name} variable ${v.name}`, expression: v.expression })),
    ...(spec.validations ?? []).flatMap((v, i) => [
      { where: `${name} validation ${i}`, expression: v.expression },
      ...(v.messageExpression ? [{ where: `${name} validation ${i} messageExpression`, expression: v.messageExpression }] : []),
    ]),
    ...(spec.auditAnnotations ?? []).map((a) => ({ where: `${name} auditAnnotation ${a.key}`, expression: a.valueExpression })),
  ];
}
