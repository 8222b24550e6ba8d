/**
 * The guardrails of every preview namespace: a ResourceQuota, a LimitRange and NetworkPolicies,
 * rendered from config into the ConfigMap `implementation-dag-guardrails` that the deploy step
 * mounts and applies (`kubectl apply -n <ns> -f <dir>`) before it installs the chart, so the chart
 * runs inside them. The objects carry no namespace: the step puts them into the preview's.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { stringify } from "yaml";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { ILimitRange } from "kubernetes-models/v1/LimitRange";
import type { IResourceQuota } from "kubernetes-models/v1/ResourceQuota";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { StackConfig } from "./config";

/** Name of the ConfigMap holding the guardrail templates (in the workflows namespace). */
export const GUARDRAILS_CONFIGMAP = "implementation-dag-guardrails";

/** Where the deploy step mounts that ConfigMap, read-only. */
export const GUARDRAILS_MOUNT_PATH = "/etc/implementation-dag/guardrails";

/** The ConfigMap's keys: one file per kind, each applied as is. */
export const GUARDRAIL_FILES = {
  resourceQuota: "resourcequota.yaml",
  limitRange: "limitrange.yaml",
  networkPolicy: "networkpolicy.yaml",
} as const;

/** Name of each guardrail object inside a preview namespace. */
export const GUARDRAIL_NAME = "implementation-dag-guardrails";

/** The namespace and labels of the cluster DNS the previews may query. */
export const CLUSTER_DNS = { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } } as const;

/** Labels on every guardrail object, so a person sees where it came from. */
const GUARDRAIL_LABELS = {
  "app.kubernetes.io/managed-by": "implementation-dag",
  "app.kubernetes.io/part-of": "implementation-dag",
  "app.kubernetes.io/component": "guardrails",
};

const metadata = (name: string) => ({ name, labels: { ...GUARDRAIL_LABELS } });

/** Selects a namespace by its immutable name label (set by the API server on every namespace). */
export const namespaceNamed = (name: string) => ({ matchLabels: { "kubernetes.io/metadata.name": name } });

/** The NetworkPolicy carrying the egress config allows (`egress`): empty, it allows nothing. */
export const CONFIGURED_EGRESS_POLICY = "allow-configured-egress";

/** A LimitRange entry's quantities: cpu, memory and ephemeral-storage. */
const containerQuantities = (r: StackConfig["limitRange"]["max"]) => ({ cpu: r.cpu, memory: r.memory, "ephemeral-storage": r.ephemeralStorage });

type EgressRule = StackConfig["egress"][number];
type NetworkPolicyEgressRule = NonNullable<NonNullable<INetworkPolicy["spec"]>["egress"]>[number];

/** One configured destination as a NetworkPolicy egress rule. */
export function egressRule(rule: EgressRule): NetworkPolicyEgressRule {
  const ports = rule.ports.map((p) => ({ protocol: p.protocol, port: p.port, ...(p.endPort !== undefined ? { endPort: p.endPort } : {}) }));
  const to =
    "cidr" in rule
      ? [{ ipBlock: { cidr: rule.cidr, ...(rule.except.length > 0 ? { except: [...rule.except] } : {}) } }]
      : [{ namespaceSelector: namespaceNamed(rule.namespace), podSelector: { matchLabels: { ...(rule.podSelector ?? {}) } } }];
  return { to, ...(ports.length > 0 ? { ports } : {}) };
}

/** Egress to the cluster DNS (UDP and TCP 53): what every policy that denies egress still allows. */
export const DNS_EGRESS_RULE: NetworkPolicyEgressRule = {
  to: [{ namespaceSelector: namespaceNamed(CLUSTER_DNS.namespace), podSelector: { matchLabels: { ...CLUSTER_DNS.podLabels } } }],
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};

/** The guardrail objects of a preview namespace, without a namespace. */
export interface Guardrails {
  /** Caps on requests, limits, pods, services and PVCs; no load balancers, no node ports. */
  resourceQuota: IResourceQuota;
  /** Default requests and limits of a container that sets none, and the most one container may have. */
  limitRange: ILimitRange;
  /**
   * Default-deny ingress and egress, DNS to the cluster DNS, ingress from the ingress controller,
   * the egress config allows (`egress`), traffic within the namespace.
   */
  networkPolicies: INetworkPolicy[];
}

