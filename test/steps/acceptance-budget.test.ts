/**
 * Acceptance's budget rule is written twice: in TypeScript for the stack config (zod) and once in
 * shell for the steps (lib/acceptance-budget.sh, embedded in set-params and acceptance). One table of
 * settings gets one verdict from zod, from set-params (the settings in its per-repository table),
 * from acceptance's check (the function as acceptance embeds it) and, where the settings break the
 * rule, from the whole acceptance step, which refuses with set-params' very words.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { ACCEPTANCE_BUDGET_SECONDS, PARAMETERS, workflowParameters } from "../../components/parameters";
import { acceptanceDefaults, acceptanceInputsOf, acceptanceTemplate, type RepositoryAcceptance } from "../../components/workflow/acceptance";
import { setParamsTemplate } from "../../components/workflow/set-params";
import { readStackConfig } from "../../scripts/offline-render";
import { runScriptTemplate } from "../../simulator/argo-step";

const PREVIEW = readStackConfig("preview");
const STACK_OWN = JSON.parse(PREVIEW["implementation-dag:acceptance"]) as Record<string, unknown>;
const CONFIG = parseConfig(PREVIEW);
const SET_PARAMS = setParamsTemplate(CONFIG);
const ACCEPTANCE = acceptanceTemplate(CONFIG);
/** acceptance's inputs from the preview stack's global settings. */
const STACK = acceptanceDefaults(CONFIG.acceptance);
const REPOSITORY = "example-org/example-app";
/** Valid workflow parameters: the WorkflowTemplate's defaults and a PR of {@link REPOSITORY}. */
const VALID: Record<string, string> = {
  ...Object.fromEntries(workflowParameters(CONFIG).map((p) => [p.name, p.value ?? ""])),
  owner: "example-org", repo: "example-app", pr: "7",
};

type Row = [what: string, settings: Record<string, number>, fits: boolean];
/**
 * A repository's settings over the preview stack's (10 requests at concurrency 4 with 10 s timeouts
 * after up to 120 s of readiness; the closed model), and whether they keep the rule.
 */
const ROWS: Row[] = [
  ["the preview stack's load", {}, true],
  ["20 requests at concurrency 4 with 10 s timeouts after 120 s of readiness: exactly the budget", { requestsPerEndpoint: 20 }, true],
  ["21 requests at concurrency 4 with 10 s timeouts after 120 s of readiness: 180 s", { requestsPerEndpoint: 21 }, false],
  ["the same load without readiness", { requestsPerEndpoint: 21, readyConsecutive: 0 }, true],
  ["the longest readiness wait and one 100 ms request: 100 ms over", { readyTimeoutSeconds: 170, requestsPerEndpoint: 1, timeoutMs: 100 }, false],
  ["the longest readiness timeout that is not waited for", { readyTimeoutSeconds: 170, readyConsecutive: 0 }, true],
  ["10000 requests at concurrency 64 with 100 ms timeouts, no readiness: 15.7 s", { requestsPerEndpoint: 10000, concurrency: 64, timeoutMs: 100, readyConsecutive: 0 }, true],
  ["10000 requests one at a time with 100 ms timeouts, no readiness: 1000 s", { requestsPerEndpoint: 10000, concurrency: 1, timeoutMs: 100, readyConsecutive: 0 }, false],
  ["an open model of 150 s plus a 10 s timeout after 120 s of readiness", { rate: 1, durationSeconds: 150 }, false],
  ["an open model of 40 s plus a 10 s timeout after 120 s of readiness: exactly the budget", { rate: 1, durationSeconds: 40 }, true],
  ["an open model of 160 s at 2.5 per second plus a 10 s timeout, no readiness: exactly the budget", { rate: 2.5, durationSeconds: 160, readyConsecutive: 0 }, true],
  ["the same with a timeout 1 ms longer", { rate: 2.5, durationSeconds: 160, timeoutMs: 10001, readyConsecutive: 0 }, false],
  ["an open model whose schedule holds one request", { rate: 0.1, durationSeconds: 10 }, true],
  ["an open model whose schedule holds no request", { rate: 0.05, durationSeconds: 10 }, false],
  ["an open model whose schedule falls just short of a request", { rate: 0.099, durationSeconds: 10 }, false],
];

