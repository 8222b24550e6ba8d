/**
 * The merge vectors this project must never render: the one list the tests, and the policy pack,
 * scan every rendered object and script for.
 */

/** A way to merge (or to push) that must not appear anywhere in what the stack renders. */
export interface MergeVector {
  /** What it is. */
  name: string;
  /** How it shows in text. */
  pattern: RegExp;
}

/** Every merge vector, REST, GraphQL and git. */
export const MERGE_VECTORS: readonly MergeVector[] = [
  { name: "REST merge of a pull request (PUT /repos/{o}/{r}/pulls/{n}/merge)", pattern: /pulls\/[^\s"'/]*\/merge\b/i },
  { name: "REST merge of a branch (POST /repos/{o}/{r}/merges)", pattern: /\/repos\/[^\s"']*\/merges\b/i },
  { name: "REST update of a PR branch (PUT …/pulls/{n}/update-branch)", pattern: /update-branch/i },
  { name: "GraphQL mergePullRequest", pattern: /mergePullRequest/i },
  { name: "GraphQL enablePullRequestAutoMerge", pattern: /enablePullRequestAutoMerge/i },
  { name: "GraphQL enqueuePullRequest (merge queue)", pattern: /enqueuePullRequest/i },
  { name: "GraphQL mergeBranch", pattern: /mergeBranch\b/i },
  { name: "git push", pattern: /\bgit\b[^\n]*\bpush\b/i },
  { name: "git merge", pattern: /\bgit\b[^\n]*\bmerge\b/i },
];

/** The merge vectors found in a text, with the line each was found on. */
export function findMergeVectors(text: string): Array<{ vector: string; line: string }> {
  const found: Array<{ vector: string; line: string }> = [];
  for (const line of text.split("\n")) {
    for (const v of MERGE_VECTORS) if (v.pattern.test(line)) found.push({ vector: v.name, line: line.trim() });
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
