/**
 * The example chart with the real helm v4: it lints strictly, renders with the preview overrides the
 * deploy step uses, every pod is Pod-Security-restricted with requests and limits, and a preview of
 * it fits inside the default LimitRange and ResourceQuota the deploy step applies first.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Pod } from "kubernetes-models/v1/Pod";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { parseConfig } from "../../components/config";
import { buildGuardrails } from "../../components/guardrails";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { realTool } from "../../simulator/tools";
import { podsOf, quantity, restrictedViolations, type Manifest } from "./restricted";

const CHART = path.join(PROJECT_ROOT, "charts", "app");
const PREVIEW_VALUES = path.join(CHART, "values-preview.yaml");
const RELEASE = "example-app-pr-42";
const NS = "impl-pr-42";
const HOST = "pr-42.preview.example.com";

let helm: string;
beforeAll(() => {
  helm = realTool("helm");
});

async function runHelm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(helm, args, { encoding: "utf8", env: { ...process.env, HELM_CACHE_HOME: path.join(PROJECT_ROOT, ".cache", "helm") } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

/** The deploy step's values: the preview file plus the two values it sets. */
const previewArgs = (tag = "sha-0123456789ab") => ["-f", PREVIEW_VALUES, "--set-string", `image.tag=${tag}`, "--set-string", `ingress.host=${HOST}`];

async function renderPreview(extra: string[] = []): Promise<Manifest[]> {
  const r = await runHelm(["template", RELEASE, CHART, "-n", NS, ...previewArgs(), ...extra]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest).filter(Boolean);
}

