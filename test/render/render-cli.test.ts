import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/cli";
import { parseAllDocuments } from "yaml";
import { SECRET_PLACEHOLDER } from "../../scripts/offline-render";

/** `npm run render -- ARGS` without npm's own start-up. */
const run = (args: string[]) => runScript("scripts/render.ts", args);

let out: string;
let stdout: string;
beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), "render-"));
  const r = await run(["--out", out, "--summary"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  stdout = r.stdout;
});

describe("npm run render", () => {
  it("writes every Kubernetes object the stack declares as multi-document YAML", () => {
    const docs = parseAllDocuments(readFileSync(path.join(out, "manifests.yaml"), "utf8")).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.length).toBeGreaterThan(0);
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toContain("WorkflowTemplate/implementation-dag");
    for (const d of docs) expect(d.kind).toMatch(/^[A-Z]/);
  });

  it("writes every registered resource with type, name, parent and inputs", () => {
    const resources = JSON.parse(readFileSync(path.join(out, "resources.json"), "utf8")) as Array<{ type: string; name: string; parent: string | null; inputs: object }>;
    const wt = resources.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate" && r.name === "implementation-dag");
    expect(wt).toMatchObject({ name: "implementation-dag", parent: expect.stringContaining("implementation-dag:index:ImplementationDag") });
    for (const r of resources) expect(Object.keys(r)).toEqual(expect.arrayContaining(["type", "name", "parent", "inputs"]));
  });

  it("writes the stack outputs, with a ready argo submit line", () => {
    const outputs = JSON.parse(readFileSync(path.join(out, "outputs.json"), "utf8"));
    expect(outputs).toMatchObject({
      workflowTemplate: "implementation-dag",
      namespace: "argo",
      submitCommand: expect.stringMatching(/^argo submit -n argo --from workflowtemplate\/implementation-dag -p owner=.* -p repo=.* -p pr=/),
    });
  });

  it("never writes a secret value, only the placeholder", () => {
    const all = ["manifests.yaml", "resources.json", "outputs.json"].map((f) => readFileSync(path.join(out, f), "utf8")).join("\n");
    expect(all).not.toMatch(/placeholder \w+PrivateKey for the offline render/);
    expect(all).not.toContain("BEGIN RSA PRIVATE KEY");
    // The GitHub App Secrets are rendered, with every value replaced by the placeholder.
    const manifests = readFileSync(path.join(out, "manifests.yaml"), "utf8");
    expect(manifests).toContain(`private-key: "${SECRET_PLACEHOLDER}"`);
  });

  it("prints the objects and the DAG as text with --summary", () => {
    expect(stdout).toMatch(/WorkflowTemplate\s+argo\/implementation-dag/);
    const dagLines = stdout.split("\n").filter((l) => /^ {2,4}(set-params|preview|implement|clippy-format|qa-testing|deploy|acceptance|approve) /.test(l));
    expect(dagLines.map((l) => l.trim().split(/\s+/)[0])).toEqual(["set-params", "preview", "implement", "clippy-format", "qa-testing", "deploy", "acceptance", "approve"]);
    // The six after set-params run inside the preview template, which holds the preview's mutex.
    expect(dagLines[1]).toContain("holds the preview's mutex");
    expect(dagLines.slice(2).every((l) => l.startsWith("    "))).toBe(true);
    expect(stdout).toContain("onExit: exit-handler");
  });

  it("prints the repository hardening warning in the summary and the outputs when the stack turns hardening off", () => {
    // The preview stack lists example-org/example-app and says hardenRepositories: false.
    expect(stdout).toContain("\nWARNING: repository hardening is off (github.hardenRepositories: false): example-org/example-app get no required human review");
    expect(JSON.parse(readFileSync(path.join(out, "outputs.json"), "utf8")).repositoryHardeningWarning).toMatch(/^repository hardening is off/);
  });

  it("refuses an unknown argument", async () => {
    expect(await run(["--out", out, "--bogus"])).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown argument") });
  });
});
