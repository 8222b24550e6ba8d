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

/**
 * What the API server serves for each kind the fake knows: its resource (plural) and API group, as
 * kubectl names them in NotFound and Forbidden errors, whether it lives in a namespace, and whether a
 * CRD brings it (the server knows the resource type only while that CRD exists).
 */
export interface ResourceType {
  plural: string;
  group: string;
  namespaced: boolean;
  crd?: true;
}

/** The resource types of the kinds in {@link KINDS}. */
export const RESOURCES = {
  Namespace: { plural: "namespaces", group: "", namespaced: false },
  Ingress: { plural: "ingresses", group: "networking.k8s.io", namespaced: true },
  IngressClass: { plural: "ingressclasses", group: "networking.k8s.io", namespaced: false },
  ServiceAccount: { plural: "serviceaccounts", group: "", namespaced: true },
  RoleBinding: { plural: "rolebindings", group: "rbac.authorization.k8s.io", namespaced: true },
  ResourceQuota: { plural: "resourcequotas", group: "", namespaced: true },
  LimitRange: { plural: "limitranges", group: "", namespaced: true },
  NetworkPolicy: { plural: "networkpolicies", group: "networking.k8s.io", namespaced: true },
  Service: { plural: "services", group: "", namespaced: true },
  Deployment: { plural: "deployments", group: "apps", namespaced: true },
  Pod: { plural: "pods", group: "", namespaced: true },
  Event: { plural: "events", group: "", namespaced: true },
  ConfigMap: { plural: "configmaps", group: "", namespaced: true },
  Secret: { plural: "secrets", group: "", namespaced: true },
  PersistentVolume: { plural: "persistentvolumes", group: "", namespaced: false },
  CustomResourceDefinition: { plural: "customresourcedefinitions", group: "apiextensions.k8s.io", namespaced: false },
  Workflow: { plural: "workflows", group: "argoproj.io", namespaced: true, crd: true },
  WorkflowTemplate: { plural: "workflowtemplates", group: "argoproj.io", namespaced: true, crd: true },
  ClusterWorkflowTemplate: { plural: "clusterworkflowtemplates", group: "argoproj.io", namespaced: false, crd: true },
  CronWorkflow: { plural: "cronworkflows", group: "argoproj.io", namespaced: true, crd: true },
} as const satisfies Record<string, ResourceType>;

/** A kind the fake serves. */
export type Kind = keyof typeof RESOURCES;

/** A resource type as kubectl names it in the API server's errors: `secrets`, `deployments.apps`. */
export const qualified = (t: ResourceType): string => (t.group ? `${t.plural}.${t.group}` : t.plural);

/** The kind whose resource type is `name` as {@link qualified} gives it (`workflows.argoproj.io`), if the fake serves one. */
export const kindOf = (name: string): Kind | undefined => (Object.keys(RESOURCES) as Kind[]).find((k) => qualified(RESOURCES[k]) === name);

/** Canonical kind names kubectl accepts for the resources the steps and `npm run doctor` read. */
export const KINDS: Record<string, Kind> = {
  namespace: "Namespace", namespaces: "Namespace", ns: "Namespace",
  ingress: "Ingress", ingresses: "Ingress", ing: "Ingress", "ingresses.networking.k8s.io": "Ingress",
  ingressclass: "IngressClass", ingressclasses: "IngressClass", "ingressclasses.networking.k8s.io": "IngressClass",
  serviceaccount: "ServiceAccount", serviceaccounts: "ServiceAccount", sa: "ServiceAccount",
  rolebinding: "RoleBinding", rolebindings: "RoleBinding",
  resourcequota: "ResourceQuota", resourcequotas: "ResourceQuota", quota: "ResourceQuota",
  limitrange: "LimitRange", limitranges: "LimitRange", limits: "LimitRange",
  networkpolicy: "NetworkPolicy", networkpolicies: "NetworkPolicy", netpol: "NetworkPolicy",
  service: "Service", services: "Service", svc: "Service",
  deployment: "Deployment", deployments: "Deployment", deploy: "Deployment", "deployments.apps": "Deployment",
  pod: "Pod", pods: "Pod", po: "Pod",
  event: "Event", events: "Event", ev: "Event",
  configmap: "ConfigMap", configmaps: "ConfigMap", cm: "ConfigMap",
  secret: "Secret", secrets: "Secret",
  persistentvolume: "PersistentVolume", persistentvolumes: "PersistentVolume", pv: "PersistentVolume",
  customresourcedefinition: "CustomResourceDefinition", customresourcedefinitions: "CustomResourceDefinition", crd: "CustomResourceDefinition", crds: "CustomResourceDefinition",
  "customresourcedefinitions.apiextensions.k8s.io": "CustomResourceDefinition",
  workflow: "Workflow", workflows: "Workflow", wf: "Workflow", "workflows.argoproj.io": "Workflow",
  workflowtemplate: "WorkflowTemplate", workflowtemplates: "WorkflowTemplate", wftmpl: "WorkflowTemplate", "workflowtemplates.argoproj.io": "WorkflowTemplate",
  clusterworkflowtemplate: "ClusterWorkflowTemplate", clusterworkflowtemplates: "ClusterWorkflowTemplate", cwftmpl: "ClusterWorkflowTemplate",
  "clusterworkflowtemplates.argoproj.io": "ClusterWorkflowTemplate",
  cronworkflow: "CronWorkflow", cronworkflows: "CronWorkflow", cwf: "CronWorkflow", "cronworkflows.argoproj.io": "CronWorkflow",
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
