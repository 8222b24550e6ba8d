/**
 * One GitHub App serving repositories of several owners, with no installation id configured: the
 * rendered TTL sweeper (which walks many repositories) run for real against the fake cluster and
 * the fake GitHub gets each repository's tokens from that repository's own installation, and a
 * repository the app is not installed on is reported by name and left to the TTL.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../../simulator/argo-step";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { sweepTemplate } from "../helpers/render";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import { FakeCluster } from "../../simulator/cluster";
import { previewNamespace, utcIn } from "../helpers/cluster-objects";

const SHA = "a".repeat(40);
const SWEEP = "implementation-dag-ttl-sweep-1700000000";
const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "several-owners-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

interface Entry { namespace: string; repository: string; prState: string }
interface Report { deleted: Entry[]; kept: Entry[]; github: { unavailable: Array<{ repository: string; error: string }> } }

let template: ITemplate;
let gh: FakeGitHub;
let standIns: StandIns | undefined;
beforeAll(async () => {
  template = await sweepTemplate();
});
beforeEach(async () => {
  const permissions = { deployments: "write", pull_requests: "write", contents: "read" } as const;
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: key.publicKey,
      installations: [
        { id: 200003, owner: "acme", repositories: ["app"], permissions },
        { id: 200004, owner: "globex", repositories: ["site"], permissions },
      ],
    }],
  });
});
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
  expect(gh.violations).toEqual([]);
  await gh.close();
});

/** A preview of owner/repo's PR `n`, with a recorded deployment when given one. */
function preview(repository: string, n: number, deployment?: number) {
  return previewNamespace(`impl-pr-${n}`, {
    labels: { pr: String(n), workflow: `wf-${n}` },
    annotations: {
      "implementation-dag/repository": repository,
      "implementation-dag/expires-at": utcIn(24),
      "implementation-dag/workflow": `wf-${n}`,
      ...(deployment ? { "implementation-dag/deployment": String(deployment), "implementation-dag/environment-url": `https://pr-${n}.preview.example.com/` } : {}),
    },
  });
}

describe("one app, repositories of several owners, no installation id configured", () => {
  it("the sweeper gets each repository's tokens from its own installation, and marks each owner's deployment inactive", async () => {
    gh.addPull({ owner: "acme", repo: "app", number: 1, headSha: SHA, state: "closed" });
    gh.addPull({ owner: "globex", repo: "site", number: 2, headSha: SHA, state: "closed" });
    gh.addPull({ owner: "globex", repo: "site", number: 3, headSha: SHA });
    const acme = gh.addDeployment("acme", "app", { sha: SHA, environment: "pr-1" });
    const globex = gh.addDeployment("globex", "site", { sha: SHA, environment: "pr-2" });
    // initech/tool: the app is not installed there.
    const namespaces = [preview("acme/app", 1, acme), preview("globex/site", 2, globex), preview("globex/site", 3), preview("initech/tool", 4)];
    const cluster = new FakeCluster(namespaces, Object.fromEntries(namespaces.map((n) => [n.metadata.name, []])));
    standIns = await startStandIns(["kubectl", "helm"], cluster.handle);
    const r = await runScriptTemplate(template, {
      workflow: { name: SWEEP },
      pathPrepend: [standIns.dir],
      standInEnv: {
        ...standIns.env,
        GITHUB_API_URL: gh.url,
        GITHUB_GRAPHQL_URL: `${gh.url}/graphql`,
        GITHUB_APP_ID: "100003",
        // The github-app-qa Secret's installation-id when github.apps.qa.installationId is not set.
        GITHUB_INSTALLATION_ID: "",
        GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
        GITHUB_RETRY_BASE_MS: "10",
      },
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(path.join(r.artifacts["ttl-report"], "report.json"), "utf8")) as Report;

    expect(report.deleted.map((e) => [e.namespace, e.repository, e.prState]).sort()).toEqual([
      ["impl-pr-1", "acme/app", "CLOSED"],
      ["impl-pr-2", "globex/site", "CLOSED"],
    ]);
    expect(gh.tokens().map((t) => [t.installationId, t.repositories.join(), Object.keys(t.permissions).join()])).toEqual([
      [200003, "acme/app", "pull_requests,metadata"],
      [200004, "globex/site", "pull_requests,metadata"],
      [200003, "acme/app", "deployments,metadata"],
      [200004, "globex/site", "deployments,metadata"],
    ]);
    // One look-up per token, plus the one that found no installation on initech.
    expect(gh.requests.filter((q) => q.operationId === "apps/get-repo-installation").map((q) => `${q.path} ${q.status}`)).toEqual([
      "/repos/acme/app/installation 200",
      "/repos/globex/site/installation 200",
      "/repos/initech/tool/installation 404",
      "/repos/acme/app/installation 200",
      "/repos/globex/site/installation 200",
    ]);
    expect(gh.deployments("acme", "app")[0].statuses.map((s) => s.state)).toEqual(["inactive"]);
    expect(gh.deployments("globex", "site")[0].statuses.map((s) => s.state)).toEqual(["inactive"]);

    // The repository without the app: named, with the app, and its preview left to the TTL.
    expect(report.github.unavailable).toEqual([{
      repository: "initech/tool",
      error: expect.stringContaining("ERROR: github: GitHub App implementation-dag-qa (id 100003) is not installed on initech/tool"),
    }]);
    expect(report.kept.map((e) => e.namespace).sort()).toEqual(["impl-pr-3", "impl-pr-4"]);
  }, 150_000);
});
