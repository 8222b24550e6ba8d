/**
 * The NetworkPolicy of acceptance pods: rendered by the program in the workflows namespace, valid,
 * selecting the label the acceptance template's pods carry, and allowing DNS, the configured ingress
 * controller and the executor's configured destinations only.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigError, parseConfig } from "../../components/config";
import { ACCEPTANCE_NETWORK_POLICY, buildAcceptanceNetworkPolicy } from "../../components/acceptance-network";
import { ACCEPTANCE_POD_LABEL } from "../../components/workflow/acceptance";
import { readStackConfig, type Render } from "../../scripts/offline-render";
import { implementationDag, objectsOf, previewRender, templateNamed } from "../helpers/render";

let render: Render;
beforeAll(async () => {
  render = await previewRender();
});

const withConfig = (patch: Record<string, unknown>) =>
  parseConfig({ ...readStackConfig("preview"), ...Object.fromEntries(Object.entries(patch).map(([k, v]) => [`implementation-dag:${k}`, JSON.stringify(v)])) });

/** Whether `labels` satisfy a matchLabels selector. */
const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

describe("the acceptance NetworkPolicy", () => {
  it("is registered by the program under its own component, in the workflows namespace, and validates", () => {
    const component = render.resources.find((r) => r.type === "implementation-dag:index:AcceptanceNetwork");
    const policy = render.resources.find((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && r.name === ACCEPTANCE_NETWORK_POLICY);
    expect(component).toBeDefined();
    expect(policy?.parent).toBe(component?.urn);
    const [obj] = objectsOf(render, "NetworkPolicy", ACCEPTANCE_NETWORK_POLICY);
    expect(obj.metadata.namespace).toBe("argo");
    expect(() => new NetworkPolicy(obj as INetworkPolicy).validate()).not.toThrow();
    expect(render.outputs.acceptanceNetworkPolicy).toBe(ACCEPTANCE_NETWORK_POLICY);
  });

  it("selects the acceptance pods by the label the acceptance template puts on them, and no other step's pods", () => {
    const [obj] = objectsOf(render, "NetworkPolicy", ACCEPTANCE_NETWORK_POLICY) as INetworkPolicy[];
    const selector = obj.spec!.podSelector?.matchLabels;
    expect(Object.keys(selector ?? {})).not.toHaveLength(0);
    const wt = implementationDag(render);
    const acceptance = templateNamed(wt, "acceptance");
    expect(selects(selector, acceptance.metadata?.labels ?? {})).toBe(true);
    for (const t of wt.spec.templates ?? []) {
      if (t.name !== "acceptance") expect(selects(selector, t.metadata?.labels ?? {}), t.name).toBe(false);
    }
  });

  it("limits egress to the cluster DNS and the configured ingress controller's pods and ports, by default", () => {
    const p = buildAcceptanceNetworkPolicy(parseConfig(readStackConfig("preview")))!;
    expect(p.spec!.policyTypes).toEqual(["Egress"]);
    expect(p.spec!.podSelector).toEqual({ matchLabels: ACCEPTANCE_POD_LABEL });
    expect(p.spec!.egress).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
      },
      {
        to: [{
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } },
          podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" } },
        }],
        ports: [{ protocol: "TCP", port: 80 }, { protocol: "TCP", port: 443 }],
      },
    ]);
    // Nothing reaches everywhere: every rule names its destination, none is an open ipBlock.
    for (const rule of p.spec!.egress ?? []) {
      expect(rule.to?.length).toBeGreaterThan(0);
      for (const peer of rule.to ?? []) expect(peer.ipBlock).toBeUndefined();
    }
  });

  it("takes the controller's namespace, pod selector and ports, and the executor's destinations, from config", () => {
    const cfg = withConfig({
      deploy: { ingressNamespace: "traefik" },
      acceptanceNetwork: {
        ingressPodSelector: { "app.kubernetes.io/name": "traefik" },
        ingressPorts: [{ port: 8443 }],
        executorEgress: [{ cidr: "10.0.0.1/32", ports: [{ port: 6443 }] }, { namespace: "minio", podSelector: { app: "minio" }, ports: [{ port: 9000 }] }],
      },
    });
    const p = buildAcceptanceNetworkPolicy(cfg)!;
    expect(() => new NetworkPolicy(p).validate()).not.toThrow();
    expect(p.spec!.egress!.slice(1)).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "traefik" } }, podSelector: { matchLabels: { "app.kubernetes.io/name": "traefik" } } }],
        ports: [{ protocol: "TCP", port: 8443 }] },
      { to: [{ ipBlock: { cidr: "10.0.0.1/32" } }], ports: [{ protocol: "TCP", port: 6443 }] },
      { to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "minio" } }, podSelector: { matchLabels: { app: "minio" } } }],
        ports: [{ protocol: "TCP", port: 9000 }] },
    ]);
  });

  it("is not rendered when turned off", async () => {
    expect(buildAcceptanceNetworkPolicy(withConfig({ acceptanceNetwork: { enabled: false } }))).toBeUndefined();
  });

  it("refuses a bad selector or port in config, naming the key", () => {
    expect(() => withConfig({ acceptanceNetwork: { ingressPodSelector: { "bad key!": "x" } } })).toThrow(ConfigError);
    expect(() => withConfig({ acceptanceNetwork: { ingressPorts: [] } })).toThrow(/acceptanceNetwork\.ingressPorts/);
    expect(() => withConfig({ acceptanceNetwork: { ingressPorts: [{ port: 70000 }] } })).toThrow(/acceptanceNetwork\.ingressPorts/);
  });
});
