/**
 * Each workflow parameter and acceptance setting is defined once (components/parameters.ts): what is
 * generated from the table is checked in as generated, and one table of good and bad values gets the
 * same verdict from the table's rule, the generated shell rules, the stack config's schema (zod),
 * set-params (the value given at submit) and acceptance (the value as its input).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { outputName, PARAMETERS, ruleProblem, SUBMITTED, workflowParameters } from "../../components/parameters";
import { acceptanceDefaults, acceptanceTemplate } from "../../components/workflow/acceptance";
import { AGENT_OWN_PARAMETERS, CODERUN_PARAMETERS, inAgentOrder } from "../../components/workflow/agents";
import { deployEnv } from "../../components/workflow/deploy";
import { dagTasks } from "../../components/workflow/index";
import { SET_PARAMS_PASSED, setParamsTemplate } from "../../components/workflow/set-params";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { generatedFiles } from "../../scripts/parameters";
import { runScriptTemplate } from "../../simulator/argo-step";

const PREVIEW = readStackConfig("preview");
const CONFIG = parseConfig(PREVIEW);
const SET_PARAMS = setParamsTemplate(CONFIG);
const ACCEPTANCE = acceptanceTemplate(CONFIG);
const STACK = acceptanceDefaults(CONFIG.acceptance);

/** Valid workflow parameters: the WorkflowTemplate's defaults and a PR. */
const VALID: Record<string, string> = {
  ...Object.fromEntries(workflowParameters(CONFIG).map((p) => [p.name, p.value ?? ""])),
  owner: "example-org", repo: "example-app", pr: "7",
};