/** zod's problems with the settings as the repository's entry of the stack config. */
function zodProblems(settings: Record<string, number>): string[] {
  try {
    parseConfig({ ...PREVIEW, "implementation-dag:acceptance": JSON.stringify({ ...STACK_OWN, repositories: { [REPOSITORY]: settings } }) });
    return [];
  } catch (e) {
    return (e as { problems?: string[] }).problems ?? [String(e)];
  }
}

/**
 * `acceptance_budget_problem` on every acceptance input, run from acceptance's own source (its
 * libraries only): the input it blames and its problem, both empty when the inputs keep the rule.
 */
async function acceptanceCheck(inputs: Record<string, string>): Promise<{ input: string; problem: string }> {
  const source = ACCEPTANCE.script!.source!;
  const end = "# ---- end lib/acceptance-budget.sh ----";
  expect(source).toContain(end);
  const libraries = source.slice(0, source.indexOf(end));
  const call = 'declare -A inputs=(); while (($# > 0)); do inputs[$1]=$2; shift 2; done\n' +
    'acceptance_budget_problem inputs\nprintf "%s\\t%s" "$BUDGET_INPUT" "$BUDGET_PROBLEM"';
  const { stdout } = await promisify(execFile)("bash", ["-c", `${libraries}\n${call}`, "budget", ...Object.entries(inputs).flat()]);
  const [input, problem] = stdout.split("\t");
  return { input, problem };
}

describe("acceptance's budget: one verdict from zod, set-params and acceptance", () => {
  it(`takes its ${ACCEPTANCE_BUDGET_SECONDS} s from the parameter table's constant, which bounds the readiness and schedule settings too`, () => {
    expect(ACCEPTANCE.script!.source).toContain(`\nACCEPTANCE_BUDGET_SECONDS=${ACCEPTANCE_BUDGET_SECONDS}\n`);
    expect(SET_PARAMS.script!.source).toContain(`\nACCEPTANCE_BUDGET_SECONDS=${ACCEPTANCE_BUDGET_SECONDS}\n`);
    for (const name of ["ready_timeout_s", "duration_s"]) {
      expect(PARAMETERS.find((p) => p.name === name)?.rule.map((c) => c.max), name).toEqual([ACCEPTANCE_BUDGET_SECONDS]);
    }
  });

  it.each(ROWS)("%s (%j): keeps the rule: %s", async (_what, settings, fits) => {
    const problems = zodProblems(settings);
    expect(problems.map((p) => p.split(": ")[0]), problems.join("\n")).toEqual(fits ? [] : [`implementation-dag:acceptance.repositories.${REPOSITORY}`]);

    const entry = acceptanceInputsOf(settings as RepositoryAcceptance);
    const inputs = { ...STACK, ...entry } as Record<string, string>;
    const check = await acceptanceCheck(inputs);
    expect(check.problem === "", check.problem).toBe(fits);
    expect(check.input === "").toBe(fits);

    const env = SET_PARAMS.script!.env!.map((e) => (e.name === "ACCEPTANCE_REPOSITORIES" ? { ...e, value: JSON.stringify({ [REPOSITORY]: entry }) } : e));
    const sp = await runScriptTemplate({ ...SET_PARAMS, script: { ...SET_PARAMS.script!, env } }, { parameters: VALID });
    if (fits) {
      expect(sp.stderr).toBe("");
      expect(sp.code).toBe(0);
      return;
    }
    expect(sp.code).toBe(1);
    expect(sp.stderr).toBe(`ERROR: ${check.input}: ${check.problem}\n`);
    expect(sp.outputs).toEqual({});

    // The whole acceptance step refuses the same inputs in the same words, before any request (the
    // endpoint would refuse connections).
    const dir = mkdtempSync(path.join(tmpdir(), "budget-urls-"));
    writeFileSync(path.join(dir, "urls.json"), JSON.stringify({ ns: "impl-pr-7", release: "app-pr-7", hosts: ["127.0.0.1"], endpoints: [{ host: "127.0.0.1", path: "/", url: "http://127.0.0.1:1/" }] }));
    const ac = await runScriptTemplate(ACCEPTANCE, { parameters: { ...inputs, host: "127.0.0.1" }, artifacts: { "deploy-urls": path.join(dir, "urls.json") } });
    expect(ac.code).toBe(2);
    expect(ac.stderr).toBe(sp.stderr);
  });
});
