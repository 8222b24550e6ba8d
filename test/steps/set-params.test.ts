import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { parseConfig } from "../../components/config";
import { PARAMETERS } from "../../components/parameters";
import { ACCEPTANCE_INPUTS, acceptanceDefaults } from "../../components/workflow/acceptance";
import { setParamsTemplate } from "../../components/workflow/set-params";
import { readStackConfig } from "../../scripts/offline-render";
import { runScriptTemplate } from "../../simulator/argo-step";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";

const VALID = {
  owner: "example-org",
  repo: "Example_App.v2",
  pr: "123",
  commit: "",
  domain: "preview.example.com",
  chartPath: "charts/app",
  valuesFile: "values-preview.yaml",
  imageTag: "",
  // The workflow's defaults: empty, the repository's setting or else the stack's.
  min_success_pct: "",
  max_p95_ms: "",
  requests_per_endpoint: "",
  taskId: "",
  service: "",
  model: "claude-sonnet-4-20250514",
  docsRepository: "",
  docsProjectDirectory: "docs",
  workingDirectory: ".",
  docsBranch: "main",
  continueSession: "false",
  overwriteMemory: "false",
  taskRequirements: "",
};

let template: ITemplate;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "set-params");
});

const run = (overrides: Partial<Record<keyof typeof VALID, string>>) =>
  runScriptTemplate(template, { parameters: { ...VALID, ...overrides } });

