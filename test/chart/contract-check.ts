/**
 * Runs the chart contract check as `npm run check-chart` and deploy run it: the step source of
 * components/steps/check-chart.sh (lib/rules.sh, lib/chart-contract.jq and lib/chart-contract.sh
 * embedded by stepSource) under bash, with the real helm and kubectl first on PATH, optionally
 * busybox's applets before them.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseConfig } from "../../components/config";
import { buildGuardrails } from "../../components/guardrails";
import { CHART_CONTRACT_LIBRARIES } from "../../components/workflow/deploy";
import { stepSource } from "../../components/argo/script-template";
import { readStackConfig } from "../../scripts/offline-render";
import { realTool } from "../../simulator/tools";

/** What one run of the check did. */
export interface ContractRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** REPORT_FILE's lines: the failures. */
  report: string[];
}

/** The preview stack's LimitRange, as deploy finds it (YAML from the guardrails ConfigMap is also accepted). */
export function previewLimitRangeFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "limitrange-")), "limitrange.json");
  writeFileSync(file, JSON.stringify(buildGuardrails(parseConfig(readStackConfig("preview"))).limitRange));
  return file;
}

/** Runs check-chart.sh with `env` (CHART_DIR … LIMITRANGE_FILE; REPORT_FILE is made here). */
export async function runContractCheck(env: Record<string, string>, options: { pathPrepend?: string[] } = {}): Promise<ContractRun> {
  const dir = mkdtempSync(path.join(tmpdir(), "contract-check-"));
  const script = path.join(dir, "check-chart.sh");
  writeFileSync(script, stepSource("check-chart", CHART_CONTRACT_LIBRARIES));
  const report = path.join(dir, "report.txt");
  const tools = [path.dirname(realTool("helm")), path.dirname(realTool("kubectl"))];
  const child = spawn("bash", [script], {
    env: {
      PATH: [...(options.pathPrepend ?? []), ...tools, process.env.PATH ?? ""].join(":"),
      HOME: dir, TMPDIR: dir, REPORT_FILE: report, ...env,
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  let lines: string[] = [];
  try {
    lines = readFileSync(report, "utf8").split("\n").filter(Boolean);
  } catch {
    // no report: the inputs were refused before the check ran
  }
  return { code, stdout, stderr, report: lines };
}
