/**
 * deploy checks the PR's chart against the chart contract (docs/chart-contract.md) before anything
 * in the cluster changes: the check's helm lint, helm template and `kubectl label --local` run as the
 * real binaries behind the recording stand-ins (they need no cluster), everything else against the
 * fake cluster. A chart that fails stops deploy with what to change, in its log and in
 * evidence/chart-contract.txt, before any kubectl call or GitHub write; the IngressClass of config
 * reaches the chart as ingress.className, in the check and in the install alike.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deployEnv } from "../../components/workflow/deploy";
import { parseConfig } from "../../components/config";
import { readStackConfig } from "../../scripts/offline-render";
import { realTool } from "../../simulator/tools";
import {
  HEAD_SHA, HEAD_TAG, HOST, isOfflineCall, newWorld, NS, OWNER, RELEASE, REPO, type World,
  DeployRunOptions, useDeployStep,
} from "./fixtures";

const step = useDeployStep();
/** A stock `helm create` chart's files (path under the repository → content), made by the real helm. */
let stockChart: Record<string, string>;

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), "stock-chart-"));
  execFileSync(realTool("helm"), ["create", path.join(dir, "stock")], { env: { ...process.env, HOME: dir } });
  stockChart = {};
  const walk = (sub: string) => {
    for (const name of readdirSync(path.join(dir, sub))) {
      const rel = path.join(sub, name);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else stockChart[path.join("charts", rel)] = readFileSync(path.join(dir, rel), "utf8");
    }
  };
  walk("stock");
});

async function deploy(world: World, options: DeployRunOptions = {}) {
  // About the contract: every check runs the real helm and kubectl, never a replayed answer.
  const { r, calls, cluster, offline } = await step.run(world, { ...options, contract: "real" });
  return { r, calls, cluster, offline };
}

const git = [
  "git -c init.defaultBranch=preview init --quiet <work>/checkout",
  `git -C <work>/checkout fetch --quiet --depth 1 --no-tags https://github.com/${OWNER}/${REPO}.git ${HEAD_SHA}`,
  "git -C <work>/checkout checkout --quiet --detach FETCH_HEAD",
  "git -C <work>/checkout rev-parse HEAD",
];
/** The check's calls for a chart and values file of the checkout, with the IngressClass given. */
const checkCalls = (chart: string, values: string, ingressClass = "nginx") => {
  const overrides = `-f <work>/checkout/${values} --set-string image.tag=${HEAD_TAG} --set-string image.pullPolicy=IfNotPresent --set-string ingress.host=${HOST} --set-string ingress.className=${ingressClass}`;
  return [
    `helm lint <work>/checkout/${chart} ${overrides}`,
    `helm template ${RELEASE} <work>/checkout/${chart} --namespace ${NS} ${overrides}`,
    "kubectl label --local --overwrite -f <contract>/rendered.yaml -o json implementation-dag/chart-contract=checked",
    "kubectl label --local --overwrite -f <guardrails>/limitrange.yaml -o json implementation-dag/chart-contract=checked",
  ];
};

describe.each(["gnu", "busybox"] as const)("deploy's chart contract check (%s tools)", (tools) => {
  it("checks the example chart with the install's overrides before its first cluster call, and records it met the contract", async () => {
    const { r, calls, offline } = await deploy(newWorld(), { tools });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(offline).toEqual(checkCalls("charts/app", "charts/app/values-preview.yaml"));
    const lastOffline = calls.map((c) => isOfflineCall(c)).lastIndexOf(true);
    const firstCluster = calls.findIndex((c) => c.tool === "kubectl" && !isOfflineCall(c));
    expect(lastOffline).toBeGreaterThan(0);
    expect(lastOffline).toBeLessThan(firstCluster);
    expect(r.stdout).toContain("chart contract: met");
    expect(readFileSync(path.join(r.artifacts["deploy-evidence"], "chart-contract.txt"), "utf8")).toBe("");
  });

  it("stops a stock helm create chart before any cluster call or GitHub write, listing what to change", async () => {
    const world = newWorld({ extraFiles: stockChart });
    const { r, cluster, offline } = await deploy(world, { tools, parameters: { chartPath: "charts/stock", valuesFile: "values.yaml" } });
    expect(r.code).toBe(1);
    // Only the checkout happened: no kubectl call, no helm call against the cluster.
    expect(cluster).toEqual(git);
    expect(offline).toEqual(checkCalls("charts/stock", "charts/stock/values.yaml"));
    expect(world.applied).toEqual([]);
    expect(step.gh.writes()).toEqual([]);
    const report = readFileSync(path.join(r.artifacts["deploy-evidence"], "chart-contract.txt"), "utf8").trim().split("\n");
    const deployment = `Deployment/${RELEASE}-stock`;
    expect(report).toEqual(expect.arrayContaining([
      `${deployment}: container stock: allowPrivilegeEscalation is not false. Fix: set securityContext.allowPrivilegeEscalation: false`,
      `${deployment}: container stock: runAsNonRoot is not true. Fix: set securityContext.runAsNonRoot: true (pod or container) and run as a non-zero uid`,
      `${deployment}: container stock: no limits.memory. Fix: set resources.limits.memory`,
      "the chart: renders no Ingress. Fix: render an Ingress for .Values.ingress.host when the values file enables it (for example ingress.enabled: true in the values file)",
    ]));
    for (const line of report) expect(r.stderr).toContain(`  - ${line}\n`);
    expect(r.stderr).toContain("ERROR: chart: the chart does not meet the chart contract (docs/chart-contract.md)");
  });
});

describe("deploy and the IngressClass", () => {
  it("gives the chart config's deploy.ingressClass as ingress.className, in the check and in the install", async () => {
    expect(deployEnv(parseConfig(readStackConfig("preview"))).INGRESS_CLASS).toBe("nginx");
    const { r, cluster, offline } = await deploy(newWorld(), { env: { INGRESS_CLASS: "internal-nginx" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(offline).toEqual(checkCalls("charts/app", "charts/app/values-preview.yaml", "internal-nginx"));
    expect(cluster.filter((l) => l.startsWith("helm upgrade"))).toEqual([
      `helm upgrade --install ${RELEASE} <work>/checkout/charts/app -n ${NS} --kubeconfig <work>/kubeconfig -f <work>/checkout/charts/app/values-preview.yaml ` +
        `--set-string image.tag=${HEAD_TAG} --set-string image.pullPolicy=IfNotPresent --set-string ingress.host=${HOST} --set-string ingress.className=internal-nginx --wait --timeout 5m`,
    ]);
  });

  it("refuses an INGRESS_CLASS that is no object name before fetching anything", async () => {
    const { r, calls } = await deploy(newWorld(), { env: { INGRESS_CLASS: "Bad Class" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: INGRESS_CLASS: must be an IngressClass name (a DNS-1123 subdomain)");
    expect(calls).toEqual([]);
  });
});