describe("set-params", () => {
  it("derives every name from valid parameters", async () => {
    const r = await run({});
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.outputs).toEqual({
      ns: "impl-example-org-example-app-v2-ca2f7ec19c-pr-123",
      release: "example-app-v2-pr-123",
      host: "example-org-example-app-v2-ca2f7ec19c-pr-123.preview.example.com",
      mutex: "implementation-dag-example-org-example-app-v2-ca2f7ec19c-pr-123",
      repository: "example-org/example_app.v2",
      domain: "preview.example.com",
      // empty: deploy derives the tag from the commit it deploys (no mutable pr-<N> tag)
      image_tag: "",
      commit: "",
      // the validated values, passed on unchanged
      owner: "example-org",
      repo: "Example_App.v2",
      pr: "123",
      chartPath: "charts/app",
      valuesFile: "values-preview.yaml",
      // every input of acceptance: the preview stack's global settings (no entry for this repository)
      min_success_pct: "95",
      max_p95_ms: "2000",
      requests_per_endpoint: "10",
      max_p99_ms: "",
      judge: "total",
      concurrency: "4",
      timeout_ms: "10000",
      expect: "2xx,3xx",
      paths: "",
      insecure: "false",
      connect_to: "",
      ready_consecutive: "3",
      ready_timeout_s: "120",
      rate: "",
      duration_s: "10",
      // what the agents' child Workflows are given, under the agent template's names
      "task-id": "123",
      "service-id": "example-app-v2",
      "repository-url": "https://github.com/example-org/Example_App.v2",
      "docs-repository-url": "https://github.com/example-org/Example_App.v2",
      "docs-project-directory": "docs",
      "working-directory": ".",
      model: "claude-sonnet-4-20250514",
      "continue-session": "false",
      "overwrite-memory": "false",
      "docs-branch": "main",
      "task-requirements": "",
    });
  });

  it("passes given agent parameters on: task id, service, docs repository, directories, branch, flags, requirements", async () => {
    const requirements = Buffer.from("tools:\n  - kubernetes\n").toString("base64");
    const r = await run({
      taskId: "42", service: "payments", docsRepository: "example-org/docs", docsProjectDirectory: "projects/app",
      workingDirectory: "services/app", docsBranch: "release/1.x", continueSession: "true", overwriteMemory: "true",
      taskRequirements: requirements, model: "claude-opus-4-1",
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(Object.fromEntries(["task-id", "service-id", "docs-repository-url", "docs-project-directory", "working-directory", "docs-branch",
      "continue-session", "overwrite-memory", "task-requirements", "model"].map((k) => [k, r.outputs[k]]))).toEqual({
      "task-id": "42", "service-id": "payments", "docs-repository-url": "https://github.com/example-org/docs",
      "docs-project-directory": "projects/app", "working-directory": "services/app", "docs-branch": "release/1.x",
      "continue-session": "true", "overwrite-memory": "true", "task-requirements": requirements, model: "claude-opus-4-1",
    });
  });

  it("builds the repository URLs on the configured GitHub web URL", async () => {
    const ghes = await runScriptTemplate(
      { ...template, script: { ...template.script!, env: template.script!.env!.map((e) => (e.name === "GITHUB_WEB_URL" ? { ...e, value: "https://ghe.example.com/" } : e)) } },
      { parameters: { ...VALID } },
    );
    expect(ghes.outputs["repository-url"]).toBe("https://ghe.example.com/example-org/Example_App.v2");
  });

  it("passes no tag on when none is given: deploy derives it from the commit it resolves", async () => {
    const r = await run({ imageTag: "" });
    expect(r.code).toBe(0);
    expect(r.outputs.image_tag).toBe("");
    expect(r.stdout).toContain("image tag: <derived from the deployed commit>");
  });

  it("keeps a given image tag and lowercases a given commit", async () => {
    const r = await run({ imageTag: "v1.2.3", commit: "ABCDEF0123456789abcdef0123456789ABCDEF01" });
    expect(r.code).toBe(0);
    expect(r.outputs.image_tag).toBe("v1.2.3");
    expect(r.outputs.commit).toBe("abcdef0123456789abcdef0123456789abcdef01");
  });

  it("cuts a long repository name so the release is a 53-character DNS label", async () => {
    const r = await run({ repo: "A".repeat(60) + "-", pr: "987654321" });
    expect(r.code).toBe(0);
    expect(r.outputs.release).toBe(`${"a".repeat(53 - "-pr-987654321".length)}-pr-987654321`);
    expect(r.outputs.release).toHaveLength(53);
  });

  const hostile: Array<[string, Partial<Record<keyof typeof VALID, string>>, string]> = [
    ["command substitution in pr", { pr: "$(touch PWNED)" }, "pr"],
    ["a semicolon in repo", { repo: "app;touch PWNED" }, "repo"],
    ["backticks in owner", { owner: "`touch PWNED`" }, "owner"],
    ["a newline in domain", { domain: "preview.example.com\ntouch PWNED" }, "domain"],
    ["a 20-digit pr", { pr: "12345678901234567890" }, "pr"],
    ["an empty pr", { pr: "" }, "pr"],
    ["a pr with a leading zero", { pr: "0123" }, "pr"],
    ["a pr of zero", { pr: "0" }, "pr"],
    ["a repo of ../x", { repo: "../x" }, "repo"],
    ["a repo of ..", { repo: ".." }, "repo"],
    ["a chartPath escaping the checkout", { chartPath: "../x" }, "chartPath"],
    ["an absolute valuesFile", { valuesFile: "/etc/passwd" }, "valuesFile"],
    ["a short commit", { commit: "abc12" }, "commit"],
    ["a commit that is not hex", { commit: "zzzzzzz" }, "commit"],
    ["an image tag with a slash", { imageTag: "a/b" }, "imageTag"],
    ["an owner with a double hyphen", { owner: "a--b" }, "owner"],
    ["an uppercase domain", { domain: "Preview.Example.com" }, "domain"],
    ["a single-label domain", { domain: "localhost" }, "domain"],
    ["a fraction as min_success_pct", { min_success_pct: "0.95" }, "min_success_pct"],
    ["a percentage over 100", { min_success_pct: "101" }, "min_success_pct"],
    ["a percentage with a leading zero (acceptance refuses it)", { min_success_pct: "05" }, "min_success_pct"],
    ["a negative max_p95_ms", { max_p95_ms: "-5" }, "max_p95_ms"],
    ["a max_p95_ms of 8 digits", { max_p95_ms: "10000000" }, "max_p95_ms"],
    ["zero requests", { requests_per_endpoint: "0" }, "requests_per_endpoint"],
    ["a task id with a leading zero", { taskId: "007" }, "taskId"],
    ["command substitution in taskId", { taskId: "$(touch PWNED)" }, "taskId"],
    ["an uppercase service", { service: "Payments" }, "service"],
    ["a quote in model", { model: "claude\",\"x" }, "model"],
    ["a space in model", { model: "claude sonnet" }, "model"],
    ["a docs repository without an owner", { docsRepository: "docs" }, "docsRepository"],
    ["a docs repository of ..", { docsRepository: "example-org/.." }, "docsRepository"],
    ["a docs directory escaping the repository", { docsProjectDirectory: "../secrets" }, "docsProjectDirectory"],
    ["an absolute working directory", { workingDirectory: "/etc" }, "workingDirectory"],
    ["a branch with ..", { docsBranch: "main..x" }, "docsBranch"],
    ["a branch starting with -", { docsBranch: "-f" }, "docsBranch"],
    ["a branch ending in .lock", { docsBranch: "main.lock" }, "docsBranch"],
    ["continueSession of yes", { continueSession: "yes" }, "continueSession"],
    ["overwriteMemory of TRUE", { overwriteMemory: "TRUE" }, "overwriteMemory"],
    ["task requirements that are not base64", { taskRequirements: "tools: [kubernetes]" }, "taskRequirements"],
    ["task requirements with a newline", { taskRequirements: "dG9vbHM6\nIFtdCg==" }, "taskRequirements"],
    ["a quote in task requirements", { taskRequirements: "\"}]}" }, "taskRequirements"],
  ];

  it.each(hostile)("rejects %s, names the parameter, writes no output and executes nothing", async (_what, overrides, parameter) => {
    const r = await run(overrides);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ERROR: ${parameter}: `, "m"));
    expect(r.outputs).toEqual({});
    expect(existsSync(path.join(r.root, "PWNED"))).toBe(false);
    expect(readdirSync(r.root).filter((f) => f !== ".argo-script" && f !== "home")).toEqual([]);
  });

  it.each([
    ["a trailing newline in pr", { pr: "123\n" }, "pr"],
    ["a leading space in owner", { owner: " example-org" }, "owner"],
    ["a trailing tab in repo", { repo: "example-app\t" }, "repo"],
    ["a newline inside the docs branch", { docsBranch: "main\nx" }, "docsBranch"],
    ["a trailing space in model", { model: "claude-sonnet-4-20250514 " }, "model"],
  ] as Array<[string, Partial<Record<keyof typeof VALID, string>>, string]>)(
    "refuses %s by name, trimming nothing", async (_what, overrides, parameter) => {
      const r = await run(overrides);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`ERROR: ${parameter}: must not begin or end with white space or hold a newline (nothing is trimmed)`);
      expect(r.outputs).toEqual({});
    });

  it("lists every bad parameter at once", async () => {
    const r = await run({ pr: "x", repo: "..", domain: "no" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n").map((l) => l.split(":")[1].trim())).toEqual(["repo", "pr", "domain"]);
  });

  it("says a fraction threshold is a percentage", async () => {
    const r = await run({ min_success_pct: "0.95" });
    expect(r.stderr).toContain("is a percentage (0-100)");
  });
});

describe("set-params: the run's acceptance settings", () => {
  /** The preview stack with these acceptance settings (merged over its own). */
  const stackWith = (acceptance: Record<string, unknown>) => {
    const flat = readStackConfig("preview");
    const own = JSON.parse(flat["implementation-dag:acceptance"]) as Record<string, unknown>;
    return parseConfig({ ...flat, "implementation-dag:acceptance": JSON.stringify({ ...own, ...acceptance }) });
  };
  const runWith = (acceptance: Record<string, unknown>, overrides: Partial<Record<keyof typeof VALID, string>> = {}) =>
    runScriptTemplate(setParamsTemplate(stackWith(acceptance)), { parameters: { ...VALID, ...overrides } });
  /** set-params with its env's acceptance tables replaced as given (what a bad render would write). */
  const runWithTables = (tables: { global?: unknown; repositories?: unknown }, overrides: Partial<Record<keyof typeof VALID, string>> = {}) => {
    const replaced = template.script!.env!.map((e) => {
      if (e.name === "ACCEPTANCE_GLOBAL" && tables.global !== undefined) return { ...e, value: typeof tables.global === "string" ? tables.global : JSON.stringify(tables.global) };
      if (e.name === "ACCEPTANCE_REPOSITORIES" && tables.repositories !== undefined) {
        return { ...e, value: typeof tables.repositories === "string" ? tables.repositories : JSON.stringify(tables.repositories) };
      }
      return e;
    });
    return runScriptTemplate({ ...template, script: { ...template.script!, env: replaced } }, { parameters: { ...VALID, ...overrides } });
  };
  const acceptanceOf = (outputs: Record<string, string>) => Object.fromEntries(ACCEPTANCE_INPUTS.map((name) => [name, outputs[name]]));
  const GLOBAL = acceptanceDefaults(stackWith({}).acceptance);

  const REPOSITORIES = {
    "Example-Org/Example_App.v2": { maxP95Ms: 500, paths: { "/healthz": "200" }, readyConsecutive: 0, judge: "ttfb" },
    "example-org/other": { maxP95Ms: 100, minSuccessPct: 50 },
  };

  it("outputs the repository's settings over the global ones, whatever the case of owner and repo", async () => {
    const r = await runWith({ repositories: REPOSITORIES }, { owner: "EXAMPLE-ORG", repo: "example_app.V2" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(acceptanceOf(r.outputs)).toEqual({
      ...GLOBAL, max_p95_ms: "500", paths: '{"/healthz":"200"}', ready_consecutive: "0", judge: "ttfb",
    });
  });

  it("lets a repository turn off what the global settings turn on (rate and maxP99Ms 0 are empty inputs)", async () => {
    const r = await runWith({ rate: 5, maxP99Ms: 900, repositories: { "example-org/example_app.v2": { rate: 0, maxP99Ms: 0 } } });
    expect(r.code).toBe(0);
    expect([r.outputs.rate, r.outputs.max_p99_ms]).toEqual(["", ""]);
    const other = await runWith({ rate: 5, maxP99Ms: 900, repositories: { "example-org/example_app.v2": { rate: 0, maxP99Ms: 0 } } }, { repo: "unlisted" });
    expect([other.outputs.rate, other.outputs.max_p99_ms]).toEqual(["5", "900"]);
  });

  it("gives a repository without an entry the global settings", async () => {
    const r = await runWith({ repositories: REPOSITORIES }, { repo: "unlisted" });
    expect(r.code).toBe(0);
    expect(acceptanceOf(r.outputs)).toEqual(GLOBAL);
  });

  it("lets a threshold given at submit win over the repository's and the global setting", async () => {
    const r = await runWith({ repositories: REPOSITORIES }, { max_p95_ms: "750", min_success_pct: "99.5", requests_per_endpoint: "12" });
    expect(r.code).toBe(0);
    expect(acceptanceOf(r.outputs)).toMatchObject({ max_p95_ms: "750", min_success_pct: "99.5", requests_per_endpoint: "12", judge: "ttfb" });
  });

  it("takes the global connect_to (the cluster's address) whatever the repository", async () => {
    const r = await runWith({ connectTo: "ingress-nginx-controller.ingress-nginx.svc:443", repositories: REPOSITORIES });
    expect(r.outputs.connect_to).toBe("ingress-nginx-controller.ingress-nginx.svc:443");
  });

  it("refuses a bad table value by the input's name and where it came from, and writes nothing", async () => {
    const r = await runWithTables({ repositories: { "example-org/example_app.v2": { max_p95_ms: "0", paths: '{"/a":"<100"}' } } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: max_p95_ms: must be a positive integer of milliseconds (at most 7 digits) (from the stack config acceptance.repositories example-org/example_app.v2)");
    expect(r.stderr).toMatch(/^ERROR: paths: .*\(from the stack config acceptance\.repositories example-org\/example_app\.v2\)$/m);
    expect(r.outputs).toEqual({});
  });

  it("refuses a bad global value by the input's name", async () => {
    const r = await runWithTables({ global: { ...GLOBAL, connect_to: "ingress:0", judge: "p95" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: judge: must be total, ttfb or server (from the stack config acceptance)");
    expect(r.stderr).toContain("ERROR: connect_to: must be empty or host:port (port 1-65535) (from the stack config acceptance)");
    expect(r.outputs).toEqual({});
  });

  it("refuses, before anything runs, a combination acceptance would refuse for its 3-minute budget", async () => {
    // 40 requests at concurrency 4 with 10 s timeouts: 100 s after up to 120 s of readiness.
    const submitted = await runWith({}, { requests_per_endpoint: "40" });
    expect(submitted.code).toBe(1);
    expect(submitted.stderr).toBe("ERROR: requests_per_endpoint: 40 requests at concurrency 4 with timeout_ms 10000 may take 100 s after up to 120 s " +
      "of readiness (ready_timeout_s); acceptance must finish within 170 s (lower ready_timeout_s or timeout_ms, or send fewer requests)\n");
    expect(submitted.outputs).toEqual({});
    // Without readiness the same load fits.
    expect((await runWith({ repositories: { "example-org/example_app.v2": { readyConsecutive: 0 } } }, { requests_per_endpoint: "40" })).code).toBe(0);
    // An open-model entry whose schedule holds no request.
    const empty = await runWithTables({ repositories: { "example-org/example_app.v2": { rate: "0.05", duration_s: "10" } } });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe("ERROR: rate: 0.05 per second for 10 s (duration_s) schedules no request\n");
  });

  it.each([
    ["an entry that sets an input acceptance does not have", {}, { "example-org/example_app.v2": { retries: "3" } }, /^ERROR: ACCEPTANCE_REPOSITORIES: the entry of example-org\/example_app\.v2 sets retries, which is not an input of acceptance$/m],
    ["an entry that sets a number instead of text", {}, { "example-org/example_app.v2": { max_p95_ms: 500 } }, /^ERROR: ACCEPTANCE_REPOSITORIES: max_p95_ms of acceptance\.repositories example-org\/example_app\.v2 must be text$/m],
    ["an entry that is not an object", {}, { "example-org/example_app.v2": "fast" }, /^ERROR: ACCEPTANCE_REPOSITORIES: the entry of example-org\/example_app\.v2 must be a JSON object$/m],
    ["a table that is not JSON", {}, "{not json", /^ERROR: ACCEPTANCE_REPOSITORIES: must be a JSON object/m],
    ["a global table without an input", { judge: undefined }, {}, /^ERROR: ACCEPTANCE_GLOBAL: judge of acceptance must be text$/m],
  ] as Array<[string, Record<string, unknown>, unknown, RegExp]>)("refuses %s and writes nothing", async (_what, global, repositories, message) => {
    const r = await runWithTables({ global: { ...GLOBAL, ...global }, repositories });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.outputs).toEqual({});
  });

  it.each([
    ["a list", "[]", "{}", ["ACCEPTANCE_GLOBAL"]],
    ["two JSON texts", JSON.stringify(GLOBAL) + " {}", "{}", ["ACCEPTANCE_GLOBAL"]],
    ["text that is not JSON", JSON.stringify(GLOBAL), "nan", ["ACCEPTANCE_REPOSITORIES"]],
    ["a JSON text holding an object", JSON.stringify(GLOBAL), JSON.stringify("{}"), ["ACCEPTANCE_REPOSITORIES"]],
    ["empty, both", "", "", ["ACCEPTANCE_GLOBAL", "ACCEPTANCE_REPOSITORIES"]],
    ["null and a number", "null", "1", ["ACCEPTANCE_GLOBAL", "ACCEPTANCE_REPOSITORIES"]],
  ])("refuses acceptance tables that are not each one JSON object (%s), naming each", async (_what, global, repositories, named) => {
    const r = await runWithTables({ global, repositories });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((line) => line.includes("must be a JSON object (the render"))).toEqual(
      named.map((env) => `ERROR: ${env}: must be a JSON object (the render writes it from the stack config)`));
    expect(r.outputs).toEqual({});
  });
});

/**
 * One table of per-repository values, judged three times: by the stack config's schema (zod), by
 * set-params (the rendered value in its table) and by acceptance (the same text as its input). zod
 * set-params and acceptance give the same verdict on every row: the three apply the one rule of
 * components/parameters.ts.
 */
describe("set-params, zod and acceptance: one rule per acceptance setting", () => {
  type Row = [key: string, value: unknown, valid: boolean];
  const TABLE: Row[] = [
    ["minSuccessPct", 95, true], ["minSuccessPct", 0, true], ["minSuccessPct", 100, true], ["minSuccessPct", 99.5, true],
    ["minSuccessPct", 0.95, false], ["minSuccessPct", 101, false], ["minSuccessPct", -1, false],
    ["maxP95Ms", 1, true], ["maxP95Ms", 9999999, true], ["maxP95Ms", 10000000, false], ["maxP95Ms", 0, false], ["maxP95Ms", 1.5, false],
    ["maxP99Ms", 0, true], ["maxP99Ms", 900, true], ["maxP99Ms", 10000000, false], ["maxP99Ms", -1, false],
    ["requestsPerEndpoint", 1, true], ["requestsPerEndpoint", 10000, true], ["requestsPerEndpoint", 0, false], ["requestsPerEndpoint", 10001, false],
    ["concurrency", 1, true], ["concurrency", 64, true], ["concurrency", 0, false], ["concurrency", 65, false],
    ["timeoutMs", 100, true], ["timeoutMs", 60000, true], ["timeoutMs", 99, false], ["timeoutMs", 60001, false],
    ["readyConsecutive", 0, true], ["readyConsecutive", 100, true], ["readyConsecutive", 101, false], ["readyConsecutive", -1, false],
    ["readyTimeoutSeconds", 1, true], ["readyTimeoutSeconds", 170, true], ["readyTimeoutSeconds", 0, false], ["readyTimeoutSeconds", 171, false],
    ["durationSeconds", 1, true], ["durationSeconds", 170, true], ["durationSeconds", 0, false], ["durationSeconds", 171, false],
    ["judge", "ttfb", true], ["judge", "server", true], ["judge", "p95", false], ["judge", "", false],
    ["expect", "2xx,3xx", true], ["expect", "<500", true], ["expect", "200-204,301", true], ["expect", "<101", true],
    ["expect", "2xx;3xx", false], ["expect", "<100", false], ["expect", "500-400", false], ["expect", "6xx", false], ["expect", ",2xx", false],
    ["expect", "2xx,", false], ["expect", "2xx, 3xx", false], ["expect", "", false],
    ["paths", { "/healthz": "200", "/api/*": "<500" }, true], ["paths", {}, true],
    ["paths", { healthz: "200" }, false], ["paths", { "/a": "<100" }, false], ["paths", { "/a**": "200" }, false], ["paths", { "/a": 200 }, false],
    ["paths", { "/a": "500-400" }, false],
    ["insecure", true, true], ["insecure", false, true], ["insecure", "yes", false],
    ["rate", 0, true], ["rate", 2.5, true], ["rate", 1000, true], ["rate", 2.125, true],
    ["rate", 1000.5, false], ["rate", 1.0005, false], ["rate", -1, false],
  ];

  /** Each per-repository setting's input: the parameter table's `acceptance.<key>` entries. */
  const SETTING_INPUT: Record<string, string> = Object.fromEntries(PARAMETERS.filter((p) => p.config?.key.startsWith("acceptance.") && p.name !== "connect_to")
    .map((p) => [p.config!.key.slice("acceptance.".length), p.name]));
  const preview = readStackConfig("preview");
  const stackOwn = JSON.parse(preview["implementation-dag:acceptance"]) as Record<string, unknown>;
  /**
   * Global settings so light that any one valid value fits the 3-minute budget (one request, no
   * readiness, 100 ms timeouts), so each row judges its value's own rule; the budget has its own table (acceptance-budget.test.ts).
   */
  const own = { ...stackOwn, requestsPerEndpoint: 1, concurrency: 64, timeoutMs: 100, readyConsecutive: 0, readyTimeoutSeconds: 1 };
  const flat = { ...preview, "implementation-dag:acceptance": JSON.stringify(own) };
  const GLOBAL = acceptanceDefaults(parseConfig(flat).acceptance);
  const light = setParamsTemplate(parseConfig(flat));
  /** acceptance's own input beside the settings: the preview's host, which bounds what it requests. */
  const PREVIEW_HOST = "pr-7.preview.example.com";
  let acceptance: ITemplate;
  beforeAll(async () => {
    acceptance = templateNamed(implementationDag(await previewRender()), "acceptance");
  });

  it("names every acceptance input in the table", () => {
    expect(Object.values(SETTING_INPUT).sort()).toEqual(ACCEPTANCE_INPUTS.filter((i) => i !== "connect_to").sort());
    expect(new Set(TABLE.map(([key]) => key))).toEqual(new Set(Object.keys(SETTING_INPUT)));
  });

  it.each(TABLE)("%s = %j: valid %s for zod, set-params and acceptance", async (key, value, valid) => {
    const input = SETTING_INPUT[key];
    // zod, on the stack config, names the repository's key.
    let problems: string[] = [];
    try {
      parseConfig({ ...flat, "implementation-dag:acceptance": JSON.stringify({ ...own, repositories: { "Example-Org/Example_App.v2": { [key]: value } } }) });
    } catch (e) {
      problems = (e as { problems?: string[] }).problems ?? [String(e)];
    }
    const named = `implementation-dag:acceptance.repositories.Example-Org/Example_App.v2.${key}`;
    expect(problems.length > 0, problems.join("\n")).toBe(!valid);
    for (const p of problems) expect(p.split(": ")[0] === named || p.startsWith(`${named}.`), p).toBe(true);

    // The text the render would write for it: the rendering of a valid value (or of an invalid one as it would look).
    const text = key === "paths" ? (Object.keys(value as object).length > 0 ? JSON.stringify(value) : "")
      : (key === "rate" || key === "maxP99Ms") && value === 0 ? "" : String(value);

    // set-params, with that text in its table for the run's repository.
    const replaced = light.script!.env!.map((e) => (e.name === "ACCEPTANCE_REPOSITORIES" ? { ...e, value: JSON.stringify({ "example-org/example_app.v2": { [input]: text } }) } : e));
    const sp = await runScriptTemplate({ ...light, script: { ...light.script!, env: replaced } }, { parameters: { ...VALID } });
    if (valid) {
      expect(sp.stderr).toBe("");
      expect(sp.outputs[input]).toBe(text);
    } else {
      expect(sp.code).toBe(1);
      expect(sp.stderr).toMatch(new RegExp(`^ERROR: ${input}: `, "m"));
    }

    // acceptance, given the same text: it checks its inputs before reading urls.json (here not JSON).
    const dir = mkdtempSync(path.join(tmpdir(), "rules-urls-"));
    writeFileSync(path.join(dir, "urls.json"), "not json");
    const ac = await runScriptTemplate(acceptance, { parameters: { ...GLOBAL, host: PREVIEW_HOST, [input]: text }, artifacts: { "deploy-urls": path.join(dir, "urls.json") } });
    expect(ac.code).toBe(2);
    const refusedByAcceptance = new RegExp(`^ERROR: ${input}: `, "m").test(ac.stderr);
    expect(refusedByAcceptance, ac.stderr).toBe(!valid);
    if (!refusedByAcceptance) expect(ac.stderr).toContain("ERROR: deploy-urls: is not urls.json");
  });
});
