/**
 * Objects the tests put into the fake cluster (simulator/cluster.ts) as the API server would hold
 * them: preview namespaces as deploy makes them, PersistentVolumes, and Argo Workflows as the
 * controller leaves them.
 */
import type { FakeNamespace, KubeObj } from "../../simulator/cluster";

/** The preview stack's instance (its workflows namespace): the value of its previews' instance label. */
export const INSTANCE = "argo";

/** `YYYY-MM-DDTHH:MM:SSZ`, `hours` from now (negative: in the past). */
export function utcIn(hours: number, from = Date.now()): string {
  return new Date(from + hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * A namespace as deploy makes it (labels of the contract, this stack's instance label among them),
 * with optional extras. `instance` names another stack's instance, or `null` for none (a preview made
 * before the label existed); `preview: false` leaves the contract's labels out (someone else's).
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

/** A PersistentVolume's phase. */
export type VolumePhase = "Available" | "Bound" | "Released" | "Failed";

/** A PersistentVolume whose claim was `namespace/claim`, in `phase`. */
export function volume(name: string, namespace: string, claim: string, phase: VolumePhase): KubeObj {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name },
    spec: { claimRef: { namespace, name: claim }, persistentVolumeReclaimPolicy: "Retain", storageClassName: "standard" },
    status: { phase },
  };
}

/** An Argo Workflow (the fields the steps read). */
export interface FakeWorkflow extends KubeObj {
  apiVersion: "argoproj.io/v1alpha1";
  kind: "Workflow";
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
