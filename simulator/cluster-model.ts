/**
 * The fake cluster's object model (./cluster.ts): objects as the API server returns them, namespaces,
 * Helm releases with their revisions, what a cluster's state carries from one world to the next, and
 * what a test can make the API server and helm do.
 */
import type { FakeCluster } from "./cluster";
import { kindOf, RESOURCES } from "./kubectl-syntax";

/** A Kubernetes object as the fake stores it. */
export interface KubeObj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** A namespace as the API returns it. */
export interface FakeNamespace extends KubeObj {
  apiVersion: "v1";
  kind: "Namespace";
  metadata: KubeObj["metadata"] & { creationTimestamp: string; deletionTimestamp?: string };
  spec?: { finalizers?: string[] };
  status: { phase: "Active" | "Terminating"; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

/** The status of a release's revision, as helm names it. */
export type ReleaseStatus = "deployed" | "failed" | "superseded" | "pending-install" | "pending-upgrade" | "pending-rollback";

/** One revision of a release, as `helm history` lists it. */
export interface ReleaseRevision {
  revision: number;
  status: ReleaseStatus;
  description: string;
  updated: string;
  chart: string;
  appVersion: string;
}

/** A Helm release (helm keeps it as a Secret in its namespace: it goes with the namespace). */
export interface FakeRelease {
  name: string;
  namespace: string;
  /** The current revision and its status. */
  revision: number;
  status: ReleaseStatus;
  /** Every revision, oldest first, the current one last (its revision and status are the two above). */
  history: ReleaseRevision[];
  chart: string;
  appVersion: string;
  /** The values helm was given: files and --set flags, in order. */
  valueArgs: string[];
  objects: KubeObj[];
  updatedAt: string;
}

/** What a fake cluster holds, as plain JSON: what a sequence of simulations shares. */
export interface FakeClusterState {
  namespaces: FakeNamespace[];
  objects: Array<[string, KubeObj[]]>;
  releases: FakeRelease[];
  /** Cluster-scoped objects other than namespaces (CRDs, IngressClasses, PersistentVolumes, …); absent: a fresh cluster's. */
  clusterObjects?: KubeObj[];
}

/** The server's part of `kubectl version -o json`: what the cluster runs. */
export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
  platform: string;
  [field: string]: string;
}

/** The Argo CRDs a fresh fake cluster has: the resource types the pipeline's Argo objects are of. */
export const ARGO_CRD_NAMES = ["workflows.argoproj.io", "workflowtemplates.argoproj.io", "cronworkflows.argoproj.io", "clusterworkflowtemplates.argoproj.io"] as const;

/**
 * The CRD of an Argo resource type (`workflows.argoproj.io`) as Argo's default install ships it: the
 * minimal schema, whose `spec` is kept as it is and its fields are not described.
 */
export function argoCrd(name: string): KubeObj {
  const kind = kindOf(name);
  if (!kind || !("crd" in RESOURCES[kind])) throw new Error(`argoCrd: ${name} is no Argo resource type the fake serves`);
  const t = RESOURCES[kind];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name },
    spec: {
      group: t.group,
      names: { kind, listKind: `${kind}List`, plural: t.plural, singular: kind.toLowerCase() },
      scope: t.namespaced ? "Namespaced" : "Cluster",
      versions: [{
        name: "v1alpha1", served: true, storage: true,
        schema: { openAPIV3Schema: { type: "object", properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-map-type": "atomic" } } } },
      }],
    },
  };
}

/** One change the fake cluster saw. */
export interface ClusterEvent {
  verb: "create" | "update" | "delete" | "install" | "upgrade" | "uninstall" | "fail";
  kind: string;
  namespace?: string;
  name: string;
  tool: string;
}

/**
 * A test's say over the API server: calls that fail, and changes made just before a call (what a run
 * racing the step would do between two of its calls). The hooks get the call's number, counted from 1.
 */
export interface ClusterFaults {
  /** The narrowed namespace list call (`--field-selector metadata.name=…`) fails with this message. */
  narrowedListFailure?: string;
  /** The namespace list calls return every namespace, whatever their label selector (a misbehaving server). */
  listIgnoresSelector?: boolean;
  /** Runs before the cluster answers a namespace list call (the full listing and the narrowed ones alike). */
  beforeNamespaceList?: (call: number, cluster: FakeCluster) => void;
  /** Runs before the cluster answers an `annotate namespace` call (a test can delete it meanwhile). */
  beforeAnnotate?: (name: string, cluster: FakeCluster) => void;
  /** Runs before the cluster answers a Workflow list call (a run submitted meanwhile). */
  beforeWorkflowList?: (call: number, cluster: FakeCluster) => void;
  /** Fail the next `helm upgrade --install` with this message (the release is left `failed`). */
  helmInstallFails?: string;
  /** Namespaces whose `helm uninstall` fails (times out). */
  helmUninstallFailsIn?: Set<string>;
  /**
   * Runs once `helm upgrade --install` has installed a release, or failed to: what the release's
   * controllers and others then make in its namespace (pods that never became ready, their events).
   */
  afterRelease?: (release: FakeRelease, cluster: FakeCluster) => void;
  /**
   * kubectl reaches no API server at this address (`localhost:8080`, where kubectl looks when no
   * context is set): every call that needs the server is refused as kubectl reports it.
   */
  unreachable?: string;
  /**
   * RBAC refusing reads to `user` (who kubectl runs as): `denies` tells whether a read is refused, by
   * verb (`get` one object, `list` many), resource as kubectl names it (`deployments.apps`, `secrets`)
   * and namespace (none: at the cluster scope). A refused read fails with the API server's Forbidden.
   */
  forbidden?: { user: string; denies: (read: { verb: "get" | "list"; resource: string; namespace?: string }) => boolean };
}
