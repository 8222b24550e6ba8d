/**
 * What a template needs to keep the preview's GitHub deployment up to date (cleanup, the TTL
 * sweeper, preview-teardown): the QA app's ids as `secretKeyRef` env, its private key as a read-only
 * file mounted from its Secret, the API URLs and the Argo UI link base. Every token those steps mint
 * is narrowed to one repository and to the permission of the call (`deployments: write` for
 * statuses, `pull_requests: read` for the sweeper's query of PR states).
 */
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import type { StackConfig } from "../config";
import { GITHUB_APP_SECRET_KEYS, githubAppSecretName, type GitHubAppName } from "../github-apps";

/** The app that records and updates the preview's deployment (deploy's app too). */
export const PREVIEW_GITHUB_APP: GitHubAppName = "qa";
/** Where the app's private key is mounted (read-only, outside the scratch volume). */
export const PREVIEW_GITHUB_KEY_DIR = "/etc/implementation-dag/github-app";
/** Name of the template volume holding the key. */
export const PREVIEW_GITHUB_KEY_VOLUME = "preview-github-app";
/** Shell libraries of a step that talks to GitHub about deployments. */
export const PREVIEW_GITHUB_LIBRARIES = ["github", "deployments"];

/** Env, secret env, mounts and volumes of the app, for `scriptTemplate`. */
export function previewGitHubApp(cfg: StackConfig): {
  env: Record<string, string>;
  envFrom: IEnvVar[];
  volumeMounts: IVolumeMount[];
  volumes: IVolume[];
} {
  const secret = githubAppSecretName(PREVIEW_GITHUB_APP);
  const fromSecret = (name: string, key: string): IEnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
  return {
    env: {
      GITHUB_API_URL: cfg.github.apiUrl,
      GITHUB_GRAPHQL_URL: cfg.github.graphqlUrl,
      GITHUB_APP_PRIVATE_KEY_FILE: `${PREVIEW_GITHUB_KEY_DIR}/${GITHUB_APP_SECRET_KEYS.privateKey}`,
      ARGO_UI_URL: cfg.links.argoUiUrl,
      WORKFLOWS_NAMESPACE: cfg.namespace,
    },
    envFrom: [
      fromSecret("GITHUB_APP_ID", GITHUB_APP_SECRET_KEYS.appId),
      fromSecret("GITHUB_INSTALLATION_ID", GITHUB_APP_SECRET_KEYS.installationId),
    ],
    volumeMounts: [{ name: PREVIEW_GITHUB_KEY_VOLUME, mountPath: PREVIEW_GITHUB_KEY_DIR, readOnly: true }],
    // Only the private key, readable by the step's group (fsGroup), in this one template's pod.
    volumes: [{
      name: PREVIEW_GITHUB_KEY_VOLUME,
      secret: {
        secretName: secret,
        items: [{ key: GITHUB_APP_SECRET_KEYS.privateKey, path: GITHUB_APP_SECRET_KEYS.privateKey }],
        defaultMode: 0o440,
      },
    }],
  };
}