/**
 * Builds the guardrails from config: the quota caps what a preview may use and forbids load
 * balancers and node ports (a preview is reached through the ingress controller only); the
 * LimitRange gives containers without resources a default and caps each container.
 */
export function buildGuardrails(cfg: StackConfig): Guardrails {
  const q = cfg.quota;
  const lr = cfg.limitRange;
  const resourceQuota: IResourceQuota = {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: metadata(GUARDRAIL_NAME),
    spec: {
      hard: {
        "requests.cpu": q.requestsCpu,
        "requests.memory": q.requestsMemory,
        "limits.cpu": q.limitsCpu,
        "limits.memory": q.limitsMemory,
        pods: String(q.pods),
        services: String(q.services),
        persistentvolumeclaims: String(q.persistentVolumeClaims),
        "requests.storage": q.requestsStorage,
        "services.loadbalancers": "0",
        "services.nodeports": "0",
      },
    },
  };
  const limitRange: ILimitRange = {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: metadata(GUARDRAIL_NAME),
    spec: {
      limits: [
        {
          type: "Container",
          defaultRequest: containerQuantities(lr.defaultRequest),
          default: containerQuantities(lr.default),
          max: containerQuantities(lr.max),
        },
      ],
    },
  };
  const policy = (name: string, spec: INetworkPolicy["spec"]): INetworkPolicy => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: metadata(name),
    spec,
  });
  const networkPolicies: INetworkPolicy[] = [
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy("allow-dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [structuredClone(DNS_EGRESS_RULE)],
    }),
    policy("allow-from-ingress-controller", {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ namespaceSelector: namespaceNamed(cfg.deploy.ingressNamespace) }] }],
    }),
    // Always rendered, empty when config lists nothing: kubectl apply never prunes, so a preview made
    // while config allowed more must lose that when it is deployed again.
    policy(CONFIGURED_EGRESS_POLICY, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: cfg.egress.map(egressRule),
    }),
    policy("allow-within-namespace", {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [{ podSelector: {} }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    }),
  ];
  return { resourceQuota, limitRange, networkPolicies };
}

/** The guardrail files, key to YAML text (several documents where a kind has several objects). */
export function guardrailFiles(g: Guardrails): Record<string, string> {
  return {
    [GUARDRAIL_FILES.resourceQuota]: stringify(g.resourceQuota),
    [GUARDRAIL_FILES.limitRange]: stringify(g.limitRange),
    [GUARDRAIL_FILES.networkPolicy]: g.networkPolicies.map((p) => stringify(p)).join("---\n"),
  };
}

/** The ConfigMap carrying the guardrail files, in the workflows namespace. */
export function buildGuardrailsConfigMap(cfg: StackConfig): IConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: GUARDRAILS_CONFIGMAP,
      namespace: cfg.namespace,
      labels: {
        "app.kubernetes.io/name": "implementation-dag",
        "app.kubernetes.io/part-of": "implementation-dag",
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": "guardrails",
      },
    },
    data: guardrailFiles(buildGuardrails(cfg)),
  };
}

/** Arguments of {@link PreviewGuardrails}. */
export interface PreviewGuardrailsArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the ConfigMap of guardrail templates every preview namespace receives. */
export class PreviewGuardrails extends pulumi.ComponentResource {
  /** The ConfigMap's name. */
  public readonly configMapName: pulumi.Output<string>;

  constructor(name: string, args: PreviewGuardrailsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:PreviewGuardrails", name, {}, opts);
    const cm = buildGuardrailsConfigMap(args.config);
    const resource = new k8s.core.v1.ConfigMap(GUARDRAILS_CONFIGMAP, cm as k8s.core.v1.ConfigMapArgs, { parent: this });
    this.configMapName = resource.metadata.name;
    this.registerOutputs({ configMapName: this.configMapName });
  }
}
