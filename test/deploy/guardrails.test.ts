/**
 * The guardrails every preview namespace receives: built from config, valid Kubernetes objects,
 * carried by the ConfigMap the program registers and the deploy step mounts.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { LimitRange } from "kubernetes-models/v1/LimitRange";
import { ResourceQuota } from "kubernetes-models/v1/ResourceQuota";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { parseConfig, type StackConfig } from "../../components/config";
import { buildGuardrails, GUARDRAILS_CONFIGMAP, GUARDRAILS_MOUNT_PATH } from "../../components/guardrails";
import { readStackConfig, type Render } from "../../scripts/offline-render";
import { implementationDag, objectsOf, previewRender, templateNamed } from "../helpers/render";

let render: Render;
let cfg: StackConfig;
beforeAll(async () => {
  render = await previewRender();
  cfg = parseConfig(readStackConfig("preview"));
});

const withConfig = (patch: Record<string, unknown>) =>
  parseConfig({ ...readStackConfig("preview"), ...Object.fromEntries(Object.entries(patch).map(([k, v]) => [`implementation-dag:${k}`, JSON.stringify(v)])) });

describe("preview guardrails", () => {
  it("validate against the Kubernetes schema", () => {
    const g = buildGuardrails(cfg);
    expect(() => new ResourceQuota(g.resourceQuota).validate()).not.toThrow();
    expect(() => new LimitRange(g.limitRange).validate()).not.toThrow();
    for (const p of g.networkPolicies) expect(() => new NetworkPolicy(p).validate(), p.metadata?.name).not.toThrow();
  });

  it("the schema check is real: broken objects fail it", () => {
    const g = buildGuardrails(cfg);
    expect(() => new ResourceQuota({ ...g.resourceQuota, spec: { hard: "lots" as never } }).validate()).toThrow();
    expect(() => new LimitRange({ ...g.limitRange, spec: { limits: [{ max: { cpu: "1" } } as never] } }).validate()).toThrow();
    expect(() => new NetworkPolicy({ ...g.networkPolicies[1], spec: { podSelector: {}, egress: [{ ports: [{ port: 53, protocol: 17 as never }] }] } }).validate()).toThrow();
  });

  it("carry no namespace: deploy applies them into the preview's", () => {
    const g = buildGuardrails(cfg);
    for (const o of [g.resourceQuota, g.limitRange, ...g.networkPolicies]) expect(o.metadata?.namespace).toBeUndefined();
  });

  it("cap the namespace from config, storage included, and forbid load balancers and node ports", () => {
    expect(buildGuardrails(cfg).resourceQuota.spec!.hard).toEqual({
      "requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi",
      pods: "20", services: "10", persistentvolumeclaims: "4", "requests.storage": "20Gi", "services.loadbalancers": "0", "services.nodeports": "0",
    });
    const custom = withConfig({ quota: { requestsCpu: "500m", requestsMemory: "1Gi", limitsCpu: "1", limitsMemory: "2Gi", pods: 5, services: 2, persistentVolumeClaims: 0, requestsStorage: "1Gi" } });
    expect(buildGuardrails(custom).resourceQuota.spec!.hard).toMatchObject({
      "requests.cpu": "500m", pods: "5", persistentvolumeclaims: "0", "requests.storage": "1Gi", "services.loadbalancers": "0", "services.nodeports": "0",
    });
  });

  it("give containers default requests and limits, ephemeral storage included, and cap each container", () => {
    expect(buildGuardrails(cfg).limitRange.spec!.limits).toEqual([
      {
        type: "Container",
        defaultRequest: { cpu: "50m", memory: "64Mi", "ephemeral-storage": "64Mi" },
        default: { cpu: "500m", memory: "512Mi", "ephemeral-storage": "1Gi" },
        max: { cpu: "2", memory: "2Gi", "ephemeral-storage": "2Gi" },
      },
    ]);
  });

  it("default the ephemeral storage of a stack config written before it existed", () => {
    const older = withConfig({ limitRange: { defaultRequest: { cpu: "10m", memory: "32Mi" }, default: { cpu: "100m", memory: "128Mi" }, max: { cpu: "1", memory: "1Gi" } } });
    const [limits] = buildGuardrails(older).limitRange.spec!.limits;
    expect([limits.defaultRequest, limits.default, limits.max].map((r) => r?.["ephemeral-storage"])).toEqual(["64Mi", "1Gi", "2Gi"]);
  });

  it("refuse a storage bound or an ephemeral-storage limit that is no quantity, naming the key", () => {
    expect(() => withConfig({ quota: { requestsStorage: "lots" } })).toThrow(/implementation-dag:quota\.requestsStorage: must be a Kubernetes quantity/);
    expect(() => withConfig({ limitRange: { max: { cpu: "1", memory: "1Gi", ephemeralStorage: "-1" } } })).toThrow(/implementation-dag:limitRange\.max\.ephemeralStorage: must be a Kubernetes quantity/);
  });

  it("deny all traffic but DNS, the ingress controller and the namespace itself", () => {
    const byName = Object.fromEntries(buildGuardrails(cfg).networkPolicies.map((p) => [p.metadata!.name, p.spec]));
    expect(byName).toEqual({
      "default-deny": { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
      "allow-dns": {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
          ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
        }],
      },
      "allow-from-ingress-controller": {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }] }],
      },
      "allow-configured-egress": { podSelector: {}, policyTypes: ["Egress"], egress: [] },
      "allow-within-namespace": {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [{ podSelector: {} }] }],
        egress: [{ to: [{ podSelector: {} }] }],
      },
    });
  });

  it("render the egress config lists: CIDRs with ports, and namespaces with pod selectors", () => {
    const custom = withConfig({
      egress: [
        { cidr: "10.20.0.0/16", except: ["10.20.99.0/24"], ports: [{ port: 5432 }] },
        { cidr: "fd00:10::/64", ports: [{ port: 8000, endPort: 8100, protocol: "UDP" }] },
        { namespace: "databases", podSelector: { app: "postgres" }, ports: [{ port: 5432, protocol: "TCP" }] },
        { namespace: "payments-sandbox" },
      ],
    });
    const policy = buildGuardrails(custom).networkPolicies.find((p) => p.metadata!.name === "allow-configured-egress")!;
    expect(() => new NetworkPolicy(policy).validate()).not.toThrow();
    expect(policy.spec).toEqual({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        { to: [{ ipBlock: { cidr: "10.20.0.0/16", except: ["10.20.99.0/24"] } }], ports: [{ protocol: "TCP", port: 5432 }] },
        { to: [{ ipBlock: { cidr: "fd00:10::/64" } }], ports: [{ protocol: "UDP", port: 8000, endPort: 8100 }] },
        {
          to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "databases" } }, podSelector: { matchLabels: { app: "postgres" } } }],
          ports: [{ protocol: "TCP", port: 5432 }],
        },
        { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "payments-sandbox" } }, podSelector: { matchLabels: {} } }] },
      ],
    });
    // Default deny stays: the configured destinations only add to it.
    expect(buildGuardrails(custom).networkPolicies.find((p) => p.metadata!.name === "default-deny")!.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
  });

  it.each([
    ["a CIDR without ports", [{ cidr: "10.0.0.0/8" }], /implementation-dag:egress\.0/],
    ["a CIDR that is no CIDR", [{ cidr: "10.0.0.0", ports: [{ port: 443 }] }], /implementation-dag:egress\.0/],
    ["a prefix longer than 32", [{ cidr: "10.0.0.0/33", ports: [{ port: 443 }] }], /implementation-dag:egress\.0/],
    ["a port out of range", [{ namespace: "db", ports: [{ port: 70000 }] }], /implementation-dag:egress\.0/],
    ["an endPort below the port", [{ namespace: "db", ports: [{ port: 9000, endPort: 8000 }] }], /implementation-dag:egress\.0/],
    ["a namespace that is no DNS label", [{ namespace: "Not_A_Label" }], /implementation-dag:egress\.0/],
    ["both a CIDR and a namespace", [{ cidr: "10.0.0.0/8", namespace: "db", ports: [{ port: 1 }] }], /implementation-dag:egress\.0/],
  ])("refuse an egress entry with %s, naming the entry", (_what, egress, message) => {
    expect(() => withConfig({ egress })).toThrow(message);
  });

  it("let in the ingress controller's namespace named in config", () => {
    const custom = withConfig({ deploy: { ingressNamespace: "traefik" } });
    const policy = buildGuardrails(custom).networkPolicies.find((p) => p.metadata!.name === "allow-from-ingress-controller")!;
    expect(policy.spec!.ingress).toEqual([{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "traefik" } } }] }]);
  });
});

describe("the guardrails ConfigMap", () => {
  it("is registered by the program under its own component, in the workflows namespace", () => {
    const component = render.resources.find((r) => r.type === "implementation-dag:index:PreviewGuardrails");
    const cm = render.resources.find((r) => r.type === "kubernetes:core/v1:ConfigMap" && r.name === GUARDRAILS_CONFIGMAP);
    expect(component).toBeDefined();
    expect(cm?.parent).toBe(component?.urn);
    const [obj] = objectsOf(render, "ConfigMap", GUARDRAILS_CONFIGMAP);
    expect(obj.metadata.namespace).toBe("argo");
    expect(() => new ConfigMap(obj as never).validate()).not.toThrow();
    expect(render.outputs.guardrailsConfigMap).toBe(GUARDRAILS_CONFIGMAP);
  });

  it("holds one file per kind, which parse back to exactly the built objects", () => {
    const [obj] = objectsOf(render, "ConfigMap", GUARDRAILS_CONFIGMAP);
    const data = obj.data as Record<string, string>;
    const g = buildGuardrails(cfg);
    expect(Object.keys(data).sort()).toEqual(["limitrange.yaml", "networkpolicy.yaml", "resourcequota.yaml"]);
    expect(parseYaml(data["resourcequota.yaml"])).toEqual(g.resourceQuota);
    expect(parseYaml(data["limitrange.yaml"])).toEqual(g.limitRange);
    expect(parseAllDocuments(data["networkpolicy.yaml"]).map((d) => d.toJS())).toEqual(g.networkPolicies);
  });

  it("is mounted read-only into the deploy step at the path the step reads", () => {
    const wt = implementationDag(render);
    expect(wt.spec.volumes).toContainEqual({ name: "preview-guardrails", configMap: { name: GUARDRAILS_CONFIGMAP, defaultMode: 0o444 } });
    const deploy = templateNamed(wt, "deploy");
    expect(deploy.script!.volumeMounts).toContainEqual({ name: "preview-guardrails", mountPath: GUARDRAILS_MOUNT_PATH, readOnly: true });
    expect(deploy.script!.env).toContainEqual({ name: "GUARDRAILS_DIR", value: GUARDRAILS_MOUNT_PATH });
  });
});