type Row = [name: string, value: string, valid: boolean];
/** Good and bad values; `valid` is the verdict on the value as set-params reads it at submit. */
const ROWS: Row[] = [
  ["owner", "example-org", true], ["owner", "a--b", false], ["owner", "-a", false], ["owner", "a".repeat(39), true], ["owner", "a".repeat(40), false],
  ["repo", "Example_App.v2", true], ["repo", "..", false], ["repo", ".", false], ["repo", "a/b", false],
  ["pr", "1", true], ["pr", "0123", false], ["pr", "0", false], ["pr", "$(touch PWNED)", false],
  ["commit", "", true], ["commit", "ABC1234", true], ["commit", "abc12", false],
  ["domain", "preview.example.com", true], ["domain", "localhost", false], ["domain", "Preview.example.com", false],
  ["domain", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.ddd`, false],
  // The stack config accepted a chart path with a '.' segment that set-params refuses: the stack
  // installed, then every run failed.
  ["chartPath", "charts/app", true], ["chartPath", "oci://ghcr.io/example-org/chart", true], ["chartPath", "charts/./app", false],
  ["chartPath", "../x", false], ["chartPath", "/abs", false],
  // set-params accepted oci:// references that deploy refuses (after the agents had run).
  ["chartPath", "oci://registry.local:5000/charts/app:1.2.3", true], ["chartPath", "oci://registry.local", false],
  ["chartPath", "oci://ghcr.io//app", false], ["chartPath", "oci://ghcr.io/charts/..", false], ["chartPath", "oci://ghcr.io/charts/app:", false],
  ["valuesFile", "values-preview.yaml", true], ["valuesFile", "./values.yaml", false],
  ["imageTag", "", true], ["imageTag", "v1.2_3", true], ["imageTag", "a/b", false], ["imageTag", ".x", false],
  // A threshold given at submit is judged as acceptance judges it: 05 used to pass set-params.
  ["min_success_pct", "", true], ["min_success_pct", "95", true], ["min_success_pct", "99.5", true], ["min_success_pct", "100.0", true],
  ["min_success_pct", "05", false], ["min_success_pct", "0.95", false], ["min_success_pct", "101", false],
  ["max_p95_ms", "9999999", true], ["max_p95_ms", "10000000", false], ["max_p95_ms", "0", false], ["max_p95_ms", "-5", false],
  ["requests_per_endpoint", "20", true], ["requests_per_endpoint", "10001", false], ["requests_per_endpoint", "010", false],
  ["taskId", "", true], ["taskId", "7", true], ["taskId", "007", false],
  ["service", "", true], ["service", "payments", true], ["service", "Payments", false],
  ["model", "claude-sonnet-4-20250514", true], ["model", "claude sonnet", false], ["model", "a\"b", false],
  ["docsRepository", "", true], ["docsRepository", "example-org/docs", true], ["docsRepository", "docs", false],
  ["docsRepository", "example-org/..", false], ["docsRepository", "a/b/c", false],
  ["docsProjectDirectory", ".", true], ["docsProjectDirectory", "docs/api", true], ["docsProjectDirectory", "../x", false], ["docsProjectDirectory", "./docs", false],
  ["workingDirectory", ".", true], ["workingDirectory", "/etc", false],
  ["docsBranch", "main", true], ["docsBranch", "feature/x", true], ["docsBranch", "main..x", false], ["docsBranch", "-f", false],
  ["docsBranch", "main.lock", false], ["docsBranch", "x/", false],
  ["continueSession", "true", true], ["continueSession", "yes", false],
  ["overwriteMemory", "false", true], ["overwriteMemory", "TRUE", false],
  ["taskRequirements", "", true], ["taskRequirements", "dG9vbHM6IFtdCg==", true], ["taskRequirements", "tools", false],
  // Acceptance's other settings (stack config only), as acceptance reads them.
  ["max_p99_ms", "", true], ["max_p99_ms", "900", true], ["max_p99_ms", "0", false],
  ["judge", "server", true], ["judge", "p95", false], ["judge", "", false],
  ["concurrency", "64", true], ["concurrency", "65", false],
  ["timeout_ms", "100", true], ["timeout_ms", "99", false],
  ["expect", "<101", true], ["expect", "200-204,301", true], ["expect", "<100", false], ["expect", "500-400", false], ["expect", "2xx,", false],
  ["paths", "", true], ["paths", "{\"/a\":\"200\",\"/api/*\":\"<500\"}", true], ["paths", "{\"a\":\"200\"}", false], ["paths", "[]", false],
  ["paths", "{\"/a**\":\"200\"}", false],
  ["insecure", "false", true], ["insecure", "no", false],
  ["connect_to", "", true], ["connect_to", "ingress.svc:443", true], ["connect_to", "ingress.svc:0", false], ["connect_to", "ingress.svc:65536", false],
  // ready_consecutive with a leading zero used to pass acceptance and fail set-params.
  ["ready_consecutive", "0", true], ["ready_consecutive", "100", true], ["ready_consecutive", "101", false], ["ready_consecutive", "007", false],
  ["ready_timeout_s", "170", true], ["ready_timeout_s", "171", false],
  ["rate", "", true], ["rate", "2.125", true], ["rate", "1000", true], ["rate", "0", false], ["rate", "1000.5", false], ["rate", "1.0005", false],
  ["duration_s", "1", true], ["duration_s", "0", false],
];

const submitted = (name: string) => SUBMITTED.includes(name);
/** The rule's verdict on a row: as set-params reads a submitted value, as acceptance reads a setting. */
const rowProblem = ([name, value]: Row) => ruleProblem(name, value, submitted(name));

describe("the parameter table", () => {
  it("generates lib/parameter-rules.sh, the README's tables and agents' child-Workflow sketch, and docs/acceptance.md's table as checked in (npm run parameters)", () => {
    for (const { file, text } of generatedFiles()) {
      expect(readFileSync(path.join(PROJECT_ROOT, file), "utf8"), `${file}: run npm run parameters`).toBe(text);
    }
  });

  it("is what the WorkflowTemplate, set-params, deploy and acceptance take: names, env and outputs", () => {
    expect(workflowParameters(CONFIG).map((p) => p.name)).toEqual(SUBMITTED);
    expect((SET_PARAMS.inputs?.parameters ?? []).map((p) => p.name)).toEqual(SUBMITTED);
    const setParamsEnv = new Map((SET_PARAMS.script?.env ?? []).map((e) => [e.name, e.value]));
    const acceptanceEnv = new Map((ACCEPTANCE.script?.env ?? []).map((e) => [e.name, e.value]));
    const deploy = deployEnv(CONFIG);
    for (const p of PARAMETERS) {
      if (p.step === "deploy") expect(deploy[p.env], p.name).toBe(`{{inputs.parameters.${outputName(p)}}}`);
      if (p.submit) expect(setParamsEnv.get(p.env), p.name).toBe(`{{inputs.parameters.${p.name}}}`);
      if (p.step === "acceptance") {
        expect(acceptanceEnv.get(p.env), p.name).toBe(`{{inputs.parameters.${p.name}}}`);
        expect(SET_PARAMS_PASSED, p.name).toContain(p.name);
      }
    }
    const setParamsTask = dagTasks(CONFIG).find((t) => t.name === "set-params");
    expect(setParamsTask?.arguments?.parameters).toEqual(SUBMITTED.map((name) => ({ name, value: `{{workflow.parameters.${name}}}` })));
  });

  it("gives the agent template's parameters by agentOrder: every agent entry under its output name, and the two that are no entry", () => {
    const agents = PARAMETERS.filter((p) => p.step === "agents");
    expect(agents.map((p) => CODERUN_PARAMETERS.indexOf(outputName(p)!) + 1)).toEqual(agents.map((p) => p.agentOrder));
    expect(AGENT_OWN_PARAMETERS.map((p) => CODERUN_PARAMETERS.indexOf(p.name) + 1)).toEqual(AGENT_OWN_PARAMETERS.map((p) => p.agentOrder));
    expect(CODERUN_PARAMETERS).toHaveLength(agents.length + AGENT_OWN_PARAMETERS.length);
    expect(inAgentOrder([{ name: "b", agentOrder: 2 }, { name: "a", agentOrder: 1 }])).toEqual(["a", "b"]);
    expect(() => inAgentOrder([{ name: "a", agentOrder: 1 }, { name: "c", agentOrder: 3 }])).toThrow(/c has agentOrder 3, expected 2/);
    expect(() => inAgentOrder([{ name: "a", agentOrder: 1 }, { name: "b", agentOrder: 1 }])).toThrow(/b has agentOrder 1, expected 2/);
  });

  it("states every verdict of the value table", () => {
    for (const row of ROWS) expect(rowProblem(row) === undefined, `${row[0]} = ${JSON.stringify(row[1])}: ${rowProblem(row)}`).toBe(row[2]);
    expect(new Set(ROWS.map(([name]) => name))).toEqual(new Set(PARAMETERS.map((p) => p.name)));
  });

  it("has the generated shell rules say exactly what the table's rules say, message for message", () => {
    const script = [
      "set -euo pipefail",
      readFileSync(path.join(PROJECT_ROOT, "components/steps/lib/rules.sh"), "utf8"),
      readFileSync(path.join(PROJECT_ROOT, "components/steps/lib/parameter-rules.sh"), "utf8"),
      'while (($# > 0)); do parameter_problem "$1" "$2"; printf "%s\\n" "$PARAMETER_PROBLEM"; shift 2; done',
    ].join("\n");
    const out = execFileSync("bash", ["-c", script, "rules", ...ROWS.flatMap(([name, value]) => [name, value])], { encoding: "utf8" });
    expect(out.split("\n").slice(0, -1)).toEqual(ROWS.map(([name, value]) => ruleProblem(name, value) ?? ""));
  });
});

describe("one verdict per value: zod, set-params and acceptance", () => {
  /** Rows whose parameter has a text config key: zod judges the same text. */
  const configRows = ROWS.filter(([name]) => {
    const key = PARAMETERS.find((p) => p.name === name)?.config?.key;
    return key !== undefined && ["domain", "chartPath", "valuesFile", "agent.model", "agent.service", "agent.docsRepository",
      "agent.docsProjectDirectory", "agent.workingDirectory", "agent.docsBranch", "acceptance.judge", "acceptance.expect",
      "acceptance.connectTo"].includes(key);
  });

  it.each(configRows)("zod: %s = %j is valid: %s", (name, value) => {
    const key = PARAMETERS.find((p) => p.name === name)!.config!.key;
    const [head, leaf] = key.includes(".") ? key.split(".") : [key, undefined];
    const own = leaf === undefined ? value : JSON.stringify({ ...JSON.parse(PREVIEW[`implementation-dag:${head}`] ?? "{}"), [leaf]: value });
    let problems: string[] = [];
    try {
      parseConfig({ ...PREVIEW, [`implementation-dag:${head}`]: own });
    } catch (e) {
      problems = (e as { problems?: string[] }).problems ?? [String(e)];
    }
    const problem = ruleProblem(name, value, true);
    expect(problems).toEqual(problem === undefined ? [] : [`implementation-dag:${key}: ${problem}`]);
  });

  it.each(ROWS.filter(([name]) => submitted(name)))("set-params: -p %s=%j is valid: %s", async (name, value) => {
    const r = await runScriptTemplate(SET_PARAMS, { parameters: { ...VALID, [name]: value } });
    const problem = ruleProblem(name, value, true);
    if (problem === undefined) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ERROR: ${name}: ${problem}\n`);
      expect(r.outputs).toEqual({});
    }
  });

  it.each(ROWS.filter(([name]) => PARAMETERS.find((p) => p.name === name)!.step === "acceptance"))(
    "acceptance: %s=%j as its input: refused exactly when the rule refuses it (valid at submit: %s)", async (name, value) => {
      const dir = mkdtempSync(path.join(tmpdir(), "parameters-urls-"));
      writeFileSync(path.join(dir, "urls.json"), "not json");
      const r = await runScriptTemplate(ACCEPTANCE, {
        parameters: { ...STACK, host: "pr-7.preview.example.com", [name]: value },
        artifacts: { "deploy-urls": path.join(dir, "urls.json") },
      });
      expect(r.code).toBe(2);
      const problem = ruleProblem(name, value);
      if (problem === undefined) expect(r.stderr).not.toMatch(new RegExp(`^ERROR: ${name}: `, "m"));
      else expect(r.stderr).toMatch(new RegExp(`^ERROR: ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${problem.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
    });
});
