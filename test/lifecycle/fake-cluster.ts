/**
 * A small stateful fake of what cleanup and the TTL sweeper ask of a cluster, served through the
 * recording stand-ins for `kubectl` and `helm`: namespaces as JSON objects, Helm releases per
 * namespace. It answers only the calls the scripts are meant to make; anything else fails loudly
 * (exit 97), so an unexpected call shows up as a failed step, not as a silent success. A hook run
 * before each namespace list call lets a test change the cluster between two of them, as a run of
 * the pipeline racing the sweeper would.
 */
import type { ToolCall, ToolReply } from "../../simulator/stand-ins";

/** A namespace as the API returns it (only the fields the scripts read). */
export interface FakeNamespace {
  apiVersion: "v1";
  kind: "Namespace";
  metadata: {
    name: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { finalizers?: string[] };
  status: { phase: "Active" | "Terminating"; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

/** A PersistentVolume (only the fields the sweeper reads). */
export interface FakeVolume {
  apiVersion: "v1";
  kind: "PersistentVolume";
  metadata: { name: string };
  spec: { claimRef?: { namespace: string; name: string }; persistentVolumeReclaimPolicy?: string; storageClassName?: string };
  status: { phase: "Available" | "Bound" | "Released" | "Failed"; lastPhaseTransitionTime?: string };
}

/** A volume whose claim was `namespace/claim`, in `phase`. */
export function volume(name: string, namespace: string, claim: string, phase: FakeVolume["status"]["phase"]): FakeVolume {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name },
    spec: { claimRef: { namespace, name: claim }, persistentVolumeReclaimPolicy: "Retain", storageClassName: "standard" },
    status: { phase },
  };
}

/** An Argo Workflow (only the fields the uninstall reads). */
export interface FakeWorkflow {
  apiVersion: "argoproj.io/v1alpha1";
  kind: "Workflow";
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: { workflowTemplateRef?: { name: string; clusterScope?: boolean } };
  status?: { phase?: string };
}

/**
 * A Workflow of `template` in `namespace` as Argo leaves it: in `phase`, labelled with its template
 * (`…/cluster-workflow-template` for a ClusterWorkflowTemplate, `clusterScope`) and
 * `workflows.argoproj.io/completed` (`true` once finished); `picked: false` is one the controller
 * has not processed yet (no labels, no status).
 */
export function workflow(name: string, template: string, phase: "Pending" | "Running" | "Succeeded" | "Failed" | "Error", opts: { namespace?: string; picked?: boolean; clusterScope?: boolean } = {}): FakeWorkflow {
  const picked = opts.picked ?? true;
  const templateLabel = opts.clusterScope ? "workflows.argoproj.io/cluster-workflow-template" : "workflows.argoproj.io/workflow-template";
  const completed = phase === "Succeeded" || phase === "Failed" || phase === "Error";
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: {
      name,
      namespace: opts.namespace ?? INSTANCE,
      ...(picked ? { labels: { [templateLabel]: template, "workflows.argoproj.io/phase": phase, "workflows.argoproj.io/completed": String(completed) } } : {}),
    },
    spec: { workflowTemplateRef: { name: template, ...(opts.clusterScope ? { clusterScope: true } : {}) } },
    ...(picked ? { status: { phase } } : {}),
  };
}

/** `YYYY-MM-DDTHH:MM:SSZ`, `hours` from now (negative: in the past). */
export function utcIn(hours: number, from = Date.now()): string {
  return new Date(from + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The preview stack's instance (its workflows namespace): the value of its previews' instance label. */
export const INSTANCE = "argo";

/**
 * A namespace as deploy makes it (labels of the contract, this stack's instance label among them),
 * with optional extras. `instance` names another stack's instance, or `null` for none (a preview made
 * before the label existed).
 */
export function previewNamespace(name: string, opts: { createdHoursAgo?: number; labels?: Record<string, string>; annotations?: Record<string, string>; preview?: boolean; deletingHoursAgo?: number; instance?: string | null } = {}): FakeNamespace {
  const instance: Record<string, string> = opts.instance === null ? {} : { "implementation-dag/instance": opts.instance ?? INSTANCE };
  const labels: Record<string, string> = opts.preview === false
    ? { ...opts.labels }
    : {
        preview: "true",
        ...instance,
        "app.kubernetes.io/managed-by": "implementation-dag",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        ...opts.labels,
      };
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      creationTimestamp: utcIn(-(opts.createdHoursAgo ?? 1)),
      ...(opts.deletingHoursAgo !== undefined ? { deletionTimestamp: utcIn(-opts.deletingHoursAgo) } : {}),
      labels,
      ...(opts.annotations ? { annotations: { ...opts.annotations } } : {}),
    },
    status: { phase: opts.deletingHoursAgo !== undefined ? "Terminating" : "Active" },
  };
}

