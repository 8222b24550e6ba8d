/**
 * `approve`: posts the QA App's review with `event: APPROVE`, pinned to the tested commit, its body
 * the acceptance evidence and the image digests the preview's pods ran (preview-evidence's
 * `pods.json`), with links to both archived artifacts. Never merges. Runs without a Kubernetes token; the QA app's ids come from
 * its Secret as env, its private key as a read-only file mounted from the same Secret.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { StackConfig } from "../config";
import { GITHUB_APP_SECRET_KEYS, githubAppSecretName } from "../github-apps";
import { archiveLocation } from "../argo/archive";
import { PREVIEW_EVIDENCE_ARTIFACT, PREVIEW_EVIDENCE_TEMPLATE } from "./preview-evidence";
import { input, INPUT_DIR, inputParameters, OUTPUT_DIR, outputParameter, scriptTemplate, withoutServiceAccountToken } from "../argo/script-template";

/** Where the QA app's private key is mounted in the approve pod (read-only, outside the scratch volume). */
export const QA_KEY_DIR = "/etc/implementation-dag/github-app";
/** The key file inside {@link QA_KEY_DIR}. */
export const QA_KEY_FILE = `${QA_KEY_DIR}/${GITHUB_APP_SECRET_KEYS.privateKey}`;
/** Name of the approve template's volume holding the key. */
const KEY_VOLUME = "github-app-qa";

/** Where approve's pod holds preview-evidence's artifact. */
const EVIDENCE_DIR = `${INPUT_DIR}/${PREVIEW_EVIDENCE_ARTIFACT}`;

/**
 * The archive key (relative to the artifacts browse URL) of one step's output artifact, as
 * `withArchivedArtifacts` stores it; empty when nothing is archived (storage `none`).
 */
function archivedKey(cfg: StackConfig, template: string, artifact: string): string {
  return cfg.artifactRepository.storage === "none" ? "" : `${archiveLocation(cfg)}/${template}/${artifact}.tgz`;
}

/** Builds the approve template. */
export function approveTemplate(cfg: StackConfig): ITemplate {
  const secret = githubAppSecretName("qa");
  const fromSecret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
  return scriptTemplate(cfg, {
    name: "approve",
    image: cfg.images.approve,
    libraries: ["github"],
    deadlineSeconds: cfg.deadlines.approveSeconds,
    inputs: {
      parameters: inputParameters("owner", "repo", "pr", "commit", "host"),
      artifacts: [
        { name: "acceptance-report", path: `${INPUT_DIR}/acceptance` },
        { name: PREVIEW_EVIDENCE_ARTIFACT, path: EVIDENCE_DIR },
      ],
    },
    env: {
      OWNER: input("owner"),
      REPO: input("repo"),
      PR: input("pr"),
      COMMIT: input("commit"),
      HOST: input("host"),
      REPORT_DIR: `${INPUT_DIR}/acceptance`,
      EVIDENCE_DIR,
      WORKFLOW_NAME: "{{workflow.name}}",
      WORKFLOW_NAMESPACE: "{{workflow.namespace}}",
      ARGO_UI_URL: cfg.links.argoUiUrl,
      ARTIFACTS_URL: cfg.links.artifactsUrl,
      ARTIFACTS_LOCATION: cfg.artifactRepository.storage === "none" ? "" : archiveLocation(cfg),
      REPORT_ARCHIVE_KEY: archivedKey(cfg, "acceptance", "acceptance-report"),
      EVIDENCE_ARCHIVE_KEY: archivedKey(cfg, PREVIEW_EVIDENCE_TEMPLATE, PREVIEW_EVIDENCE_ARTIFACT),
      GITHUB_API_URL: cfg.github.apiUrl,
      GITHUB_APP_PRIVATE_KEY_FILE: QA_KEY_FILE,
    },
    envFrom: [
      fromSecret("GITHUB_APP_ID", GITHUB_APP_SECRET_KEYS.appId),
      fromSecret("GITHUB_INSTALLATION_ID", GITHUB_APP_SECRET_KEYS.installationId),
    ],
    volumeMounts: [{ name: KEY_VOLUME, mountPath: QA_KEY_DIR, readOnly: true }],
    outputs: {
      parameters: [outputParameter("decision"), outputParameter("review_url")],
      artifacts: [{ name: "approval", path: `${OUTPUT_DIR}/approve`, optional: true }],
    },
    extra: {
      ...withoutServiceAccountToken(cfg),
      // Only the private key, readable by the step's group (fsGroup), in this one template's pod.
      volumes: [{
        name: KEY_VOLUME,
        secret: {
          secretName: secret,
          items: [{ key: GITHUB_APP_SECRET_KEYS.privateKey, path: GITHUB_APP_SECRET_KEYS.privateKey }],
          defaultMode: 0o440,
        },
      }],
    },
  });
}
