/**
 * The chart contract's jq program (components/steps/lib/chart-contract.jq), run by the real jq on
 * fixed objects with exact outputs: its Pod Security rules say, problem for problem and in order,
 * what test/chart/restricted.ts says about the same pod spec (one table for both); its finalizers
 * are the admission policy's; and the LimitRange rules read quantities as Kubernetes does.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { SYSTEM_FINALIZERS } from "../../components/admission";
import { DEPLOYER_RULES } from "../../components/rbac";
import { parseConfig } from "../../components/config";
import { buildGuardrails } from "../../components/guardrails";
import { CHART_CONTRACT_LIBRARIES } from "../../components/workflow/deploy";
import { STEPS_DIR, stepSource, jqProgramVariable } from "../../components/argo/script-template";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { restrictedViolations } from "./restricted";

const PROGRAM = path.join(STEPS_DIR, "lib", "chart-contract.jq");
const HOST = "pr-42.preview.example.com";
const NS = "impl-pr-42";
const TAG = "pr-42";
const limitRange = buildGuardrails(parseConfig(readStackConfig("preview"))).limitRange;

/** The jq program's failures for these objects. */
function judge(objects: object[], args: { pullPolicy?: string; ingressClass?: string } = {}): string[] {
  const out = execFileSync("jq", ["-r", "--arg", "namespace", NS, "--arg", "host", HOST, "--arg", "tag", TAG, "--arg", "pull_policy", args.pullPolicy ?? "",
    "--arg", "ingress_class", args.ingressClass ?? "", "--argjson", "limit_range", JSON.stringify(limitRange), "-f", PROGRAM],
  { input: JSON.stringify(objects), encoding: "utf8", cwd: PROJECT_ROOT });
  return out.split("\n").filter(Boolean);
}

const ingress = (name: string, spec: object, metadata: object = {}) =>
  ({ apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name, ...metadata }, spec });
const rule = (host?: string) => ({ ...(host ? { host } : {}), http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "app", port: { number: 80 } } } }] } });
const ownIngress = ingress("app", { ingressClassName: "nginx", rules: [rule(HOST)] });

const base: IPodSpec = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
  containers: [{
    name: "c",
    image: `ghcr.io/example-org/app:${TAG}`,
    resources: { requests: { cpu: "1m", memory: "1Mi" }, limits: { cpu: "1m", memory: "1Mi" } },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
  }],
};
const deployment = (spec: IPodSpec, name = "app") =>
  ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name }, spec: { replicas: 1, template: { spec } } });
const mutate = (f: (s: IPodSpec) => void): IPodSpec => {
  const s = structuredClone(base);
  f(s);
  return s;
};

/** One table for both checks: a pod spec, and what both must find (restricted.ts's words). */
const RESTRICTED_CASES: Array<[string, IPodSpec, string[]]> = [
  ["a restricted pod", base, []],
  ["privilege escalation", mutate((s) => (s.containers[0].securityContext!.allowPrivilegeEscalation = true)), ["container c: allowPrivilegeEscalation is not false"]],
  ["privilege escalation left unset", mutate((s) => delete s.containers[0].securityContext!.allowPrivilegeEscalation), ["container c: allowPrivilegeEscalation is not false"]],
  ["privileged", mutate((s) => (s.containers[0].securityContext!.privileged = true)), ["container c: privileged"]],
  ["capabilities not all dropped", mutate((s) => (s.containers[0].securityContext!.capabilities = { drop: ["NET_RAW"] })), ["container c: does not drop ALL capabilities"]],
  ["a capability added", mutate((s) => (s.containers[0].securityContext!.capabilities!.add = ["SYS_ADMIN"])), ["container c: adds capabilities"]],
  ["NET_BIND_SERVICE added", mutate((s) => (s.containers[0].securityContext!.capabilities!.add = ["NET_BIND_SERVICE"])), []],
  ["root allowed", mutate((s) => (s.securityContext!.runAsNonRoot = false)), ["container c: runAsNonRoot is not true"]],
  ["the container's false beats the pod's true", mutate((s) => (s.containers[0].securityContext!.runAsNonRoot = false)), ["container c: runAsNonRoot is not true"]],
  ["uid 0", mutate((s) => (s.securityContext!.runAsUser = 0)), ["container c: runs as uid 0"]],
  ["no seccomp profile", mutate((s) => delete s.securityContext!.seccompProfile), ["container c: seccompProfile is not RuntimeDefault"]],
  ["seccomp Unconfined", mutate((s) => (s.containers[0].securityContext!.seccompProfile = { type: "Unconfined" })), ["container c: seccompProfile is not RuntimeDefault"]],
  ["host network", mutate((s) => (s.hostNetwork = true)), ["uses host namespaces"]],
  ["a hostPath volume", mutate((s) => (s.volumes = [{ name: "h", hostPath: { path: "/" } }])), ["volume h is of type hostPath"]],
  ["an emptyDir and a typeless volume", mutate((s) => (s.volumes = [{ name: "e", emptyDir: {} }, { name: "t" }])), []],
  ["a hostPort", mutate((s) => (s.containers[0].ports = [{ containerPort: 8080, hostPort: 80 }])), ["container c: uses a hostPort"]],
  ["no limits", mutate((s) => delete s.containers[0].resources!.limits), ["container c: no limits.cpu", "container c: no limits.memory"]],
  ["no requests.memory", mutate((s) => delete s.containers[0].resources!.requests!.memory), ["container c: no requests.memory"]],
  ["an init container as root", mutate((s) => (s.initContainers = [{ ...structuredClone(s.containers[0]), name: "init", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsUser: 0 } }])),
    ["container init: runs as uid 0"]],
];

