/**
 * The chart contract (docs/chart-contract.md) checked as deploy and `npm run check-chart` check it:
 * the step source of check-chart.sh with the real helm v4, kubectl and jq. The example chart meets
 * it; a stock `helm create` chart gets the list of what to change; each rule has a fixture that
 * breaks it alone (test/chart/fixtures/contract renders the objects its values list), under GNU
 * tools and under busybox; bad inputs are refused before anything runs.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { PROJECT_ROOT } from "../../scripts/offline-render";
import { busyboxDir } from "../helpers/busybox";
import { realTool } from "../../simulator/tools";
import { previewLimitRangeFile, runContractCheck } from "./contract-check";

const FIXTURE = path.join(PROJECT_ROOT, "test", "chart", "fixtures", "contract");
const HOST = "pr-42.preview.example.com";
const TAG = "pr-42";

let limitRange: string;
let scratch: string;
let busybox: string;
beforeAll(() => {
  limitRange = previewLimitRangeFile();
  scratch = mkdtempSync(path.join(tmpdir(), "contract-test-"));
  busybox = busyboxDir();
});

/** The check's env for a chart (and values file) rendered as PR 42's preview. */
const envFor = (chart: string, values = "", extra: Record<string, string> = {}) => ({
  CHART_DIR: chart, VALUES_FILE: values, RELEASE: "app-pr-42", NS: "impl-pr-42", HOST, IMAGE_TAG: TAG,
  IMAGE_PULL_POLICY: "IfNotPresent", INGRESS_CLASS: "nginx", LIMITRANGE_FILE: limitRange, ...extra,
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const baseObjects = (): Obj[] => (parseYaml(readFileSync(path.join(FIXTURE, "values.yaml"), "utf8")) as { objects: Obj[] }).objects;
let valuesCount = 0;
/** A values file for the fixture: its objects changed by `change`, plus other values. */
function fixtureValues(change: (objects: Obj[]) => void, extra: Obj = {}): string {
  const objects = baseObjects();
  change(objects);
  const file = path.join(scratch, `values-${++valuesCount}.yaml`);
  writeFileSync(file, stringify({ objects, ...extra }));
  return file;
}
const container = (o: Obj[]) => o[0].spec.template.spec.containers[0];
const ingressSpec = (o: Obj[]) => o[2].spec;

/** The rules GNU tools run too (see below): the shell's three and the first that jq decides. */
const GNU_RULES = new Set(["helm lint passes", "renders with the overrides", "renders Kubernetes objects", "Pod Security restricted"]);
/** Each rule broken alone, and the one failure it must give (a prefix of the line). */
const RULES: Array<[string, () => string, string]> = [
  ["helm lint passes", () => fixtureValues(() => {}, { valid: false }),
    "helm lint: the chart fails helm lint with the pipeline's overrides. Fix: what helm lint says:"],
  ["renders with the overrides", () => fixtureValues(() => {}, { failRender: "the chart refuses these values" }),
    "helm template: the chart does not render with the pipeline's overrides. Fix: what helm says:"],
  ["renders Kubernetes objects", () => fixtureValues((o) => (o[1].metadata.labels = { ready: true })),
    "the chart: renders something that is not a list of Kubernetes objects. Fix: what kubectl says:"],
  ["Pod Security restricted", () => fixtureValues((o) => (container(o).securityContext.allowPrivilegeEscalation = true)),
    "Deployment/app: container app: allowPrivilegeEscalation is not false. Fix:"],
  ["requests and limits", () => fixtureValues((o) => delete container(o).resources.requests.cpu),
    "Deployment/app: container app: no requests.cpu. Fix:"],
  ["LimitRange max", () => fixtureValues((o) => (container(o).resources.limits.memory = "4Gi")),
    "Deployment/app: container app: limits.memory 4Gi is above the LimitRange max 2Gi. Fix: set resources.limits.memory to at most 2Gi"],
  ["an Ingress", () => fixtureValues((o) => o.splice(2, 1)), "the chart: renders no Ingress. Fix:"],
  ["Ingress hosts", () => fixtureValues((o) => ingressSpec(o).rules.push({ ...ingressSpec(o).rules[0], host: "argo.example.com" })),
    `Ingress/app: rule host argo.example.com is neither the preview host ${HOST} nor a name under it. Fix:`],
  ["TLS hosts", () => fixtureValues((o) => (ingressSpec(o).tls = [{ hosts: ["pr-43.preview.example.com"] }])),
    `Ingress/app: TLS host pr-43.preview.example.com is neither the preview host ${HOST} nor a name under it. Fix:`],
  ["no default backend", () => fixtureValues((o) => (ingressSpec(o).defaultBackend = { service: { name: "app", port: { number: 80 } } })),
    "Ingress/app: sets a defaultBackend"],
  ["ingress.className honoured", () => fixtureValues((o) => (ingressSpec(o).ingressClassName = "other")),
    "Ingress/app: IngressClass is other, not nginx. Fix:"],
  ["image.tag honoured", () => fixtureValues((o) => (container(o).image = "ghcr.io/example-org/app:latest")),
    `the chart: no container image ends with :${TAG}`],
  ["image.pullPolicy honoured", () => fixtureValues((o) => (container(o).imagePullPolicy = "Always")),
    `Deployment/app: container app pulls ghcr.io/example-org/app:${TAG} with imagePullPolicy Always, not IfNotPresent`],
  ["no LoadBalancer", () => fixtureValues((o) => (o[1].spec.type = "LoadBalancer")), "Service/app: is of type LoadBalancer"],
  ["no NodePort", () => fixtureValues((o) => (o[1].spec.type = "NodePort")), "Service/app: is of type NodePort"],
  ["no ExternalName", () => fixtureValues((o) => (o[1].spec = { type: "ExternalName", externalName: "example.com" })), "Service/app: is of type ExternalName"],
  ["no externalIPs", () => fixtureValues((o) => (o[1].spec.externalIPs = ["10.0.0.1"])), "Service/app: sets externalIPs"],
  ["only what the deployer may create", () => fixtureValues((o) => o.push({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "x" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" }, subjects: [] })),
    "ClusterRoleBinding/x: is a rbac.authorization.k8s.io ClusterRoleBinding (the preview's deployer may create only ConfigMap, Secret,"],
  ["inside the preview namespace", () => fixtureValues((o) => (o[1].metadata.namespace = "default")),
    "Service/app: is placed in namespace default, outside the preview's (impl-pr-42). Fix:"],
  ["no finalizers", () => fixtureValues((o) => (o[1].metadata.finalizers = ["example.com/hold"])), "Service/app: sets the finalizer example.com/hold"],
];
for (const rule of GNU_RULES) if (!RULES.some(([name]) => name === rule)) throw new Error(`GNU_RULES names no rule: ${rule}`);

describe.each(["gnu", "busybox"] as const)("the chart contract check (%s tools)", (tools) => {
  const run = (env: Record<string, string>) => runContractCheck(env, { pathPrepend: tools === "busybox" ? [busybox] : [] });

  it("passes the example chart with values-preview.yaml", async () => {
    const chart = path.join(PROJECT_ROOT, "charts", "app");
    const r = await run(envFor(chart, path.join(chart, "values-preview.yaml")));
    expect(r.stderr).toBe("");
    expect(r.report).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the chart meets the chart contract");
  });

  it("passes its own fixture as given", async () => {
    const r = await run(envFor(FIXTURE));
    expect(r.report).toEqual([]);
    expect(r.code).toBe(0);
  });

  // Three rules are decided in the shell (helm lint, helm template, kubectl); the others by
  // lib/chart-contract.jq (test/chart/contract-rules.test.ts holds each to fixed objects), reported
  // by the same lines of shell. The step image's busybox runs them all; GNU tools run the shell's
  // three and one of jq's, which takes the path every other one takes.
  it.each(tools === "busybox" ? RULES : RULES.filter(([rule]) => GNU_RULES.has(rule)))("fails a chart that breaks only '%s', saying what to change", async (_rule, values, expected) => {
    const r = await run(envFor(FIXTURE, values()));
    expect(r.code).toBe(1);
    // helm's and kubectl's own lines follow their failure, indented.
    const failures = r.report.filter((l) => !l.startsWith("    "));
    expect(failures).toHaveLength(1);
    expect(failures[0].startsWith(expected), failures[0]).toBe(true);
    expect(r.stderr).toContain("The chart does not meet the chart contract (docs/chart-contract.md); what to change:\n");
    expect(r.stderr).toContain(`  - ${failures[0]}\n`);
  });
});

describe("a stock helm create chart", () => {
  it("gets the list of what to change: security contexts, resources and an Ingress for the host", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "stock-"));
    execFileSync(realTool("helm"), ["create", path.join(dir, "mychart")], { env: { ...process.env, HOME: dir } });
    const r = await runContractCheck(envFor(path.join(dir, "mychart")));
    expect(r.code).toBe(1);
    const at = (kind: string, container: string) => [
      `${kind}: container ${container}: allowPrivilegeEscalation is not false. Fix: set securityContext.allowPrivilegeEscalation: false`,
      `${kind}: container ${container}: does not drop ALL capabilities. Fix: set securityContext.capabilities.drop: [ALL]`,
      `${kind}: container ${container}: runAsNonRoot is not true. Fix: set securityContext.runAsNonRoot: true (pod or container) and run as a non-zero uid`,
      `${kind}: container ${container}: seccompProfile is not RuntimeDefault. Fix: set securityContext.seccompProfile.type: RuntimeDefault (pod or container)`,
      `${kind}: container ${container}: no requests.cpu. Fix: set resources.requests.cpu`,
      `${kind}: container ${container}: no requests.memory. Fix: set resources.requests.memory`,
      `${kind}: container ${container}: no limits.cpu. Fix: set resources.limits.cpu`,
      `${kind}: container ${container}: no limits.memory. Fix: set resources.limits.memory`,
    ];
    expect(r.report).toEqual([
      ...at("Deployment/app-pr-42-mychart", "mychart"),
      ...at("Pod/app-pr-42-mychart-test-connection", "wget"),
      "the chart: renders no Ingress. Fix: render an Ingress for .Values.ingress.host when the values file enables it (for example ingress.enabled: true in the values file)",
    ]);
  });
});

describe("the check's inputs", () => {
  it("refuses every bad input at once, naming it, before running anything", async () => {
    const r = await runContractCheck(envFor("relative/chart", "/no/such/values.yaml", {
      RELEASE: "Bad_Release", HOST: "not a host", IMAGE_TAG: "-tag", IMAGE_PULL_POLICY: "Sometimes", INGRESS_CLASS: "Bad Class", LIMITRANGE_FILE: "limitrange.yaml",
    }));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      "ERROR: CHART_DIR: must be the absolute path of a chart directory (with Chart.yaml)",
      "ERROR: VALUES_FILE: must be empty or the absolute path of a readable file",
      "ERROR: RELEASE: must be a DNS-1123 label of at most 53 characters",
      "ERROR: HOST: must be a lowercase DNS name",
      "ERROR: IMAGE_TAG: must be an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'",
      "ERROR: IMAGE_PULL_POLICY: must be empty, Always, IfNotPresent or Never",
      "ERROR: INGRESS_CLASS: must be empty or an IngressClass name (a DNS-1123 subdomain)",
      "ERROR: LIMITRANGE_FILE: must be the absolute path of a readable file",
    ]);
    expect(r.stdout).toBe("");
  });

  it("reads the LimitRange as the guardrails ConfigMap holds it (YAML)", async () => {
    const yamlFile = path.join(scratch, "limitrange.yaml");
    writeFileSync(yamlFile, stringify(JSON.parse(readFileSync(limitRange, "utf8"))));
    const tight = fixtureValues((o) => (container(o).resources.limits.cpu = "3"));
    const r = await runContractCheck(envFor(FIXTURE, tight, { LIMITRANGE_FILE: yamlFile }));
    expect(r.report).toEqual(["Deployment/app: container app: limits.cpu 3 is above the LimitRange max 2. Fix: set resources.limits.cpu to at most 2"]);
  });
});
