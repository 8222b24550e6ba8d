import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SignJWT, importPKCS8 } from "jose";
import { createPrivateKey } from "node:crypto";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";

const SHA = "a".repeat(40);
const qaKey = appKey("qa");
const otherKey = appKey("rex");

async function jwtFor(privateKeyPem: string, claims: { iss?: string | number; iat?: number; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "pem" }).toString();
  return new SignJWT({})
    .setProtectedHeader({ alg: "RS256" })
    .setIssuer(String(claims.iss ?? "100003"))
    .setIssuedAt(claims.iat ?? now - 60)
    .setExpirationTime(claims.exp ?? now + 540)
    .sign(await importPKCS8(pkcs8, "RS256"));
}

let gh: FakeGitHub;
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "qa", publicKey: qaKey.publicKey,
      installations: [
        { id: 200003, owner: "acme", repositories: ["app", "other"], permissions: { pull_requests: "write", contents: "read", deployments: "write", checks: "read", statuses: "read" } },
        { id: 200004, owner: "Globex", repositories: ["site"], permissions: { pull_requests: "read" } },
      ],
    }],
  });
  gh.addPull({ owner: "acme", repo: "app", number: 7, headSha: SHA });
});
afterEach(async () => {
  await gh.close();
});

const call = (method: string, path: string, auth?: string, body?: unknown) =>
  fetch(`${gh.url}${path}`, {
    method,
    headers: { "user-agent": "test", accept: "application/vnd.github+json", ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function token(permissions: Record<string, string> = { pull_requests: "write" }, repositories = ["app"]): Promise<string> {
  const res = await call("POST", "/app/installations/200003/access_tokens", await jwtFor(qaKey.privateKeyPem), { repositories, permissions });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe("fake GitHub", () => {
  it("mints a token narrowed as asked and serves the PR head with it", async () => {
    const t = await token({ pull_requests: "read" });
    const res = await call("GET", "/repos/acme/app/pulls/7", t);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { head: { sha: string } }).head.sha).toBe(SHA);
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: ["acme/app"], permissions: { pull_requests: "read", metadata: "read" } }]);
    expect(gh.requests.map((r) => [r.operationId, r.status, r.auth.kind])).toEqual([
      ["apps/create-installation-access-token", 201, "app"],
      ["pulls/get", 200, "installation"],
    ]);
    expect(gh.violations).toEqual([]);
  });

  it("refuses a JWT signed with another key", async () => {
    const res = await call("POST", "/app/installations/200003/access_tokens", await jwtFor(otherKey.privateKeyPem), { permissions: { pull_requests: "write" } });
    expect(res.status).toBe(401);
    expect(gh.tokens()).toEqual([]);
  });

  it("refuses a JWT that expires more than 10 minutes ahead or names another app", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await call("GET", "/app", await jwtFor(qaKey.privateKeyPem, { exp: now + 1200 }))).status).toBe(401);
    expect((await call("GET", "/app", await jwtFor(qaKey.privateKeyPem, { iss: "999" }))).status).toBe(401);
    expect((await call("GET", "/app", await jwtFor(qaKey.privateKeyPem, { iss: 100003 }))).status).toBe(200);
  });

  it("answers 404 for an installation the app does not have", async () => {
    const res = await call("POST", "/app/installations/999/access_tokens", await jwtFor(qaKey.privateKeyPem), { permissions: { pull_requests: "write" } });
    expect(res.status).toBe(404);
  });

  it("refuses a token wider than the installation (422)", async () => {
    const res = await call("POST", "/app/installations/200003/access_tokens", await jwtFor(qaKey.privateKeyPem), { permissions: { contents: "write" } });
    expect(res.status).toBe(422);
  });

  it("keeps a token to its repository (404 elsewhere) and its permissions (403 beyond)", async () => {
    const t = await token({ pull_requests: "read" });
    expect((await call("GET", "/repos/acme/other/pulls/7", t)).status).toBe(404);
    expect((await call("POST", "/repos/acme/app/pulls/7/reviews", t, { event: "APPROVE", commit_id: SHA })).status).toBe(403);
    expect(gh.reviews("acme", "app", 7)).toEqual([]);
  });

  it("records a violation and refuses every merge route", async () => {
    const t = await token();
    const res = await call("PUT", "/repos/acme/app/pulls/7/merge", t, {});
    expect(res.status).toBe(403);
    expect(gh.violations).toEqual(["PUT /repos/acme/app/pulls/7/merge: MERGE ROUTE pulls/merge"]);
  });

  it("records a violation for a request that fails GitHub's description", async () => {
    const t = await token();
    const res = await call("POST", "/repos/acme/app/pulls/7/reviews", t, { event: "LGTM" });
    expect(res.status).toBe(422);
    expect(gh.violations).toHaveLength(1);
    expect(gh.violations[0]).toContain("fails GitHub's description of pulls/create-review");
  });

  it("records a violation for a route GitHub does not have", async () => {
    await call("GET", "/repos/acme/app/nothing-here");
    expect(gh.violations).toEqual(["GET /repos/acme/app/nothing-here: no such route in GitHub's REST description"]);
  });

  it("serves scripted replies first, in order, then the normal answer", async () => {
    const t = await token();
    gh.enqueue("pulls/get", { status: 502 }, { status: 403, headers: { "retry-after": "3" }, body: { message: "You have exceeded a secondary rate limit" } });
    const first = await call("GET", "/repos/acme/app/pulls/7", t);
    const second = await call("GET", "/repos/acme/app/pulls/7", t);
    const third = await call("GET", "/repos/acme/app/pulls/7", t);
    expect([first.status, second.status, third.status]).toEqual([502, 403, 200]);
    expect(second.headers.get("retry-after")).toBe("3");
  });

  it("can fail a request after doing its work (afterHandling)", async () => {
    const t = await token();
    gh.enqueue("pulls/create-review", { status: 502, afterHandling: true });
    const res = await call("POST", "/repos/acme/app/pulls/7/reviews", t, { event: "APPROVE", commit_id: SHA });
    expect(res.status).toBe(502);
    expect(gh.reviews("acme", "app", 7).map((r) => r.state)).toEqual(["APPROVED"]);
  });

  it("stores approvals by the app's bot and lists them with pagination", async () => {
    const t = await token();
    for (let i = 0; i < 3; i++) gh.addReview("acme", "app", 7, { login: `human${i}`, state: "COMMENTED", commitId: SHA, body: "hm" });
    const posted = await call("POST", "/repos/acme/app/pulls/7/reviews", t, { event: "APPROVE", commit_id: SHA, body: "evidence" });
    expect(posted.status).toBe(200);
    const page2 = await call("GET", "/repos/acme/app/pulls/7/reviews?per_page=2&page=2", t);
    expect(page2.headers.get("link")).toBeNull();
    const items = (await page2.json()) as Array<{ user: { login: string }; state: string }>;
    expect(items.map((r) => [r.user.login, r.state])).toEqual([["human2", "COMMENTED"], ["qa[bot]", "APPROVED"]]);
    const page1 = await call("GET", "/repos/acme/app/pulls/7/reviews?per_page=2&page=1", t);
    expect(page1.headers.get("link")).toContain('rel="next"');
    expect(gh.violations).toEqual([]);
  });

  it("records deployments and their statuses, each answer valid against GitHub's schema", async () => {
    const t = await token({ deployments: "write" });
    const created = await call("POST", "/repos/acme/app/deployments", t, { ref: SHA, environment: "pr-7", auto_merge: false, required_contexts: [], transient_environment: true });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    const status = await call("POST", `/repos/acme/app/deployments/${id}/statuses`, t, { state: "success", environment_url: "https://pr-7.preview.example.com/" });
    expect(status.status).toBe(201);
    const listed = await call("GET", "/repos/acme/app/deployments?environment=pr-7", t);
    expect(((await listed.json()) as Array<{ id: number; sha: string }>).map((d) => [d.id, d.sha])).toEqual([[id, SHA]]);
    expect(gh.deployments("acme", "app")).toMatchObject([{ id, environment: "pr-7", request: { auto_merge: false }, statuses: [{ state: "success", environment_url: "https://pr-7.preview.example.com/" }] }]);
    expect(gh.writes().map((w) => w.operationId)).toEqual(["repos/create-deployment", "repos/create-deployment-status"]);
    expect(gh.violations).toEqual([]);
  });

  it("fails a deployment request after recording it (a 502 after the commit), and lists it with GitHub's filters", async () => {
    const t = await token({ deployments: "write" });
    gh.enqueue("repos/create-deployment", { status: 502, afterHandling: true });
    const other = gh.addDeployment("acme", "app", { sha: SHA, environment: "pr-7", task: "deploy:preview", payload: { workflow: "implementation-dag-older" } });
    gh.addDeployment("acme", "app", { sha: SHA, environment: "pr-8" });
    const created = await call("POST", "/repos/acme/app/deployments", t,
      { ref: SHA, environment: "pr-7", auto_merge: false, required_contexts: [], task: "deploy:preview", payload: { workflow: "implementation-dag-x" } });
    expect(created.status).toBe(502);
    const recorded = gh.deployments("acme", "app").at(-1)!;
    expect(recorded).toMatchObject({ sha: SHA, environment: "pr-7", task: "deploy:preview", payload: { workflow: "implementation-dag-x" } });

    const list = async (query: string) => {
      const res = await call("GET", `/repos/acme/app/deployments?${query}`, t);
      expect(res.status).toBe(200);
      return { link: res.headers.get("link"), items: (await res.json()) as Array<{ id: number; task: string; payload: unknown }> };
    };
    const filtered = await list(`sha=${SHA}&environment=pr-7&task=deploy:preview&per_page=100`);
    // Newest first, with the task and payload a caller matches its own deployment by.
    expect(filtered.items.map((d) => [d.id, d.task, d.payload])).toEqual([
      [recorded.id, "deploy:preview", { workflow: "implementation-dag-x" }],
      [other, "deploy:preview", { workflow: "implementation-dag-older" }],
    ]);
    expect((await list("task=deploy")).items).toHaveLength(1);
    expect((await list(`sha=${"f".repeat(40)}`)).items).toEqual([]);
    const page1 = await list("per_page=2");
    expect(page1.items).toHaveLength(2);
    expect(page1.link).toContain('page=2>; rel="next"');
    expect((await list("per_page=2&page=2")).items.map((d) => d.id)).toEqual([other]);
    expect(gh.violations).toEqual([]);
  });

  it("refuses a deployment list whose query breaks GitHub's description", async () => {
    const t = await token({ deployments: "write" });
    const res = await call("GET", "/repos/acme/app/deployments?per_page=many", t);
    expect(res.status).toBe(422);
    expect(gh.violations).toEqual([expect.stringContaining("fails GitHub's description of repos/list-deployments")]);
  });

  it("tells an app which of its installations covers a repository, by owner, and 404 where it has none", async () => {
    const jwt = await jwtFor(qaKey.privateKeyPem);
    const found = async (path: string) => {
      const res = await call("GET", path, jwt);
      return { status: res.status, body: (await res.json()) as { id?: number; account?: { login: string }; app_slug?: string } };
    };
    expect(await found("/repos/acme/app/installation")).toMatchObject({ status: 200, body: { id: 200003, account: { login: "acme" }, app_slug: "qa" } });
    expect(await found("/repos/globex/site/installation")).toMatchObject({ status: 200, body: { id: 200004, account: { login: "Globex" } } });
    // Installed on acme, but not given access to this repository; and not installed on initech.
    expect((await found("/repos/acme/secret/installation")).status).toBe(404);
    expect((await found("/repos/initech/app/installation")).status).toBe(404);
    // An app's JWT is needed, as on GitHub: an installation token does not do.
    expect((await call("GET", "/repos/acme/app/installation", await token())).status).toBe(401);
    expect(gh.violations).toEqual([]);
  });

  it("lets a test serve a route the fake has no answer for, behind the permission it needs", async () => {
    gh.handle("repos/get-commit", ({ params }) => ({ status: 200, body: { sha: params.ref } }), ["contents", "read"]);
    const withContents = await token({ contents: "read" });
    expect((await call("GET", "/repos/acme/app/commits/abc1234", withContents)).status).toBe(200);
    const without = await token({ pull_requests: "read" });
    expect((await call("GET", "/repos/acme/app/commits/abc1234", without)).status).toBe(403);
  });

  it("serves a commit's check runs by name, the latest per app, moving each through its states per read, behind checks:read", async () => {
    const sha = "ab".repeat(20);
    gh.addCheckRun("acme", "app", sha, "build", { status: "completed", conclusion: "failure" });
    gh.addCheckRun("acme", "app", sha, "build", { status: "queued" }, { status: "completed", conclusion: "success" });
    gh.addCheckRun("acme", "app", sha, "lint", { status: "completed", conclusion: "success" });
    const t = await token({ checks: "read" });
    const read = async (query: string) => {
      const res = await call("GET", `/repos/acme/app/commits/${sha}/check-runs${query}`, t);
      const body = (await res.json()) as { total_count: number; check_runs: Array<{ name: string; status: string; conclusion: string | null }> };
      return [res.status, body.total_count, body.check_runs.map((r) => [r.name, r.status, r.conclusion])];
    };
    expect(await read("?check_name=build&filter=latest")).toEqual([200, 1, [["build", "queued", null]]]);
    expect(await read("?check_name=build")).toEqual([200, 1, [["build", "completed", "success"]]]);
    expect(await read("?check_name=build&filter=all")).toEqual([200, 2, [["build", "completed", "failure"], ["build", "completed", "success"]]]);
    expect((await call("GET", `/repos/acme/app/commits/${sha}/check-runs?filter=newest`, t)).status).toBe(422);
    expect((await call("GET", `/repos/acme/app/commits/${sha}/check-runs`, await token({ contents: "read" }))).status).toBe(403);
    expect(gh.violations).toEqual([expect.stringContaining("fails GitHub's description of checks/list-for-ref")]);
  });

  it("serves a commit's combined status, the latest per context, behind statuses:read", async () => {
    const sha = "cd".repeat(20);
    gh.addCommitStatus("acme", "app", sha, "ci/image", "pending", "success");
    gh.addCommitStatus("acme", "app", sha, "ci/lint", "error");
    const t = await token({ statuses: "read" });
    const read = async () => {
      const res = await call("GET", `/repos/acme/app/commits/${sha}/status`, t);
      const body = (await res.json()) as { state: string; statuses: Array<{ context: string; state: string }> };
      return [res.status, body.state, body.statuses.map((x) => [x.context, x.state])];
    };
    expect(await read()).toEqual([200, "failure", [["ci/image", "pending"], ["ci/lint", "error"]]]);
    expect(await read()).toEqual([200, "failure", [["ci/image", "success"], ["ci/lint", "error"]]]);
    expect((await call("GET", `/repos/acme/app/commits/${sha}/status`, await token({ checks: "read" }))).status).toBe(403);
    expect(gh.violations).toEqual([]);
  });

  it("serves the API under a GitHub Enterprise Server prefix", async () => {
    const ghes = await startFakeGitHub({ apiPrefix: "/api/v3", apps: [{ appId: "1", slug: "qa", publicKey: qaKey.publicKey, installations: [] }] });
    try {
      expect(ghes.url).toMatch(/\/api\/v3$/);
      const res = await fetch(`${ghes.url}/app`, { headers: { "user-agent": "t", authorization: `Bearer ${await jwtFor(qaKey.privateKeyPem, { iss: 1 })}` } });
      expect(res.status).toBe(200);
      expect(ghes.violations).toEqual([]);
    } finally {
      await ghes.close();
    }
  });
});