describe("charts/app", () => {
  it("passes helm lint --strict, alone and with the preview overrides", async () => {
    const plain = await runHelm(["lint", "--strict", CHART]);
    expect(plain.stdout).toContain("0 chart(s) failed");
    expect(plain.code).toBe(0);
    const preview = await runHelm(["lint", "--strict", CHART, ...previewArgs()]);
    expect(preview.stdout).toContain("0 chart(s) failed");
    expect(preview.code).toBe(0);
  });

  it("renders the preview host, the preview image tag, TLS and one small replica", async () => {
    const objects = await renderPreview();
    const ingress = objects.find((o) => o.kind === "Ingress")!;
    expect(ingress.spec.rules).toEqual([
      { host: HOST, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: RELEASE, port: { name: "http" } } } }] } },
    ]);
    expect(ingress.spec.tls).toEqual([{ hosts: [HOST] }]);
    expect(ingress.spec.ingressClassName).toBe("nginx");
    const deployment = objects.find((o) => o.kind === "Deployment")!;
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers.map((c: { image: string }) => c.image)).toEqual(["ghcr.io/example-org/example-app:sha-0123456789ab"]);
  });

  it("keeps a numeric-looking image tag a string", async () => {
    const r = await runHelm(["template", RELEASE, CHART, "-n", NS, ...previewArgs("1.10")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('image: "ghcr.io/example-org/example-app:1.10"');
  });

  it("renders objects that validate against the Kubernetes schema", async () => {
    const classes: Record<string, new (o: never) => { validate(): void }> = { Deployment, Service, Ingress, ConfigMap, ServiceAccount, Pod };
    const objects = await renderPreview();
    expect(objects.map((o) => o.kind).sort()).toEqual(["ConfigMap", "Deployment", "Ingress", "Pod", "Service", "ServiceAccount"]);
    for (const o of objects) expect(() => new classes[o.kind](o as never).validate(), o.kind).not.toThrow();
  });

  it("ships a helm test hook that checks the service answers", async () => {
    const objects = await renderPreview();
    const test = objects.find((o) => o.kind === "Pod")!;
    expect(test.metadata.annotations["helm.sh/hook"]).toBe("test");
    const container = test.spec.containers[0];
    expect(container.args.join(" ")).toContain('http://$SERVICE/healthz');
    expect(container.env).toEqual([{ name: "SERVICE", value: `${RELEASE}:80` }]);
  });

  it("runs every pod Pod-Security-restricted with requests and limits", async () => {
    const pods = podsOf(await renderPreview());
    expect(pods.map((p) => p.name)).toEqual([`Deployment/${RELEASE}`, `Pod/${RELEASE}-test`]);
    for (const pod of pods) expect(restrictedViolations(pod.spec), pod.name).toEqual([]);
  });

  it("the restricted check catches what Pod Security would refuse", () => {
    const base: IPodSpec = {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{
        name: "c",
        resources: { requests: { cpu: "1m", memory: "1Mi" }, limits: { cpu: "1m", memory: "1Mi" } },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      }],
    };
    expect(restrictedViolations(base)).toEqual([]);
    const mutate = (f: (s: IPodSpec) => void) => {
      const s = structuredClone(base);
      f(s);
      return restrictedViolations(s);
    };
    expect(mutate((s) => (s.containers[0].securityContext!.allowPrivilegeEscalation = true))).not.toEqual([]);
    expect(mutate((s) => (s.containers[0].securityContext!.capabilities = { drop: ["NET_RAW"] }))).not.toEqual([]);
    expect(mutate((s) => (s.securityContext!.runAsNonRoot = false))).not.toEqual([]);
    expect(mutate((s) => delete s.securityContext!.seccompProfile)).not.toEqual([]);
    expect(mutate((s) => (s.hostNetwork = true))).not.toEqual([]);
    expect(mutate((s) => (s.volumes = [{ name: "h", hostPath: { path: "/" } }]))).not.toEqual([]);
    expect(mutate((s) => delete s.containers[0].resources!.limits)).not.toEqual([]);
  });

  it("fits a preview inside the default LimitRange and ResourceQuota", async () => {
    const cfg = parseConfig(readStackConfig("preview"));
    const { limitRange, resourceQuota } = buildGuardrails(cfg);
    const max = limitRange.spec!.limits[0].max!;
    const hard = resourceQuota.spec!.hard!;
    const objects = await renderPreview();
    const pods = podsOf(objects);
    const total = { "requests.cpu": 0, "requests.memory": 0, "limits.cpu": 0, "limits.memory": 0, pods: 0 };
    for (const pod of pods) {
      for (const c of pod.spec.containers) {
        const { requests, limits } = c.resources as { requests: Record<string, string>; limits: Record<string, string> };
        for (const r of ["cpu", "memory"]) {
          expect(quantity(requests[r]), `${pod.name} ${c.name} ${r}`).toBeLessThanOrEqual(quantity(limits[r]));
          expect(quantity(limits[r]), `${pod.name} ${c.name} ${r} vs LimitRange max`).toBeLessThanOrEqual(quantity(String(max[r])));
          total[`requests.${r}` as "requests.cpu"] += pod.replicas * quantity(requests[r]);
          total[`limits.${r}` as "limits.cpu"] += pod.replicas * quantity(limits[r]);
        }
      }
      total.pods += pod.replicas;
    }
    for (const [key, used] of Object.entries(total)) {
      expect(used, key).toBeGreaterThan(0);
      expect(used, key).toBeLessThanOrEqual(quantity(String(hard[key])));
    }
    const services = objects.filter((o) => o.kind === "Service");
    expect(services.length).toBeLessThanOrEqual(Number(hard.services));
    for (const s of services) expect(s.spec.type).toBe("ClusterIP");
  });

  it("refuses values the schema forbids", async () => {
    for (const bad of [["--set-string", "image.tag=latest"], ["--set", "service.type=LoadBalancer"], ["--set", "surprise=1"], ["--set-string", "ingress.host=Not_A_Host"]]) {
      const r = await runHelm(["template", RELEASE, CHART, ...previewArgs(), ...bad]);
      expect(r.code, bad.join(" ")).not.toBe(0);
      expect(r.stderr, bad.join(" ")).toContain("schema");
    }
  });
});
