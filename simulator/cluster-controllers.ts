/**
 * What the controllers of the fake cluster (./cluster.ts) make of a Helm release: the pods of its
 * Deployments, as the Deployment and ReplicaSet controllers and the kubelet would.
 */
import { createHash } from "node:crypto";
import type { KubeObj } from "./cluster-model";

/**
 * What the Deployment and ReplicaSet controllers and the kubelet make of a release: the pods of
 * the Deployments `before` had are gone (garbage-collected with their ReplicaSets), and each
 * Deployment `after` has runs `spec.replicas` (default 1) pods named `<deployment>-<template hash>-<5>`,
 * Running and Ready, each container started once with the digest the node pulled
 * (`status.containerStatuses[].imageID`, `<repository>@sha256:<hex>`), plus a `Started` event per
 * container. Deterministic: the same template gives the same names and digests. Returns the
 * namespace's objects (`objects`) as they are then, created at `at`.
 */
export function rollOut(namespace: string, objects: KubeObj[], before: KubeObj[], after: KubeObj[], at: string): KubeObj[] {
  const hash = (text: string, n: number) => createHash("sha256").update(text).digest("hex").slice(0, n);
  const deployments = (objs: KubeObj[]) => objs.filter((o) => o.kind === "Deployment");
  const gone = new Set(deployments(before).map((d) => d.metadata.name));
  const owner = (o: KubeObj) => ((o.metadata.ownerReferences as Array<{ name: string }> | undefined) ?? [])[0]?.name ?? "";
  const list = objects.filter((o) => !(o.kind === "Pod" && [...gone].some((d) => owner(o).startsWith(`${d}-`))));
  type Container = { name: string; image: string };
  for (const d of deployments(after)) {
    const spec = d.spec as { replicas?: number; template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Container[]; initContainers?: Container[] } } };
    const template = spec.template ?? {};
    const templateHash = hash(JSON.stringify(template), 10);
    const replicaSet = `${d.metadata.name}-${templateHash}`;
    const status = (c: Container, init: boolean) => ({
      name: c.name,
      image: c.image,
      imageID: `${c.image.replace(/[:@][^/]*$/, "")}@sha256:${hash(c.image, 64)}`,
      ready: !init,
      restartCount: 0,
      started: !init,
      state: init ? { terminated: { exitCode: 0, reason: "Completed", startedAt: at, finishedAt: at } } : { running: { startedAt: at } },
      lastState: {},
    });
    for (let i = 0; i < (spec.replicas ?? 1); i++) {
      const name = `${replicaSet}-${hash(`${replicaSet}/${i}`, 5)}`;
      const containers = template.spec?.containers ?? [];
      const initContainers = template.spec?.initContainers ?? [];
      list.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name, namespace, labels: { ...(template.metadata?.labels ?? {}), "pod-template-hash": templateHash },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet, controller: true, blockOwnerDeletion: true }],
          creationTimestamp: at,
        },
        spec: template.spec ?? {},
        status: {
          phase: "Running",
          conditions: [{ type: "Ready", status: "True" }],
          ...(initContainers.length > 0 ? { initContainerStatuses: initContainers.map((c) => status(c, true)) } : {}),
          containerStatuses: containers.map((c) => status(c, false)),
        },
      });
      for (const c of containers) {
        list.push({
          apiVersion: "v1", kind: "Event",
          metadata: { name: `${name}.${hash(`${name}/${c.name}`, 16)}`, namespace, creationTimestamp: at },
          involvedObject: { apiVersion: "v1", kind: "Pod", name, namespace, fieldPath: `spec.containers{${c.name}}` },
          reason: "Started", message: `Started container ${c.name}`, type: "Normal", count: 1,
          firstTimestamp: at, lastTimestamp: at, source: { component: "kubelet" },
        });
      }
    }
  }
  return list;
}
