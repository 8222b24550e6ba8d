/**
 * The merge vectors this project must never render: the one list the tests, and the policy pack,
 * scan every rendered object and script for.
 */

/** A way to merge (or to push) that must not appear anywhere in what the stack renders. */
export interface MergeVector {
  /** What it is. */
  name: string;
  /** How it shows in text, matched against a line as written and as {@link normalizeForScan} reads it. */
  pattern: RegExp;
  /** A line that uses it, as a script would write it (the tests and the policy pack's tests try each). */
  example: string;
}

/**
 * Every merge or push vector: REST, GraphQL, the GitHub CLI and git. A push is a merge in disguise
 * (moving a base branch, committing through the API, starting a workflow that pushes), so each is here.
 */
export const MERGE_VECTORS: readonly MergeVector[] = [
  { name: "REST merge of a pull request (PUT /repos/{o}/{r}/pulls/{n}/merge)", pattern: /pulls\/[^\s"'/]*\/merge\b/i, example: `curl -X PUT "$api/repos/$owner/$repo/pulls/"$pr"/merge"` },
  { name: "REST merge of a branch (POST /repos/{o}/{r}/merges)", pattern: /repos\/[^\s]*\/merges\b/i, example: `github_request POST "/repos/$owner/$repo/merges" "$body"` },
  { name: "REST merge of the upstream into a fork's branch (POST …/merge-upstream)", pattern: /merge-upstream\b/i, example: `curl -X POST "$api/repos/o/r/merge-upstream" -d '{"branch":"main"}'` },
  { name: "REST update of a PR branch (PUT …/pulls/{n}/update-branch)", pattern: /update-branch/i, example: `curl -X PUT "$api/repos/o/r/pulls/7/update-branch"` },
  { name: "REST ref write, a push by API (…/git/refs)", pattern: /repos\/[^\s]*\/git\/refs\b/i, example: `curl -X PATCH "$api/repos/o/r/git/refs/heads/main" -d '{"sha":"abc","force":true}'` },
  { name: "REST contents API, a commit by API (…/contents/{path})", pattern: /repos\/[^\s]*\/contents\b/i, example: `curl -X PUT "$api/repos/o/r/contents/README.md" -d @commit.json` },
  { name: "REST dispatch of a workflow or repository event (…/dispatches)", pattern: /\/dispatches\b/i, example: `curl -X POST "$api/repos/o/r/actions/workflows/release.yml/dispatches"` },
  { name: "REST merge settings (merge_method, allow_auto_merge: true)", pattern: /\bmerge_method\b|allow_auto_merge\s*[:=]\s*true\b/i, example: `jq -n '{merge_method: "squash"}'` },
  { name: "GraphQL mergePullRequest", pattern: /mergePullRequest/i, example: `mutation { mergePullRequest(input: {pullRequestId: $id}) { clientMutationId } }` },
  { name: "GraphQL enablePullRequestAutoMerge", pattern: /enablePullRequestAutoMerge/i, example: `mutation { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { clientMutationId } }` },
  { name: "GraphQL enqueuePullRequest (merge queue)", pattern: /enqueuePullRequest/i, example: `mutation { enqueuePullRequest(input: {pullRequestId: $id}) { clientMutationId } }` },
  { name: "GraphQL mergeBranch", pattern: /mergeBranch\b/i, example: `mutation { mergeBranch(input: {repositoryId: $r, base: "main", head: $h}) { clientMutationId } }` },
  { name: "GraphQL updatePullRequestBranch", pattern: /updatePullRequestBranch/i, example: `mutation { updatePullRequestBranch(input: {pullRequestId: $id}) { clientMutationId } }` },
  { name: "GraphQL createCommitOnBranch", pattern: /createCommitOnBranch/i, example: `mutation { createCommitOnBranch(input: $input) { commit { oid } } }` },
  { name: "GraphQL ref mutations (createRef, updateRef, updateRefs, deleteRef)", pattern: /\b(create|update|delete)Refs?\b/i, example: `mutation { updateRef(input: {refId: $ref, oid: $oid, force: true}) { clientMutationId } }` },
  { name: "GitHub CLI pr merge (gh pr merge, --auto included)", pattern: /\bgh\b[^\n]*\bpr\s+merge\b/i, example: `gh pr merge "$pr" --auto --squash` },
  { name: "git push", pattern: /\bgit\b[^\n]*\bpush\b/i, example: `git push origin HEAD:main` },
  { name: "git merge", pattern: /\bgit\b[^\n]*\bmerge\b/i, example: `git merge --ff-only "origin/$branch"` },
  { name: "git send-pack / http-push (push plumbing)", pattern: /\b(send-pack|http-push)\b/i, example: `git send-pack "$remote" HEAD:refs/heads/main` },
];

/** The character of a code point, or nothing for a number that is none (so decoding never throws). */
function charOrNothing(codePoint: number): string {
  return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : "";
}

/**
 * A line as the scan reads it besides its raw form: continued lines joined, percent-encodings,
 * `\xNN`, `\uNNNN`, three-digit octal and HTML character references decoded (repeatedly, so a doubly
 * encoded word is read too), shell quotes and backslashes removed (so `pulls/"$pr"/merge` and
 * `me""rge` read as written out), lower-cased.
 */
export function normalizeForScan(text: string): string {
  let t = text.replace(/\\\r?\n\s*/g, "");
  for (let round = 0; round < 4; round++) {
    const before = t;
    t = t
      .replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\u\{?([0-9a-f]{4})\}?/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\([0-3][0-7]{2})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
      .replace(/&#x([0-9a-f]{1,6});|&#([0-9]{1,7});/gi, (_, h: string | undefined, d: string | undefined) =>
        charOrNothing(h !== undefined ? parseInt(h, 16) : parseInt(d ?? "0", 10)));
    if (t === before) break;
  }
  return t.replace(/["'`\\]/g, "").toLowerCase();
}

/** The merge vectors found in a text, with the line each was found on (raw, or as normalized). */
export function findMergeVectors(text: string): Array<{ vector: string; line: string }> {
  const found: Array<{ vector: string; line: string }> = [];
  // Lines continued with a trailing backslash are one statement: a path split over them is read whole.
  for (const statement of text.split(/(?<!\\)\r?\n/)) {
    const normalized = normalizeForScan(statement);
    const shown = statement.replace(/\\\r?\n\s*/g, " ").trim();
    for (const v of MERGE_VECTORS) {
      if (v.pattern.test(statement) || v.pattern.test(normalized)) found.push({ vector: v.name, line: shown });
    }
  }
  return found;
}

/**
 * The merge vectors found in every string inside a value (an object, a resource's inputs, a whole
 * render), each string scanned line by line, with where it was found.
 */
export function findMergeVectorsIn(value: unknown, at = ""): Array<{ vector: string; line: string; at: string }> {
  if (typeof value === "string") return findMergeVectors(value).map((f) => ({ ...f, at }));
  if (Array.isArray(value)) return value.flatMap((v, i) => findMergeVectorsIn(v, `${at}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => findMergeVectorsIn(v, at ? `${at}.${k}` : k));
  }
  return [];
}

/**
 * Deployment requests that would merge: GitHub's `auto_merge` defaults to true, which merges the
 * default branch into the PR's branch before deploying. Every statement of a script (lines joined
 * over trailing backslashes) that POSTs to a repository's `/deployments` collection, and every
 * GraphQL `createDeployment`, must say `auto_merge: false` (`autoMerge: false`) in that statement.
 * Returns the offending statements.
 */
export function findDeploymentsWithoutAutoMergeOff(text: string): string[] {
  const statements = text.replace(/\\\n/g, " ").split("\n");
  const found: string[] = [];
  for (const s of statements) {
    const rest = /\bPOST\b[^\n]*\/deployments(?![\w/-])/.test(s);
    const graphql = /createDeployment\b/.test(s);
    if (rest && !/["']?auto_merge["']?\s*:\s*false\b/.test(s)) found.push(s.trim());
    else if (graphql && !/autoMerge\s*:\s*false\b/.test(s)) found.push(s.trim());
  }
  return found;
}

/** {@link findDeploymentsWithoutAutoMergeOff} over every string inside a value, with where it was found. */
export function findDeploymentsWithoutAutoMergeOffIn(value: unknown, at = ""): Array<{ statement: string; at: string }> {
  if (typeof value === "string") return findDeploymentsWithoutAutoMergeOff(value).map((statement) => ({ statement, at }));
  if (Array.isArray(value)) return value.flatMap((v, i) => findDeploymentsWithoutAutoMergeOffIn(v, `${at}[${i}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => findDeploymentsWithoutAutoMergeOffIn(v, at ? `${at}.${k}` : k));
  }
  return [];
}
