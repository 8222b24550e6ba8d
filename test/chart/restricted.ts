/**
 * What the chart tests check rendered pods against: the Pod Security "restricted" profile (the parts
 * a chart controls) plus requests and limits on every container, and Kubernetes quantities as numbers.
 */
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { IContainer } from "kubernetes-models/v1/Container";

/** A rendered object, loosely typed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Manifest = { apiVersion: string; kind: string; metadata: any; spec: any };

/** A pod template found in rendered objects: `Kind/name`, how many pods it makes, its spec. */
export interface RenderedPod {
  name: string;
  replicas: number;
  spec: IPodSpec;
}

/** Every pod (or pod template) in rendered objects. */
export function podsOf(objects: Manifest[]): RenderedPod[] {
  const pods: RenderedPod[] = [];
  for (const o of objects) {
    const name = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "Pod") pods.push({ name, replicas: 1, spec: o.spec });
    else if (["Deployment", "StatefulSet", "ReplicaSet"].includes(o.kind)) pods.push({ name, replicas: o.spec.replicas ?? 1, spec: o.spec.template.spec });
    else if (["DaemonSet", "Job"].includes(o.kind)) pods.push({ name, replicas: 1, spec: o.spec.template.spec });
    else if (o.kind === "CronJob") pods.push({ name, replicas: 1, spec: o.spec.jobTemplate.spec.template.spec });
  }
  return pods;
}

const SUFFIX: Record<string, number> = {
  "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/** A Kubernetes quantity (`100m`, `2`, `64Mi`) as a number of base units. */
export function quantity(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  return Number(m[1]) * SUFFIX[m[2] ?? ""];
}

const ALLOWED_VOLUMES = ["configMap", "emptyDir", "secret", "projected", "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi"];

/**
 * Why a pod spec would not be admitted under Pod Security "restricted", or lacks requests/limits; empty
 * when fine. components/steps/lib/chart-contract.jq applies the same rules with the same words, in the
 * same order (test/chart/contract-rules.test.ts holds the two to one table).
 */
export function restrictedViolations(spec: IPodSpec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push("uses host namespaces");
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== "name");
    // A volume that names no type is an emptyDir (the API server defaults it so).
    if (type && !ALLOWED_VOLUMES.includes(type)) problems.push(`volume ${v.name} is of type ${type}`);
  }
  const containers: IContainer[] = [...(spec.initContainers ?? []), ...spec.containers];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) problems.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: does not drop ALL capabilities`);
    if ((sc.capabilities?.add ?? []).some((cap) => cap !== "NET_BIND_SERVICE")) problems.push(`${at}: adds capabilities`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${at}: runs as uid 0`);
    const seccomp = (sc.seccompProfile ?? pod.seccompProfile)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push(`${at}: seccompProfile is not RuntimeDefault`);
    for (const kind of ["requests", "limits"] as const) {
      for (const r of ["cpu", "memory"]) if (!c.resources?.[kind]?.[r]) problems.push(`${at}: no ${kind}.${r}`);
    }
    if ((c.ports ?? []).some((p) => p.hostPort)) problems.push(`${at}: uses a hostPort`);
  }
  return problems;
}
