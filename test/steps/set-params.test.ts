import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../helpers/argo-step";
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
  min_success_pct: "95",
  max_p95_ms: "2000",
  requests_per_endpoint: "10",
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
      image_tag: "pr-123",
      commit: "",
      // the validated values, passed on unchanged
      owner: "example-org",
      repo: "Example_App.v2",
      pr: "123",
      chartPath: "charts/app",
      valuesFile: "values-preview.yaml",
      min_success_pct: "95",
      max_p95_ms: "2000",
      requests_per_endpoint: "10",
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
    ["a negative max_p95_ms", { max_p95_ms: "-5" }, "max_p95_ms"],
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
