import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { manifestFiles, MANIFESTS_DIR } from "../../scripts/manifests";
import { previewRender } from "../helpers/render";

describe("manifests/ (npm run manifests)", () => {
  it("is exactly a fresh render of the preview stack, file for file", async () => {
    const fresh = manifestFiles(await previewRender());
    const committed = readdirSync(MANIFESTS_DIR).filter((f) => f.endsWith(".yaml")).sort();
    expect(committed).toEqual(Object.keys(fresh).sort());
    for (const [file, text] of Object.entries(fresh)) {
      expect(readFileSync(path.join(MANIFESTS_DIR, file), "utf8"), `${file} differs from a fresh render: run npm run manifests`).toBe(text);
    }
  });

  it("holds the WorkflowTemplate, RBAC, admission fence and CronWorkflow, and no secret value", async () => {
    const kinds = (file: string) => parseAllDocuments(readFileSync(path.join(MANIFESTS_DIR, file), "utf8")).map((d) => (d.toJS() as { kind: string }).kind);
    expect(kinds("implementation-dag.yaml")).toEqual(["WorkflowTemplate"]);
    expect(kinds("rbac.yaml")).toEqual(expect.arrayContaining(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]));
    expect(kinds("admission.yaml")).toEqual(expect.arrayContaining(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]));
    expect(kinds("ttl-sweeper.yaml")).toContain("CronWorkflow");
    const secrets = parseAllDocuments(readFileSync(path.join(MANIFESTS_DIR, "github-app-secrets.yaml"), "utf8")).map((d) => d.toJS() as { stringData: Record<string, string> });
    expect(secrets).toHaveLength(3);
    for (const s of secrets) expect(Object.values(s.stringData)).toEqual(["[secret]", "[secret]", "[secret]"]);
  });
});
