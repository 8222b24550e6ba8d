/**
 * Never merge, proven: nothing the stack renders (every resource's inputs, every object, every
 * embedded script, the stack outputs), with and without repository hardening, carries a merge
 * vector; nor does any step script or shell library on disk. The approve step's own runs against
 * the fake GitHub (test/approve/approve.test.ts) would also fail on any merge route.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { findDeploymentsWithoutAutoMergeOff, findDeploymentsWithoutAutoMergeOffIn, findMergeVectors, findMergeVectorsIn, MERGE_VECTORS, normalizeForScan } from "../../components/no-merge";
import { STEPS_DIR } from "../../components/argo/script-template";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";
import { previewRender } from "../helpers/render";

let renders: Array<[string, Render]>;
beforeAll(async () => {
  const github = parseConfig(readStackConfig("preview")).github;
  renders = [
    ["the preview stack", await previewRender()],
    ["the preview stack with hardening", await renderStack({ overrides: { github: { ...github, hardenRepositories: true } } })],
  ];
});

describe("no merge anywhere", () => {
  it("finds no merge vector in any resource, object, script or output of the render", () => {
    for (const [what, render] of renders) {
      expect(render.resources.length, what).toBeGreaterThan(0);
      expect(findMergeVectorsIn(render.resources), what).toEqual([]);
      expect(findMergeVectorsIn(render.outputs), what).toEqual([]);
    }
  });

  it("scans the embedded scripts line by line (the approve step with its GitHub library among them)", () => {
    const [, render] = renders[0];
    const sources = render.manifests.flatMap((m) =>
      ((m as { spec?: { templates?: Array<{ name?: string; script?: { source?: string } }> } }).spec?.templates ?? [])
        .flatMap((t) => (t.script?.source ? [[t.name ?? "", t.script.source] as const] : [])));
    expect(sources.find(([name]) => name === "approve")?.[1]).toContain("---- lib/github.sh ----");
    for (const [name, source] of sources) expect(findMergeVectors(source), name).toEqual([]);
  });

  it("finds no merge vector in any step script or library on disk", () => {
    const scripts = readdirSync(STEPS_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".sh"));
    expect(scripts).toEqual(expect.arrayContaining(["approve.sh", path.join("lib", "github.sh")]));
    for (const f of scripts) expect(findMergeVectors(readFileSync(path.join(STEPS_DIR, f), "utf8")), f).toEqual([]);
  });

  it("would notice a merge vector hidden in a rendered script", () => {
    const [, render] = renders[0];
    const tampered = structuredClone(render.manifests);
    const wt = tampered.find((m) => m.kind === "WorkflowTemplate") as unknown as { spec: { templates: Array<{ script?: { source: string } }> } };
    const script = wt.spec.templates.find((t) => t.script)!.script!;
    script.source += "\n# curl -X PUT \"$api/repos/o/r/pulls/1/merge\"\n";
    expect(findMergeVectorsIn(tampered)).not.toEqual([]);
  });

  it("every request that creates a deployment sends auto_merge: false (deploy's does, and the scan sees it)", () => {
    for (const [what, render] of renders) expect(findDeploymentsWithoutAutoMergeOffIn(render.resources), what).toEqual([]);
    const [, render] = renders[0];
    const deploy = render.manifests.flatMap((m) => (m as { spec?: { templates?: Array<{ name?: string; script?: { source?: string } }> } }).spec?.templates ?? [])
      .find((t) => t.name === "deploy")!.script!.source!;
    expect(deploy).toContain("---- lib/deployments.sh ----");
    // The scan finds the statement that creates the deployment, and it is clean...
    const creating = deploy.replace(/\\\n/g, " ").split("\n").filter((l) => /\bPOST\b.*\/deployments"/.test(l));
    expect(creating).toHaveLength(1);
    expect(creating[0]).toContain("auto_merge: false");
    // ...and the same script without auto_merge false is caught.
    expect(findDeploymentsWithoutAutoMergeOff(deploy.replace("auto_merge: false, ", ""))).toHaveLength(1);
  });

  it("catches deployment requests without auto_merge: false, REST over continued lines and GraphQL", () => {
    expect(findDeploymentsWithoutAutoMergeOff(`github_request POST "/repos/o/r/deployments" '{"ref":"abc"}'`)).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff(`curl -X POST "$api/repos/o/r/deployments" \\\n  -d '{"ref":"abc","auto_merge":true}'`)).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff(`curl -X POST "$api/repos/o/r/deployments" \\\n  -d '{"ref":"abc","auto_merge":false}'`)).toEqual([]);
    expect(findDeploymentsWithoutAutoMergeOff(`github_request POST "/repos/o/r/deployments/1/statuses" '{"state":"success"}'`)).toEqual([]);
    expect(findDeploymentsWithoutAutoMergeOff("mutation { createDeployment(input: {repositoryId: $r, refId: $ref}) { deployment { id } } }")).toHaveLength(1);
    expect(findDeploymentsWithoutAutoMergeOff("mutation { createDeployment(input: {repositoryId: $r, refId: $ref, autoMerge: false}) { deployment { id } } }")).toEqual([]);
  });
});

/** The sixteen merge or push forms a review tried against the scan, as a script would write them. */
const MERGE_FORMS: Array<[string, string]> = [
  ["gh pr merge --auto", `gh pr merge "$pr" --auto --squash`],
  ["a REST merge with the PR number quoted apart", `curl -X PUT "$api/repos/$owner/$repo/pulls/"$pr"/merge"`],
  ["a REST merge with the PR number in braces", `github_request PUT "/repos/$owner/$repo/pulls/\${pr}/merge" '{}'`],
  ["a REST merge split over continued lines", `curl -X PUT "$api/repos/o/r/pulls/$pr/"\\\n  "merge"`],
  ["a branch merge", `github_request POST "/repos/$owner/$repo/merges" "$body"`],
  ["an update of the PR branch", `curl -X PUT "$api/repos/o/r/pulls/7/update-branch"`],
  ["git push", `git -C "$work" push --force origin HEAD:main`],
  ["git send-pack", `git send-pack "$remote" HEAD:refs/heads/main`],
  ["PATCH git/refs/heads/main", `curl -X PATCH "$api/repos/o/r/git/refs/heads/main" -d '{"sha":"abc","force":true}'`],
  ["the contents API", `github_request PUT "/repos/$owner/$repo/contents/README.md" "$body"`],
  ["GraphQL createCommitOnBranch", `gh api graphql -f query='mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }'`],
  ["GraphQL updateRef", `jq -n '{query: "mutation { updateRef(input: {refId: $ref, oid: $oid, force: true}) { clientMutationId } }"}'`],
  ["GraphQL mergePullRequest", `{"query":"mutation { mergePullRequest(input: {pullRequestId: \\"x\\"}) { clientMutationId } }"}`],
  ["GraphQL enablePullRequestAutoMerge", `gh api graphql -f query='mutation { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { clientMutationId } }'`],
  ["a workflow dispatch", `curl -X POST "$api/repos/o/r/actions/workflows/release.yml/dispatches" -d '{"ref":"main"}'`],
  ["a repository dispatch", `gh api repos/o/r/dispatches -f event_type=release`],
];

