/**
 * The egress of acceptance pods. acceptance requests what `urls.json` names, and the chart behind it
 * is the pull request's: beside the step's own host check, a NetworkPolicy in the workflows namespace
 * lets the pods labelled {@link ACCEPTANCE_POD_LABEL} reach only the cluster DNS, the ingress
 * controller's pods (`deploy.ingressNamespace`, `acceptanceNetwork.ingressPodSelector`, on
 * `acceptanceNetwork.ingressPorts`) and what Argo's executor in the same pod must reach
 * (`acceptanceNetwork.executorEgress`: the API server, the artifact repository). So an in-cluster
 * Service, a metadata address or another namespace stays out of reach even if a URL got through.
 *
 * A NetworkPolicy sees the destination after a Service's address is translated to a pod's: with the
 * policy on, acceptance reaches the preview through the controller's pods, for example with
 * `acceptance.connectTo` set to the controller's Service. A public load-balancer address outside the
 * cluster is not the controller's pods and is not allowed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { StackConfig } from "./config";
import { DNS_EGRESS_RULE, egressRule } from "./guardrails";
import { COMMON_LABELS } from "./argo/spec-defaults";
import { ACCEPTANCE_POD_LABEL } from "./workflow/acceptance";

/** Name of the NetworkPolicy, in the workflows namespace. */
export const ACCEPTANCE_NETWORK_POLICY = "implementation-dag-acceptance";

/**
 * Builds the NetworkPolicy of acceptance pods from config, or `undefined` when
 * `acceptanceNetwork.enabled` is false. Egress only: acceptance receives nothing.
 */
export function buildAcceptanceNetworkPolicy(cfg: StackConfig): INetworkPolicy | undefined {
  const n = cfg.acceptanceNetwork;
  if (!n.enabled) return undefined;
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: ACCEPTANCE_NETWORK_POLICY,
      namespace: cfg.namespace,
      labels: { ...COMMON_LABELS, "app.kubernetes.io/component": "acceptance" },
    },
    spec: {
      podSelector: { matchLabels: { ...ACCEPTANCE_POD_LABEL } },
      policyTypes: ["Egress"],
      egress: [
        structuredClone(DNS_EGRESS_RULE),
        egressRule({ namespace: cfg.deploy.ingressNamespace, podSelector: n.ingressPodSelector, ports: n.ingressPorts }),
        ...n.executorEgress.map(egressRule),
      ],
    },
  };
}

/** Arguments of {@link AcceptanceNetwork}. */
export interface AcceptanceNetworkArgs {
  /** The typed stack config. */
  config: StackConfig;
}

/** Registers the NetworkPolicy of acceptance pods (nothing when `acceptanceNetwork.enabled` is false). */
export class AcceptanceNetwork extends pulumi.ComponentResource {
  /** The NetworkPolicy's name, or undefined when it is not rendered. */
  public readonly policyName: pulumi.Output<string> | undefined;

  constructor(name: string, args: AcceptanceNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:AcceptanceNetwork", name, {}, opts);
    const policy = buildAcceptanceNetworkPolicy(args.config);
    this.policyName = policy
      ? new k8s.networking.v1.NetworkPolicy(ACCEPTANCE_NETWORK_POLICY, policy as k8s.networking.v1.NetworkPolicyArgs, { parent: this }).metadata.name
      : undefined;
    this.registerOutputs({ policyName: this.policyName });
  }
}