/**
 * A label selector of equality requirements (`k=v`, `k==v`, `k!=v`, comma-separated: all must hold),
 * as the API server reads it; undefined for anything else (the call then fails loudly).
 */
export function labelSelector(selector: string): ((labels: Record<string, string>) => boolean) | undefined {
  const requirements: Array<{ key: string; equal: boolean; value: string }> = [];
  for (const req of selector.split(",")) {
    // A key is an optional DNS prefix and '/', then a name; a value is empty or a label value.
    const m = /^((?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)(==|!=|=)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.exec(req);
    if (!m) return undefined;
    requirements.push({ key: m[1], equal: m[4] !== "!=", value: m[5] ?? "" });
  }
  return (labels) => requirements.every((r) => (labels[r.key] === r.value) === r.equal);
}

/** The fake cluster's state and its stand-in handler. */
export class FakeCluster {
  readonly namespaces = new Map<string, FakeNamespace>();
  /** Helm releases by namespace. */
  readonly releases = new Map<string, string[]>();
  /** Namespaces whose `helm uninstall` fails. */
  readonly helmFailsIn = new Set<string>();
  /** When set, the list call fails with this message. */
  listFailure?: string;
  /** When true, the list calls return every namespace, whatever their label selector (a misbehaving server). */
  listIgnoresSelector = false;
  /** Namespace list calls answered so far (the full listing and the narrowed ones alike). */
  namespaceListCalls = 0;
  /**
   * Runs before the cluster answers the `call`-th namespace list call (1 for the first), so a test can
   * change a namespace between the sweeper's listing and its re-read of one namespace.
   */
  beforeNamespaceList?: (call: number, cluster: FakeCluster) => void;
  /** When set, the narrowed list call (`--field-selector metadata.name=`) fails with this message. */
  narrowedListFailure?: string;
  /** Runs before the cluster answers an `annotate namespace` call (a test can delete it meanwhile). */
  beforeAnnotate?: (name: string, cluster: FakeCluster) => void;
  /** PersistentVolumes of the cluster. */
  volumes: FakeVolume[] = [];
  /** When set, the PersistentVolume list call fails with this message. */
  volumeListFailure?: string;
  /** Argo Workflows of the cluster, in any namespace. */
  workflows: FakeWorkflow[] = [];
  /** Workflow list calls answered so far. */
  workflowListCalls = 0;
  /** Runs before the cluster answers the `call`-th Workflow list call (a run submitted meanwhile). */
  beforeWorkflowList?: (call: number, cluster: FakeCluster) => void;
  /** When set, the Workflow list call fails with this message. */
  workflowListFailure?: string;

  constructor(namespaces: FakeNamespace[] = [], releases: Record<string, string[]> = {}) {
    for (const ns of namespaces) this.namespaces.set(ns.metadata.name, structuredClone(ns));
    for (const [ns, rs] of Object.entries(releases)) this.releases.set(ns, [...rs]);
  }

  /** The stand-in handler. */
  readonly handle = (call: ToolCall): ToolReply => {
    const a = call.args;
    const line = [call.tool, ...a].join(" ");
    if (call.tool === "kubectl") {
      if (a[0] === "get" && a[1] === "namespace" && a.length === 6 && a[3] === "--ignore-not-found" && a[4] === "-o" && a[5] === "json") {
        const ns = this.namespaces.get(a[2]);
        return { stdout: ns ? JSON.stringify(ns, null, 2) + "\n" : "" };
      }
      if (a[0] === "get" && a[1] === "namespace" && a.length === 6 && a[3] === "--ignore-not-found" && a[4] === "-o" && a[5] === "name") {
        return { stdout: this.namespaces.has(a[2]) ? `namespace/${a[2]}\n` : "" };
      }
      if (a.length === 6 && a[0] === "get" && a[1] === "namespaces" && a[2] === "-l" && a[4] === "-o" && a[5] === "json") {
        this.beforeNamespaceList?.(++this.namespaceListCalls, this);
        if (this.listFailure) return { stderr: `${this.listFailure}\n`, code: 1 };
        const selects = labelSelector(a[3]);
        if (!selects) return { stderr: `fake cluster: label selector ${a[3]} not understood\n`, code: 97 };
        const items = [...this.namespaces.values()].filter((n) => this.listIgnoresSelector || selects(n.metadata.labels ?? {}));
        return { stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items }) };
      }
      if (a.length === 8 && a[0] === "get" && a[1] === "namespaces" && a[2] === "-l" && a[4] === "--field-selector" && a[5].startsWith("metadata.name=") && a[6] === "-o" && a[7] === "json") {
        this.beforeNamespaceList?.(++this.namespaceListCalls, this);
        if (this.listFailure) return { stderr: `${this.listFailure}\n`, code: 1 };
        if (this.narrowedListFailure) return { stderr: `${this.narrowedListFailure}\n`, code: 1 };
        const name = a[5].slice("metadata.name=".length);
        const selects = labelSelector(a[3]);
        if (!selects) return { stderr: `fake cluster: label selector ${a[3]} not understood\n`, code: 97 };
        const items = [...this.namespaces.values()].filter((n) => n.metadata.name === name && (this.listIgnoresSelector || selects(n.metadata.labels ?? {})));
        return { stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items }) };
      }
      if (a.length === 8 && a[0] === "get" && a[1] === "workflows" && a[2] === "-n" && a[4] === "-l" && a[6] === "-o" && a[7] === "json") {
        this.beforeWorkflowList?.(++this.workflowListCalls, this);
        if (this.workflowListFailure) return { stderr: `${this.workflowListFailure}\n`, code: 1 };
        const selects = labelSelector(a[5]);
        if (!selects) return { stderr: `fake cluster: label selector ${a[5]} not understood\n`, code: 97 };
        const items = this.workflows.filter((w) => w.metadata.namespace === a[3] && selects(w.metadata.labels ?? {}));
        // kubectl prints any list it fetched as a v1 List.
        return { stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items }) };
      }
      if (line === "kubectl get persistentvolumes -o json") {
        if (this.volumeListFailure) return { stderr: `${this.volumeListFailure}\n`, code: 1 };
        return { stdout: JSON.stringify({ apiVersion: "v1", kind: "List", items: this.volumes }) };
      }
      if (a[0] === "annotate" && a[1] === "namespace" && a[3] === "--overwrite") {
        this.beforeAnnotate?.(a[2], this);
        const ns = this.namespaces.get(a[2]);
        if (!ns) return { stderr: `Error from server (NotFound): namespaces "${a[2]}" not found\n`, code: 1 };
        for (const kv of a.slice(4)) {
          const at = kv.indexOf("=");
          if (at < 1) return { stderr: `bad annotation ${kv}\n`, code: 1 };
          ns.metadata.annotations = { ...ns.metadata.annotations, [kv.slice(0, at)]: kv.slice(at + 1) };
        }
        return { stdout: `namespace/${a[2]} annotated\n` };
      }
      if (a[0] === "delete" && a[1] === "namespace" && a.length === 5 && a[3] === "--ignore-not-found" && a[4] === "--wait=false") {
        const existed = this.namespaces.delete(a[2]);
        this.releases.delete(a[2]);
        return { stdout: existed ? `namespace "${a[2]}" deleted\n` : "" };
      }
    }
    if (call.tool === "helm") {
      if (a[0] === "uninstall" && a[2] === "--namespace" && a[4] === "--ignore-not-found" && a[5] === "--timeout" && a.length === 7) {
        if (this.helmFailsIn.has(a[3])) return { stderr: "Error: uninstall: timed out waiting for the condition\n", code: 1 };
        const list = this.releases.get(a[3]) ?? [];
        if (!list.includes(a[1])) return { stdout: "" };
        this.releases.set(a[3], list.filter((r) => r !== a[1]));
        return { stdout: `release "${a[1]}" uninstalled\n` };
      }
      if (a[0] === "list" && a[1] === "--namespace" && a[3] === "--short" && a.length === 4) {
        return { stdout: (this.releases.get(a[2]) ?? []).map((r) => `${r}\n`).join("") };
      }
    }
    return { stderr: `fake cluster: unexpected call: ${line}\n`, code: 97 };
  };
}

/** A directory of busybox applets (symlinks) to put first on PATH: the Alpine step image's tools. */
export { busyboxDir } from "../helpers/busybox";
