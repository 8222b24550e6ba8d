/**
 * The naming rules of a preview, once in TypeScript. `components/steps/set-params.sh` holds the same
 * rules in shell (it is what runs in the cluster); `test/names.test.ts` holds both to one table.
 */

/** A PR number: a positive integer, no leading zero, at most 9 digits. */
export const PR_NUMBER = /^[1-9][0-9]{0,8}$/;

/** Helm's limit on a release name. */
export const RELEASE_MAX = 53;

/** The preview namespace of a PR: `impl-pr-<N>`. */
export function previewNamespace(pr: string): string {
  return `impl-pr-${pr}`;
}

/**
 * The Helm release of a PR: the repository name lowercased, every character outside `[a-z0-9-]`
 * turned into `-`, cut so that `<name>-pr-<N>` is at most 53 characters, and trimmed of `-` at both
 * ends so the whole is a DNS-1123 label. A name with nothing left becomes `app`.
 */
export function releaseName(repo: string, pr: string): string {
  const suffix = `-pr-${pr}`;
  let name = repo.toLowerCase().replace(/[^a-z0-9-]/g, "-");
  name = name.slice(0, RELEASE_MAX - suffix.length);
  name = name.replace(/^-+/, "").replace(/-+$/, "");
  return `${name || "app"}${suffix}`;
}

/**
 * The agents' default `service-id`: the repository name lowercased, every character outside
 * `[a-z0-9-]` turned into `-`, cut to 63 and trimmed of `-` at both ends (a DNS-1123 label); a name
 * with nothing left becomes `app`.
 */
export function serviceId(repo: string): string {
  const name = repo.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63).replace(/^-+/, "").replace(/-+$/, "");
  return name || "app";
}

/** The preview's host: `pr-<N>.<domain>`. */
export function previewHost(pr: string, domain: string): string {
  return `pr-${pr}.${domain}`;
}

/** The image tag deployed: the given one, or `pr-<N>` when empty. */
export function imageTag(pr: string, given: string): string {
  return given === "" ? `pr-${pr}` : given;
}
