/**
 * Pod Security "restricted", spelled once: every step pod and container the project renders takes
 * its security context from here, and every container its requests and limits.
 */
import type { IPodSecurityContext } from "kubernetes-models/v1/PodSecurityContext";
import type { ISecurityContext } from "kubernetes-models/v1/SecurityContext";
import type { IResourceRequirements } from "kubernetes-models/v1/ResourceRequirements";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import type { StackConfig } from "./config";

/** Where every step's writable scratch space is mounted; the root filesystem is read-only. */
export const SCRATCH_DIR = "/tmp";

/** The pod-level context: non-root with a fixed non-zero uid/gid, seccomp RuntimeDefault. */
export function restrictedPodSecurityContext(uid: number): IPodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The container-level context: no privilege escalation, no capabilities, read-only root. */
export function restrictedContainerSecurityContext(uid: number): ISecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** The requests and limits every step container carries (the seed's 100m/256Mi and 2/4Gi by default). */
export function stepResources(cfg: StackConfig): IResourceRequirements {
  return {
    requests: { ...cfg.stepResources.requests },
    limits: { ...cfg.stepResources.limits },
  };
}

/** The emptyDir behind SCRATCH_DIR. */
export const scratchVolume: IVolume = { name: "scratch", emptyDir: { sizeLimit: "2Gi" } };

/** The mount of the scratch volume. */
export const scratchMount: IVolumeMount = { name: "scratch", mountPath: SCRATCH_DIR };
