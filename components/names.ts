/**
 * The naming rules of a preview, once in TypeScript. `components/steps/lib/names.sh` and
 * `components/steps/set-params.sh` hold the same rules in shell (what runs in the cluster);
 * `test/names.test.ts` holds both to one table.
 */
import { createHash } from "node:crypto";

/**
 * How previews are named: `repository` (the default) makes every name from (owner, repository, PR),
 * so many repositories share a cluster; `pr-number` keeps the names of a single-repository install
 * (`impl-pr-<N>`, `pr-<N>.<domain>`).
 */
export type NamingScheme = "repository" | "pr-number";

/** The naming schemes, for the config schema. */
export const NAMING_SCHEMES = ["repository", "pr-number"] as const;

/** The longest preview id: `impl-<id>` is then a DNS-1123 label of at most 63 characters. */
export const PREVIEW_ID_MAX = 58;

/** Hex digits of a repository's hash in its previews' names. */
export const REPOSITORY_HASH_LENGTH = 10;

/**
 * Every preview namespace either scheme makes (an RE2 and POSIX ERE pattern): `impl-pr-<N>`, or
 * `impl-<slug>-<hash>-pr-<N>`. The admission fence and the sweeper hold to it.
 */
export const PREVIEW_NAMESPACE_PATTERN = `^impl-([a-z0-9-]+-[0-9a-f]{${REPOSITORY_HASH_LENGTH}}-)?pr-[1-9][0-9]{0,8}$`;

/** Helm's limit on a release name. */
export const RELEASE_MAX = 53;

/** The lowercased `<owner>/<repo>`: GitHub names are case-insensitive. */
export function repositoryKey(owner: string, repo: string): string {
  return `${owner}/${repo}`.toLowerCase();
}

/**
 * A preview's id, from which its namespace, host label and mutex are made. `repository`:
 * `<slug>-<hash>-pr-<N>`, the hash being the first 10 hex digits of SHA-256 of the lowercased
 * `<owner>/<repo>`, the slug `<owner>-<repo>` lowercased with every character outside `[a-z0-9-]`
 * turned into `-`, cut so the id is at most 58 characters and trimmed of `-` (`repo` when nothing is
 * left). `pr-number`: `pr-<N>`.
 */
export function previewId(scheme: NamingScheme, owner: string, repo: string, pr: string): string {
  if (scheme === "pr-number") return `pr-${pr}`;
  const full = repositoryKey(owner, repo);
  const hash = createHash("sha256").update(full).digest("hex").slice(0, REPOSITORY_HASH_LENGTH);
  const tail = `-${hash}-pr-${pr}`;
  const slug = full.replace("/", "-").replace(/[^a-z0-9-]/g, "-").slice(0, PREVIEW_ID_MAX - tail.length).replace(/^-+/, "").replace(/-+$/, "");
  return `${slug || "repo"}${tail}`;
}

/** The preview namespace: `impl-<id>`. */
export function previewNamespace(scheme: NamingScheme, owner: string, repo: string, pr: string): string {
  return `impl-${previewId(scheme, owner, repo, pr)}`;
}

/** The mutex one run of a preview holds: `implementation-dag-<id>`. */
export function previewMutex(scheme: NamingScheme, owner: string, repo: string, pr: string): string {
  return `implementation-dag-${previewId(scheme, owner, repo, pr)}`;
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

/** The preview's host: `<id>.<domain>`. */
export function previewHost(scheme: NamingScheme, owner: string, repo: string, pr: string, domain: string): string {
  return `${previewId(scheme, owner, repo, pr)}.${domain}`;
}

/** The image tag deployed: the given one, or `pr-<N>` when empty. */
export function imageTag(pr: string, given: string): string {
  return given === "" ? `pr-${pr}` : given;
}
