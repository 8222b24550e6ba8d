/**
 * The GitHub App credentials: one Kubernetes Secret per app (rex, clippy, qa) in the workflows
 * namespace, named `github-app-<app>` so the agent template finds an app's Secret from its
 * `github-app` parameter, with keys `app-id`, `installation-id` and `private-key`.
 *
 * The private keys come from Pulumi secret config (`pulumi config set --secret qaPrivateKey < key.pem`),
 * the ids from `github.apps`. `installation-id` is always there, and empty unless
 * `github.apps.<app>.installationId` is set: the steps then ask the app which of its installations
 * covers each repository (lib/github.sh), so one app serves repositories of several owners; the key
 * stays so that the steps' `secretKeyRef` finds it either way. Every value of the Secret is a Pulumi secret and the Secret's `data` and
 * `stringData` are additional secret outputs, so none of it appears in plain text in the state, a
 * preview or the stack outputs. Readable only by what mounts it: no Role of this project grants
 * `secrets` to anyone; a step gets its app's ids through `secretKeyRef` env and the key as a file.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { StackConfig } from "./config";

/** The three GitHub Apps of the pipeline. */
export const GITHUB_APPS = ["rex", "clippy", "qa"] as const;
/** One of the GitHub Apps. */
export type GitHubAppName = (typeof GITHUB_APPS)[number];

/** The keys of every GitHub App Secret. */
export const GITHUB_APP_SECRET_KEYS = {
  appId: "app-id",
  installationId: "installation-id",
  privateKey: "private-key",
} as const;

/** Name of an app's Secret: `github-app-<app>`. */
export const githubAppSecretName = (app: GitHubAppName): string => `github-app-${app}`;

/** The secret config key holding an app's private key (see SECRET_KEYS in config.ts). */
export const privateKeyConfigKey = (app: GitHubAppName): `${GitHubAppName}PrivateKey` => `${app}PrivateKey`;

/**
 * An app's Secret as a plain object, its private key given by the caller (the component passes a
 * Pulumi secret; tests pass a string). `installation-id` is the configured override, or `""` (look
 * each repository's installation up).
 */
export function githubAppSecret<K>(cfg: StackConfig, app: GitHubAppName, privateKey: K) {
  const ids = cfg.github.apps[app];
  return {
    apiVersion: "v1" as const,
    kind: "Secret" as const,
    metadata: {
      name: githubAppSecretName(app),
      namespace: cfg.namespace,
      labels: {
        "app.kubernetes.io/name": "implementation-dag",
        "app.kubernetes.io/part-of": "implementation-dag",
        "app.kubernetes.io/managed-by": "pulumi",
        "implementation-dag/github-app": app,
      },
    },
    type: "Opaque" as const,
    stringData: {
      [GITHUB_APP_SECRET_KEYS.appId]: ids.appId,
      [GITHUB_APP_SECRET_KEYS.installationId]: ids.installationId,
      [GITHUB_APP_SECRET_KEYS.privateKey]: privateKey,
    },
  };
}

/** Arguments of {@link GitHubApps}. */
export interface GitHubAppsArgs {
  /** The typed stack config (namespace, `github.apps` ids). */
  config: StackConfig;
  /** Each app's PEM private key, from secret config. Made secret here whatever the input is. */
  privateKeys: Record<GitHubAppName, pulumi.Input<string>>;
}

/** Registers the three GitHub App Secrets. */
export class GitHubApps extends pulumi.ComponentResource {
  /** The Secrets' names, by app. */
  public readonly secretNames: Record<GitHubAppName, pulumi.Output<string>>;

  constructor(name: string, args: GitHubAppsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:GitHubApps", name, {}, opts);
    const names = {} as Record<GitHubAppName, pulumi.Output<string>>;
    for (const app of GITHUB_APPS) {
      const key = args.privateKeys[app];
      if (key === undefined || key === "") {
        throw new pulumi.ResourceError(`privateKeys.${app} is empty: set it with 'pulumi config set --secret ${privateKeyConfigKey(app)} < ${app}.private-key.pem'`, this);
      }
      const plain = githubAppSecret(args.config, app, key);
      const secret = new k8s.core.v1.Secret(
        `${name}-${app}`,
        { ...plain, stringData: pulumi.secret(plain.stringData) as pulumi.Input<Record<string, pulumi.Input<string>>> },
        { parent: this, additionalSecretOutputs: ["data", "stringData"] },
      );
      names[app] = secret.metadata.name;
    }
    this.secretNames = names;
    this.registerOutputs({ secretNames: this.secretNames });
  }
}