describe("the Pod Security rules of the chart contract and of restricted.ts", () => {
  it.each(RESTRICTED_CASES)("%s: both find the same problems", (_name, spec, expected) => {
    expect(restrictedViolations(spec)).toEqual(expected);
    const lines = judge([deployment(spec), ownIngress]);
    const problems = lines.filter((l) => l.startsWith("Deployment/app: ")).map((l) => l.slice("Deployment/app: ".length).replace(/\. Fix: .*$/, ""));
    expect(problems).toEqual(expected);
    expect(lines.every((l) => l.startsWith("Deployment/app: ") && l.includes(". Fix: "))).toBe(true);
  });

  it("finds pod templates in every kind that makes pods", () => {
    const bad = mutate((s) => (s.hostNetwork = true));
    const objects = [
      { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: bad },
      { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "s" }, spec: { template: { spec: bad } } },
      { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "d" }, spec: { template: { spec: bad } } },
      { apiVersion: "batch/v1", kind: "Job", metadata: { name: "j" }, spec: { template: { spec: bad } } },
      { apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "c" }, spec: { jobTemplate: { spec: { template: { spec: bad } } } } },
      deployment(base), ownIngress,
    ];
    expect(judge(objects).map((l) => l.replace(/: uses host namespaces\. Fix: .*$/, ""))).toEqual(["Pod/p", "StatefulSet/s", "DaemonSet/d", "Job/j", "CronJob/c"]);
  });
});

