/**
 * Evidence archival: every output artifact of the workflow's own templates goes to the cluster's
 * artifact repository (the WorkflowTemplate's `artifactRepositoryRef`) as a key-only artifact under
 * one prefix per repository, PR and workflow, so the links in the review keep working after the
 * pods are gone:
 *
 * `<keyPrefix>/<owner>/<repo>/pr-<N>/<workflow name>/<template>/<artifact>.tgz`
 *
 * Key-only artifacts name only the key; bucket, endpoint and credentials come from the referenced
 * repository. Argo spells the key under the repository's storage kind (`s3.key`, `gcs.key`,
 * `oss.key`), so the stack config says which kind the repository is
 * (`artifactRepository.storage`); with `none` the repository's own `keyFormat` decides and the
 * review links only the workflow. The owner, repo and PR in the key are the workflow's parameters,
 * which set-params has validated before any step that writes an artifact runs.
 *
 * The agent steps call the external agent template (`templateRef`); where their outputs are stored
 * is that template's business (the repository's `keyFormat` applies to them), not this one's.
 */
import type { IArtifact } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Artifact";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { workflowParam } from "./script-template";

/** The key prefix under which one workflow's artifacts are archived (holds Argo references). */
export function archiveLocation(cfg: StackConfig): string {
  return [
    cfg.artifactRepository.keyPrefix,
    workflowParam("owner"),
    workflowParam("repo"),
    `pr-${workflowParam("pr")}`,
    "{{workflow.name}}",
  ].join("/");
}

/** The key-only location of one output artifact of one template; undefined when storage is `none`. */
export function archivedArtifactLocation(cfg: StackConfig, template: string, artifact: string): Partial<IArtifact> | undefined {
  return keyOnlyLocation(cfg, `${archiveLocation(cfg)}/${template}/${artifact}.tgz`);
}

/**
 * An artifact location that names only the key, in the storage kind of the referenced artifact
 * repository (Argo fills in the rest from it); undefined when storage is `none`.
 */
export function keyOnlyLocation(cfg: StackConfig, key: string): Partial<IArtifact> | undefined {
  switch (cfg.artifactRepository.storage) {
    case "s3":
      return { s3: { key } };
    case "gcs":
      return { gcs: { key } };
    case "oss":
      return { oss: { key } };
    case "none":
      return undefined;
  }
}

/** Storage fields that make an artifact's location explicit; an artifact with one keeps it. */
const LOCATION_FIELDS = ["s3", "gcs", "oss", "azure", "hdfs", "http", "git", "raw", "artifactory", "plugin"] as const;

/**
 * The templates with a key-only archive location on every output artifact that has none yet
 * (artifacts that pass through a `from` are left alone; they are stored where they came from).
 */
export function withArchivedArtifacts(cfg: StackConfig, templates: ITemplate[]): ITemplate[] {
  return templates.map((t) => {
    const artifacts = t.outputs?.artifacts;
    if (!artifacts || artifacts.length === 0) return t;
    return {
      ...t,
      outputs: {
        ...t.outputs,
        artifacts: artifacts.map((a) => {
          const located = LOCATION_FIELDS.some((f) => (a as unknown as Record<string, unknown>)[f] !== undefined);
          if (located || a.from !== undefined || a.fromExpression !== undefined) return a;
          const location = archivedArtifactLocation(cfg, t.name ?? "template", a.name);
          return location ? { ...a, ...location } : a;
        }),
      },
    };
  });
}