/** The same line spelled another way: case, percent-encoding, quotes and escapes inside words. */
const SPELLINGS: Array<[string, (line: string) => string]> = [
  ["in upper case", (l) => l.toUpperCase()],
  ["in alternating case", (l) => [...l].map((c, i) => (i % 2 ? c.toUpperCase() : c.toLowerCase())).join("")],
  ["with every letter percent-encoded", (l) => l.replace(/[a-z]/gi, (c) => `%${c.charCodeAt(0).toString(16)}`)],
  ["with every letter doubly percent-encoded", (l) => l.replace(/[a-z]/gi, (c) => `%25${c.charCodeAt(0).toString(16).toUpperCase()}`)],
  ["with empty quotes inside each long word", (l) => l.replace(/\b([a-z])([a-z]{3,})/gi, '$1""$2')],
  ["with the first letter of each long word as \\xNN", (l) => l.replace(/\b([a-z])([a-z]{3,})/gi, (_, a: string, b: string) => `\\x${a.charCodeAt(0).toString(16)}${b}`)],
  ["with the first letter of each long word as \\u00NN", (l) => l.replace(/\b([a-z])([a-z]{3,})/gi, (_, a: string, b: string) => `\\u00${a.charCodeAt(0).toString(16)}${b}`)],
];

describe("the no-merge scan catches every merge or push form, in any spelling", () => {
  it("has sixteen forms to try, and every vector's own example is found by that vector", () => {
    expect(MERGE_FORMS).toHaveLength(16);
    for (const v of MERGE_VECTORS) expect(findMergeVectors(v.example).map((f) => f.vector), v.name).toContain(v.name);
  });

  for (const [what, line] of MERGE_FORMS) {
    it(`catches ${what}, as written and spelled ${SPELLINGS.length} other ways`, () => {
      expect(findMergeVectors(line), line).not.toEqual([]);
      for (const [how, spell] of SPELLINGS) expect(findMergeVectors(spell(line)), `${how}: ${spell(line)}`).not.toEqual([]);
    });
  }

  it("reads a continued statement as one line and decodes before it compares", () => {
    expect(normalizeForScan(`"$api/pulls/$pr/"\\\n  "MERGE"`)).toBe("$api/pulls/$pr/merge");
    expect(normalizeForScan("pulls/7/%256Derge")).toBe("pulls/7/merge");
    expect(normalizeForScan("&#x67;raph&#113;l")).toBe("graphql");
    expect(normalizeForScan("&#9999999;")).toBe("");
  });

  it("leaves the requests the pipeline makes alone", () => {
    for (const line of [
      `github_request POST "/repos/$owner/$repo/pulls/$pr/reviews" "$(cat "$request_file")"`,
      `github_request GET "/repos/$owner/$repo/commits/$commit"`,
      `git -C "$checkout" fetch --depth 1 origin "$sha"`,
      `github_request POST "/repos/$owner/$repo/deployments/$id/statuses" "$body"`,
    ]) expect(findMergeVectors(line), line).toEqual([]);
  });
});