describe("the chart contract's jq program", () => {
  it("knows the admission policy's system finalizers", () => {
    const line = readFileSync(PROGRAM, "utf8").split("\n").find((l) => l.startsWith("def system_finalizers:"))!;
    expect(JSON.parse(line.replace(/^def system_finalizers: /, "").replace(/;$/, ""))).toEqual([...SYSTEM_FINALIZERS]);
  });

  it("knows what the preview's deployer may create (DEPLOYER_RULES)", () => {
    /** The kind of each resource DEPLOYER_RULES names. */
    const KIND: Record<string, string> = {
      configmaps: "ConfigMap", secrets: "Secret", services: "Service", persistentvolumeclaims: "PersistentVolumeClaim", serviceaccounts: "ServiceAccount",
      pods: "Pod", deployments: "Deployment", statefulsets: "StatefulSet", daemonsets: "DaemonSet", jobs: "Job", cronjobs: "CronJob", ingresses: "Ingress",
      horizontalpodautoscalers: "HorizontalPodAutoscaler", poddisruptionbudgets: "PodDisruptionBudget", roles: "Role", rolebindings: "RoleBinding",
    };
    const creatable = DEPLOYER_RULES.filter((r) => r.verbs.includes("create"))
      .flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).map((res) => `${g}/${KIND[res] ?? `<no kind for ${res}>`}`)));
    const line = readFileSync(PROGRAM, "utf8").split("\n").find((l) => l.startsWith("def deployer_kinds:"))!;
    expect((JSON.parse(line.replace(/^def deployer_kinds: /, "").replace(/;$/, "")) as string[]).sort()).toEqual(creatable.sort());
  });

  it("refuses what the preview's deployer may not create, and objects placed outside the preview namespace", () => {
    expect(judge([
      deployment(base), ownIngress,
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "admin-too" } },
      { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "allow-all" } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "elsewhere", namespace: "kube-system" } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "here", namespace: NS } },
    ]).map((l) => l.replace(/ \(the preview's deployer may create only [^)]*\)/, " (…)"))).toEqual([
      "ClusterRole/admin-too: is a rbac.authorization.k8s.io ClusterRole (…). Fix: leave it out of the chart (or ask the platform team to allow it)",
      "NetworkPolicy/allow-all: is a networking.k8s.io NetworkPolicy (…). Fix: leave it out of the chart (or ask the platform team to allow it)",
      `ConfigMap/elsewhere: is placed in namespace kube-system, outside the preview's (${NS}). Fix: remove metadata.namespace, or take it from .Release.Namespace`,
    ]);
  });

  it("passes a chart of one restricted Deployment and the preview's Ingress", () => {
    expect(judge([deployment(base), ownIngress], { pullPolicy: "IfNotPresent", ingressClass: "nginx" })).toEqual([]);
  });

  it("reads the LimitRange as the API server does: own limit else default, own request else own limit else default request", () => {
    const withResources = (resources: object) => deployment(mutate((s) => (s.containers[0].resources = resources)));
    // max is cpu 2, memory 2Gi, ephemeral-storage 2Gi; the default limit cpu 500m.
    expect(judge([withResources({ requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "2500m", memory: "2Gi" } }), ownIngress])).toEqual([
      "Deployment/app: container c: limits.cpu 2500m is above the LimitRange max 2. Fix: set resources.limits.cpu to at most 2",
    ]);
    expect(judge([withResources({ requests: { cpu: 1, memory: "64Mi" }, limits: { cpu: "1", memory: "2.5Gi" } }), ownIngress])).toEqual([
      "Deployment/app: container c: limits.memory 2.5Gi is above the LimitRange max 2Gi. Fix: set resources.limits.memory to at most 2Gi",
    ]);
    expect(judge([withResources({ requests: { cpu: "600m", memory: "64Mi", "ephemeral-storage": "3Gi" }, limits: { memory: "64Mi" }, cpu: undefined }), ownIngress])).toEqual([
      "Deployment/app: container c: no limits.cpu. Fix: set resources.limits.cpu",
      "Deployment/app: container c: requests.cpu 600m is above its limit 500m. Fix: set resources.requests.cpu to at most its limit",
      "Deployment/app: container c: requests.ephemeral-storage 3Gi is above its limit 1Gi. Fix: set resources.requests.ephemeral-storage to at most its limit",
    ]);
    expect(judge([withResources({ requests: { cpu: "10m", memory: "64Mi" }, limits: { cpu: "lots", memory: "64Mi", "ephemeral-storage": "4G" } }), ownIngress])).toEqual([
      "Deployment/app: container c: limits.cpu lots is not a quantity. Fix: write resources.limits.cpu as a Kubernetes quantity such as 500m or 256Mi",
      "Deployment/app: container c: limits.ephemeral-storage 4G is above the LimitRange max 2Gi. Fix: set resources.limits.ephemeral-storage to at most 2Gi",
    ]);
  });

  it("refuses what the preview-charts admission policy refuses, with what to change", () => {
    expect(judge([
      deployment(base),
      ingress("other", { ingressClassName: "nginx", rules: [rule(HOST), rule("argo.example.com")], tls: [{ hosts: [`api.${HOST}`, `x${HOST}`] }] }),
      ingress("catch-all", { ingressClassName: "nginx", rules: [rule()] }),
      ingress("default", { ingressClassName: "nginx", defaultBackend: { service: { name: "app", port: { number: 80 } } } }),
      { apiVersion: "v1", kind: "Service", metadata: { name: "lb" }, spec: { type: "LoadBalancer" } },
      { apiVersion: "v1", kind: "Service", metadata: { name: "np" }, spec: { type: "NodePort" } },
      { apiVersion: "v1", kind: "Service", metadata: { name: "en" }, spec: { type: "ExternalName", externalName: "example.com" } },
      { apiVersion: "v1", kind: "Service", metadata: { name: "ips" }, spec: { externalIPs: ["10.0.0.1"] } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "stuck", finalizers: ["example.com/never", "orphan"] } },
    ])).toEqual([
      `Ingress/other: rule host argo.example.com is neither the preview host ${HOST} nor a name under it. Fix: take the host from .Values.ingress.host`,
      `Ingress/other: TLS host x${HOST} is neither the preview host ${HOST} nor a name under it. Fix: take the TLS hosts from .Values.ingress.host`,
      "Ingress/catch-all: a rule has no host (it would answer for every host). Fix: set the rule's host from .Values.ingress.host",
      "Ingress/default: sets a defaultBackend (it would answer for hosts that are not the preview's). Fix: remove spec.defaultBackend; route the preview host with a rule",
      "Service/lb: is of type LoadBalancer (the preview's quota allows none; previews are reached through the Ingress). Fix: use type ClusterIP",
      "Service/np: is of type NodePort (the preview's quota allows none; previews are reached through the Ingress). Fix: use type ClusterIP",
      "Service/en: is of type ExternalName (a name the ingress controller would proxy to outside the preview). Fix: use type ClusterIP with the preview's own pods",
      "Service/ips: sets externalIPs (it would capture traffic meant for those addresses). Fix: remove spec.externalIPs",
      "ConfigMap/stuck: sets the finalizer example.com/never (nobody removes it, so the preview namespace would never finish deleting). Fix: remove metadata.finalizers",
    ]);
  });

  it("wants an Ingress serving the preview host, of the configured class", () => {
    expect(judge([deployment(base)])).toEqual([
      "the chart: renders no Ingress. Fix: render an Ingress for .Values.ingress.host when the values file enables it (for example ingress.enabled: true in the values file)",
    ]);
    expect(judge([deployment(base), ingress("app", { rules: [rule(`api.${HOST}`)] })], { ingressClass: "nginx" })).toEqual([
      "Ingress/app: IngressClass is not set, not nginx. Fix: set spec.ingressClassName from .Values.ingress.className",
    ]);
    expect(judge([deployment(base), ingress("app", { rules: [rule(HOST)] }, { annotations: { "kubernetes.io/ingress.class": "nginx" } })], { ingressClass: "nginx" })).toEqual([]);
    expect(judge([deployment(base), ingress("app", {})])).toEqual([
      `the chart: no Ingress rule serves the preview host ${HOST}. Fix: give the Ingress a rule whose host is .Values.ingress.host`,
    ]);
  });

  it("wants the image tag and the pull policy honoured", () => {
    const image = (image: string, imagePullPolicy?: string) => deployment(mutate((s) => Object.assign(s.containers[0], { image, imagePullPolicy })));
    expect(judge([image("ghcr.io/example-org/app:1.0"), ownIngress])).toEqual([
      `the chart: no container image ends with :${TAG} (the tag given as image.tag). Fix: take the image's tag from .Values.image.tag`,
    ]);
    expect(judge([image(`ghcr.io/example-org/app:${TAG}`, "IfNotPresent"), ownIngress], { pullPolicy: "Always" })).toEqual([
      `Deployment/app: container c pulls ghcr.io/example-org/app:${TAG} with imagePullPolicy IfNotPresent, not Always (given as image.pullPolicy). Fix: set imagePullPolicy from .Values.image.pullPolicy`,
    ]);
    // Unset, a tag other than latest is pulled IfNotPresent.
    expect(judge([image(`ghcr.io/example-org/app:${TAG}`), ownIngress], { pullPolicy: "IfNotPresent" })).toEqual([]);
    expect(judge([image(`ghcr.io/example-org/app:${TAG}`), ownIngress], { pullPolicy: "Always" })).toHaveLength(1);
  });

  it("is embedded into a step's source byte for byte, with no '{{'", () => {
    const source = stepSource("check-chart", CHART_CONTRACT_LIBRARIES);
    const variable = jqProgramVariable("chart-contract");
    expect(source).not.toContain("{{");
    const printed = execFileSync("bash", ["-c", `${source.split("# ---- lib/chart-contract.sh ----")[0]}\nprintf '%s' "$${variable}"`], { encoding: "utf8", env: { PATH: process.env.PATH } });
    expect(printed).toBe(readFileSync(PROGRAM, "utf8"));
  });
});
