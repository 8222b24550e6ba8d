/**
 * How the fake cluster ({@link ./cluster}) reads a command line: flags parsed against a table per
 * command, the resource names kubectl accepts, label selectors and the JSONPath forms the steps use.
 * Whatever is not in these tables throws, so the fake refuses it loudly instead of guessing.
 */
import type { ToolReply } from "./stand-ins";

/** Parsed arguments of one command line. */
export interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

/**
 * Parses `args` against the flags a command accepts: `value` flags take one argument (`--f v` or
 * `--f=v`, short `-n v`), `bool` flags none (`--f` or `--f=true|false`). Anything else throws.
 */
export function parseArgs(args: string[], value: string[], bool: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (k: string, v: string) => flags.set(k, [...(flags.get(k) ?? []), v]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-") || a === "-") { positional.push(a); continue; }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (value.includes(name)) {
      if (eq > 0) add(name, a.slice(eq + 1));
      else {
        if (i + 1 >= args.length) throw new Error(`flag ${name} needs a value`);
        add(name, args[++i]);
      }
    } else if (bool.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : "true";
      if (v !== "true" && v !== "false") throw new Error(`flag ${name} takes true or false`);
      add(name, v);
    } else {
      throw new Error(`flag ${name} is not understood by the fake cluster`);
    }
  }
  return { positional, flags };
}

/** The last value of the first of `names` given. */
export const one = (p: Parsed, ...names: string[]): string | undefined => {
  for (const n of names) {
    const v = p.flags.get(n);
    if (v) return v[v.length - 1];
  }
  return undefined;
};

/** Whether a bool flag is set (and not `=false`). */
export const isTrue = (p: Parsed, name: string): boolean => one(p, name) === "true";

/** The API server's answer for an object that does not exist. */
export const notFound = (kind: string, name: string): ToolReply => ({
  stderr: `Error from server (NotFound): ${kind} "${name}" not found\n`, code: 1,
});

/** Canonical kind names kubectl accepts for the resources the steps touch. */
export const KINDS: Record<string, string> = {
  namespace: "Namespace", namespaces: "Namespace", ns: "Namespace",
  ingress: "Ingress", ingresses: "Ingress", ing: "Ingress", "ingresses.networking.k8s.io": "Ingress",
  serviceaccount: "ServiceAccount", serviceaccounts: "ServiceAccount", sa: "ServiceAccount",
  rolebinding: "RoleBinding", rolebindings: "RoleBinding",
  resourcequota: "ResourceQuota", resourcequotas: "ResourceQuota", quota: "ResourceQuota",
  limitrange: "LimitRange", limitranges: "LimitRange", limits: "LimitRange",
  networkpolicy: "NetworkPolicy", networkpolicies: "NetworkPolicy", netpol: "NetworkPolicy",
  service: "Service", services: "Service", svc: "Service",
  deployment: "Deployment", deployments: "Deployment", deploy: "Deployment",
  pod: "Pod", pods: "Pod", po: "Pod",
  event: "Event", events: "Event", ev: "Event",
  workflow: "Workflow", workflows: "Workflow", wf: "Workflow", "workflows.argoproj.io": "Workflow",
  persistentvolume: "PersistentVolume", persistentvolumes: "PersistentVolume", pv: "PersistentVolume",
};

/**
 * A label selector of equality requirements (`k=v`, `k==v`, `k!=v`, comma-separated: all must hold),
 * as the API server reads it; throws for anything else (set-based requirements, a malformed key).
 */
export function labelSelector(selector: string): (labels: Record<string, string> | undefined) => boolean {
  const requirements: Array<{ key: string; equal: boolean; value: string }> = [];
  for (const req of selector.split(",")) {
    // A key is an optional DNS prefix and '/', then a name; a value is empty or a label value.
    const m = /^((?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)(==|!=|=)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.exec(req);
    if (!m) throw new Error(`label selector ${selector} not understood`);
    requirements.push({ key: m[1], equal: m[4] !== "!=", value: m[5] ?? "" });
  }
  // An absent label equals no value: `k!=v` holds for it, `k=v` does not.
  return (labels) => requirements.every((r) => (labels?.[r.key] === r.value) === r.equal);
}

/** A JSONPath of the simple forms kubectl scripts use: `{.a.b}`, `{.a.b\.c}`, `{.items[*].a.b}`. */
export function jsonPath(obj: unknown, expr: string): string {
  const m = /^\{(.*)\}$/.exec(expr);
  if (!m) throw new Error(`jsonpath ${expr} is not understood by the fake cluster`);
  const parts = m[1].replace(/^\./, "").match(/(?:\\\.|[^.])+/g) ?? [];
  let cur: unknown[] = [obj];
  for (const raw of parts) {
    const part = raw.replace(/\\\./g, ".");
    const star = /^(.*)\[\*\]$/.exec(part);
    const key = star ? star[1] : part;
    if (!/^[\w./-]+$/.test(key)) throw new Error(`jsonpath ${expr} is not understood by the fake cluster`);
    cur = cur.flatMap((c) => {
      const v = c && typeof c === "object" ? (c as Record<string, unknown>)[key] : undefined;
      if (v === undefined) return [];
      return star ? (Array.isArray(v) ? v : []) : [v];
    });
  }
  return cur.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(" ");
}
