/**
 * Evidence archival: every step's output artifacts are key-only artifacts in the referenced
 * artifact repository, under one prefix per repository, PR and workflow.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import { WorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import { parseConfig } from "../../components/config";
import { readStackConfig, renderStack } from "../../scripts/offline-render";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";
import { asArgoModel } from "../helpers/argo-schema";

const PREFIX = "implementation-dag/{{workflow.parameters.owner}}/{{workflow.parameters.repo}}/pr-{{workflow.parameters.pr}}/{{workflow.name}}";

const outputArtifacts = (wt: IWorkflowTemplate) =>
  (wt.spec.templates ?? []).flatMap((t) => (t.outputs?.artifacts ?? []).map((a) => ({ template: t.name!, artifact: a })));

/** Validates against Argo's schema, in the generated model's shape (test/helpers/argo-schema.ts). */
function validateArgo(wt: IWorkflowTemplate): void {
  new WorkflowTemplate({ ...wt, spec: { ...wt.spec, templates: asArgoModel(wt.spec.templates) } }).validate();
}

const withStorage = async (storage: string) =>
  implementationDag(await renderStack({ overrides: { artifactRepository: { ...parseConfig(readStackConfig("preview")).artifactRepository, storage } } }));

let wt: IWorkflowTemplate;
beforeAll(async () => {
  wt = implementationDag(await previewRender());
});

describe("evidence archival", () => {
  it("archives the deploy evidence, the acceptance evidence and the approval, at least", () => {
    const names = outputArtifacts(wt).map((o) => `${o.template}/${o.artifact.name}`);
    expect(names).toEqual(expect.arrayContaining(["acceptance/acceptance-report", "approve/approval"]));
    expect(outputArtifacts(wt).some((o) => o.template.startsWith("deploy") && String(o.artifact.path).endsWith("/evidence"))).toBe(true);
  });

  it("gives every output artifact a key under the workflow's own prefix", () => {
    const artifacts = outputArtifacts(wt);
    expect(artifacts.length).toBeGreaterThan(0);
    for (const { template, artifact } of artifacts) {
      expect(artifact.s3, `${template}/${artifact.name}`).toEqual({ key: `${PREFIX}/${template}/${artifact.name}.tgz` });
    }
    const keys = artifacts.map((a) => a.artifact.s3!.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("keys only with references the workflow declares", () => {
    const declared = new Set((wt.spec.arguments?.parameters ?? []).map((p) => p.name));
    for (const ref of PREFIX.matchAll(/\{\{workflow\.parameters\.([^}]+)\}\}/g)) expect(declared.has(ref[1])).toBe(true);
  });

  it("points the review's artifact link at the same prefix", () => {
    const env = templateNamed(wt, "approve").script!.env!;
    expect(env.find((e) => e.name === "ARTIFACTS_LOCATION")?.value).toBe(PREFIX);
  });

  it("uses the artifact repository the config references", () => {
    expect(wt.spec.artifactRepositoryRef).toEqual({ configMap: "artifact-repositories", key: "default-v1" });
  });

  it("follows the repository's storage kind (gcs)", async () => {
    const gcs = await withStorage("gcs");
    for (const { template, artifact } of outputArtifacts(gcs)) {
      expect(artifact.s3).toBeUndefined();
      expect(artifact.gcs).toEqual({ key: `${PREFIX}/${template}/${artifact.name}.tgz` });
    }
    validateArgo(gcs);
  });

  it("leaves keys to the repository's keyFormat with storage none, and links only the workflow", async () => {
    const none = await withStorage("none");
    for (const { artifact } of outputArtifacts(none)) {
      expect([artifact.s3, artifact.gcs, artifact.oss]).toEqual([undefined, undefined, undefined]);
    }
    expect(templateNamed(none, "approve").script!.env!.find((e) => e.name === "ARTIFACTS_LOCATION")?.value).toBe("");
  });

  it("renders a WorkflowTemplate that passes the Argo schema with the keys in place", () => {
    validateArgo(wt);
  });
});
