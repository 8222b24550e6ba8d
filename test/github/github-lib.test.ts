/**
 * lib/github.sh run for real (bash, curl, jq, openssl) against the fake GitHub, with GNU tools and
 * with busybox's.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { STEPS_DIR } from "../../components/argo/script-template";
import { busyboxDir } from "../helpers/busybox";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";

const LIB = path.join(STEPS_DIR, "lib", "github.sh");
const SHA = "b".repeat(40);
const key = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "github-lib-"));
const keyFile = path.join(work, "app.pem");
writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bash snippet with the library sourced. */
function run(snippet: string, env: Record<string, string> = {}, pathPrepend: string[] = []): Promise<Run> {
  const scratch = mkdtempSync(path.join(work, "run-"));
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `set -euo pipefail\nsource "$LIB"\n${snippet}`], {
      env: {
        PATH: [...pathPrepend, process.env.PATH ?? "/usr/bin:/bin"].join(":"),
        LIB,
        TMPDIR: scratch,
        GITHUB_API_URL: gh.url,
        GITHUB_APP_ID: "100003",
        GITHUB_INSTALLATION_ID: "200003",
        GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
        GITHUB_RETRY_BASE_MS: "20",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const TOKEN = `GITHUB_TOKEN=$(github_installation_token acme app '{"pull_requests":"write"}')\n`;

let gh: FakeGitHub;
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "qa", publicKey: key.publicKey,
      installations: [
        { id: 200003, owner: "acme", repositories: ["app", "other"], permissions: { pull_requests: "write", contents: "read" } },
        { id: 200004, owner: "globex", repositories: ["site"], permissions: { pull_requests: "write" } },
      ],
    }],
  });
  gh.addPull({ owner: "acme", repo: "app", number: 7, headSha: SHA });
});
afterEach(async () => {
  expect(gh.violations).toEqual([]);
  await gh.close();
});

describe("github_app_jwt", () => {
  for (const [tools, prepend] of [["GNU", () => []], ["busybox", () => [busyboxDir()]]] as const) {
    it(`signs an RS256 JWT the app's public key verifies (${tools} tools)`, async () => {
      const r = await run("github_app_jwt", {}, prepend());
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const jwt = r.stdout.trim();
      expect(jwt).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/); // base64url, no padding
      expect(decodeProtectedHeader(jwt)).toEqual({ alg: "RS256", typ: "JWT" });
      const { payload } = await jwtVerify(jwt, key.publicKey, { algorithms: ["RS256"] });
      const now = Math.floor(Date.now() / 1000);
      expect(payload.iss).toBe(100003);
      expect(payload.iat).toBeGreaterThanOrEqual(now - 62);
      expect(payload.iat).toBeLessThanOrEqual(now - 58);
      expect(payload.exp! - payload.iat!).toBe(600);
    });
  }

  it("puts a client id into iss as a string", async () => {
    const r = await run("github_app_jwt", { GITHUB_APP_ID: "Iv23liABCdef" });
    expect(r.code).toBe(0);
    expect(decodeJwt(r.stdout.trim()).iss).toBe("Iv23liABCdef");
  });

  it("takes the key from GITHUB_APP_PRIVATE_KEY when no file is named", async () => {
    const r = await run("github_app_jwt", { GITHUB_APP_PRIVATE_KEY_FILE: "", GITHUB_APP_PRIVATE_KEY: key.privateKeyPem });
    expect(r.code).toBe(0);
    await jwtVerify(r.stdout.trim(), key.publicKey, { algorithms: ["RS256"] });
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ["an app id with shell in it", { GITHUB_APP_ID: "1;id" }, "ERROR: GITHUB_APP_ID: must be a numeric app id or a client id (Iv...)"],
    ["a missing key file", { GITHUB_APP_PRIVATE_KEY_FILE: path.join(work, "nope.pem") }, "ERROR: GITHUB_APP_PRIVATE_KEY_FILE: must be a readable file"],
    ["a key file that holds no key", { GITHUB_APP_PRIVATE_KEY_FILE: LIB }, "ERROR: GITHUB_APP_PRIVATE_KEY_FILE: must hold an RSA private key in PEM form"],
  ];
  for (const [what, env, message] of bad) {
    it(`refuses ${what}`, async () => {
      const r = await run("github_app_jwt", env);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim()).toBe(message);
    });
  }
});

describe("github_git_credentials", () => {
  it("sets base64 of x-access-token:TOKEN, padded as base64 pads (every length modulo 3), and refuses what is not a token", async () => {
    const tokens = ["ghs_a", "ghs_ab", "ghs_abc", `ghs_${"x".repeat(36)}`, "A-._z".repeat(40)];
    const script = `for t in ${tokens.map((t) => `'${t}'`).join(" ")}; do declare c; github_git_credentials c "$t"; printf '%s\\n' "$c"; done
      github_git_credentials c 'ghs_a b' || echo "refused: $?"`;
    const r = await run(script, {});
    expect(r.stdout.split("\n").slice(0, -1)).toEqual([...tokens.map((t) => Buffer.from(`x-access-token:${t}`).toString("base64")), "refused: 1"]);
    expect(r.stderr).toBe("ERROR: github_git_credentials: TOKEN must be a token (see github_installation_token)\n");
  });
});

describe("github_installation_token", () => {
  it("mints a token narrowed to the one repository and the permissions asked for", async () => {
    const r = await run(`github_installation_token acme app '{"pull_requests":"write"}'`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ghs_[0-9a-f]+\n$/);
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: ["acme/app"], permissions: { pull_requests: "write", metadata: "read" } }]);
    expect(gh.requests[0].body).toEqual({ repositories: ["app"], permissions: { pull_requests: "write" } });
  });

  it("fails clearly for an installation the app does not have (404)", async () => {
    const r = await run(`github_installation_token acme app '{"pull_requests":"write"}'`, { GITHUB_INSTALLATION_ID: "999" });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("ERROR: github: POST /app/installations/999/access_tokens: HTTP 404: Not Found");
    expect(r.stderr).toContain("ERROR: GITHUB_INSTALLATION_ID: no installation token for acme/app from installation 999");
  });

  it("fails clearly when the key is not the app's (401) and never prints key or JWT", async () => {
    const other = appKey("stranger"); // a key no app has
    const otherFile = path.join(work, "other.pem");
    writeFileSync(otherFile, other.privateKeyPem);
    const r = await run(`github_installation_token acme app '{"pull_requests":"write"}'`, { GITHUB_APP_PRIVATE_KEY_FILE: otherFile });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("HTTP 401");
    expect(r.stderr).not.toMatch(/PRIVATE KEY|eyJ/);
  });

  // One reading of GitHub's answer decides the token, its repositories and its permissions: each
  // answer gets the verdict it would get alone (null: the token is taken).
  const NO_TOKEN = "ERROR: github_installation_token: GitHub's answer holds no token";
  const NOT_LIMITED = "ERROR: github_installation_token: the token GitHub issued is not limited to acme/app; refusing it";
  const WIDER = `ERROR: github_installation_token: the token GitHub issued has permissions beyond {"pull_requests":"write"}; refusing it`;
  const one = [{ full_name: "acme/app" }];
  const answers: Array<[string, unknown, string | null]> = [
    ["a narrower permission and the full name in another case", { token: "ghs_ok", permissions: { pull_requests: "read", metadata: "read" }, repositories: [{ full_name: "ACME/App" }] }, null],
    ["no permissions listed", { token: "ghs_ok", repositories: one }, null],
    ["no token", { permissions: { pull_requests: "write" }, repositories: one }, NO_TOKEN],
    ["a token that is a number", { token: 5, permissions: { pull_requests: "write" }, repositories: one }, NO_TOKEN],
    ["an empty token", { token: "", permissions: { pull_requests: "write" }, repositories: one }, NO_TOKEN],
    ["a token holding a tab", { token: "ghs_a\tb", permissions: { pull_requests: "write" }, repositories: one }, NO_TOKEN],
    ["a token of 2049 characters", { token: "g".repeat(2049), permissions: { pull_requests: "write" }, repositories: one }, NO_TOKEN],
    ["a list instead of an object", [{ token: "ghs_x" }], NO_TOKEN],
    ["two repositories", { token: "ghs_x", permissions: { pull_requests: "write" }, repositories: [...one, { full_name: "acme/other" }] }, NOT_LIMITED],
    ["a repository without a full name it can compare", { token: "ghs_x", permissions: { pull_requests: "write" }, repositories: [{ full_name: 7 }] }, NOT_LIMITED],
    ["a repository that is not an object", { token: "ghs_x", permissions: { pull_requests: "write" }, repositories: [7] }, NOT_LIMITED],
    ["a wider token for no repository list and wide permissions", { token: "ghs_x", permissions: { contents: "write" } }, NOT_LIMITED],
    ["permissions that are a text", { token: "ghs_x", permissions: "write", repositories: one }, WIDER],
    ["a permission not asked for", { token: "ghs_x", permissions: { pull_requests: "write", issues: "read" }, repositories: one }, WIDER],
    ["metadata written", { token: "ghs_x", permissions: { pull_requests: "write", metadata: "write" }, repositories: one }, WIDER],
    ["a token granted wider than asked", { token: "ghs_wide", expires_at: "2030-01-01T00:00:00Z", permissions: { pull_requests: "write", contents: "write" }, repositories: one }, WIDER],
    ["a token for all the installation's repositories", { token: "ghs_all", expires_at: "2030-01-01T00:00:00Z", permissions: { pull_requests: "write" }, repository_selection: "all" }, NOT_LIMITED],
  ];
  for (const [what, body, message] of answers) {
    it(`${message === null ? "takes" : "refuses"} an answer with ${what}`, async () => {
      gh.enqueue("apps/create-installation-access-token", { status: 201, body });
      const r = await run(`github_installation_token acme app '{"pull_requests":"write"}'`);
      if (message === null) {
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe("ghs_ok\n");
      } else {
        expect(r.code).not.toBe(0);
        expect(r.stdout).toBe("");
        expect(r.stderr.trim()).toBe(message);
      }
    });
  }

  const bad: Array<[string, string, string]> = [
    ["an owner with a slash", `'acme/x' app '{"a":"read"}'`, "ERROR: github_installation_token: OWNER must be a GitHub owner name"],
    ["a repository '..'", `acme .. '{"a":"read"}'`, "ERROR: github_installation_token: REPO must be a GitHub repository name"],
    ["permissions that are not an object", `acme app '"write"'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
    ["a permission level 'admin'", `acme app '{"contents":"admin"}'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
    ["no permissions", `acme app '{}'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
    ["a permission name in upper case", `acme app '{"Contents":"read"}'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
    ["permissions that are not JSON", `acme app '{contents:read}'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
    ["two JSON texts of permissions", `acme app '{"contents":"admin"} {"contents":"read"}'`, `ERROR: github_installation_token: PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"`],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what} before calling GitHub`, async () => {
      const r = await run(`github_installation_token ${args}`);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe(message);
      expect(gh.requests).toEqual([]);
    });
  }
});

describe("github_installation_token without a configured installation (one app, several owners)", () => {
  const LOOKUP = { GITHUB_INSTALLATION_ID: "" };
  const ops = () => gh.requests.map((q) => `${q.method} ${q.path} ${q.status} ${q.auth.kind}`);

  it("finds each repository's installation from the app itself: two owners, each token from its own installation", async () => {
    const r = await run([
      `github_installation_token acme app '{"pull_requests":"write"}' >/dev/null`,
      `github_installation_token globex site '{"pull_requests":"write"}' >/dev/null`,
    ].join("\n"), LOOKUP);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(gh.tokens()).toEqual([
      { installationId: 200003, repositories: ["acme/app"], permissions: { pull_requests: "write", metadata: "read" } },
      { installationId: 200004, repositories: ["globex/site"], permissions: { pull_requests: "write", metadata: "read" } },
    ]);
    expect(ops()).toEqual([
      "GET /repos/acme/app/installation 200 app",
      "POST /app/installations/200003/access_tokens 201 app",
      "GET /repos/globex/site/installation 200 app",
      "POST /app/installations/200004/access_tokens 201 app",
    ]);
  });

  it("looks the installation up when GITHUB_INSTALLATION_ID is not set at all", async () => {
    const r = await run(`unset GITHUB_INSTALLATION_ID\ngithub_installation_token globex site '{"pull_requests":"write"}' >/dev/null`);
    expect(r.stderr).toBe("");
    expect(gh.tokens().map((t) => t.installationId)).toEqual([200004]);
  });

  it("uses a configured installation id as given, without looking it up", async () => {
    const r = await run(`github_installation_token acme app '{"pull_requests":"write"}' >/dev/null`, { GITHUB_INSTALLATION_ID: "200003" });
    expect(r.code).toBe(0);
    expect(ops()).toEqual(["POST /app/installations/200003/access_tokens 201 app"]);
  });

  it("lets the configured installation id win even where the look-up would find another: that owner's repositories fail", async () => {
    const r = await run(`github_installation_token globex site '{"pull_requests":"write"}'`, { GITHUB_INSTALLATION_ID: "200003" });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("ERROR: GITHUB_INSTALLATION_ID: no installation token for globex/site from installation 200003");
    expect(gh.requests.map((q) => q.operationId)).toEqual(["apps/create-installation-access-token"]);
    expect(gh.tokens()).toEqual([]);
  });

  for (const [what, owner, repo] of [["an owner the app is not installed on", "initech", "app"], ["a repository its installation was not given", "acme", "secret"]] as const) {
    it(`fails clearly, naming the repository and the app, for ${what} (404)`, async () => {
      const r = await run(`GITHUB_TOKEN=$(github_installation_token ${owner} ${repo} '{"pull_requests":"write"}')`, LOOKUP);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `ERROR: github: GitHub App qa (id 100003) is not installed on ${owner}/${repo} (GET /repos/${owner}/${repo}/installation: 404): ` +
        `install it on ${owner} with access to ${repo}, or set GITHUB_INSTALLATION_ID\n`);
      expect(gh.tokens()).toEqual([]);
    });
  }

  it("still names the app by its id when GitHub will not say its slug", async () => {
    gh.enqueue("apps/get-authenticated", { status: 500 });
    const r = await run(`github_installation_token initech app '{"pull_requests":"write"}'`, LOOKUP);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe("ERROR: github: GitHub App GITHUB_APP_ID 100003 is not installed on initech/app (GET /repos/initech/app/installation: 404): install it on initech with access to app, or set GITHUB_INSTALLATION_ID\n");
  });

  it("retries the look-up (a GET) after a server error", async () => {
    gh.enqueue("apps/get-repo-installation", { status: 502 });
    const r = await run(`github_installation_token globex site '{"pull_requests":"write"}' >/dev/null`, LOOKUP);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("github: GET /repos/globex/site/installation: HTTP 502, try 1 of 5, retrying in 0.020s\n");
    expect(gh.tokens().map((t) => t.installationId)).toEqual([200004]);
  });

  it("retries the look-up even for a caller that does not retry its own server errors", async () => {
    gh.enqueue("apps/get-repo-installation", { status: 503 });
    const r = await run(`GITHUB_RETRY_SERVER_ERRORS=no github_installation_token globex site '{"pull_requests":"write"}' >/dev/null`, LOOKUP);
    expect(r.code).toBe(0);
    expect(gh.requests.filter((q) => q.operationId === "apps/get-repo-installation").map((q) => q.status)).toEqual([503, 200]);
  });

  it("fails when the look-up fails for good, minting nothing", async () => {
    gh.enqueue("apps/get-repo-installation", { status: 503 }, { status: 503 });
    const r = await run(`github_installation_token globex site '{"pull_requests":"write"}'`, { ...LOOKUP, GITHUB_RETRY_ATTEMPTS: "2" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERROR: github: GET /repos/globex/site/installation: HTTP 503: Service Unavailable (gave up after 2 tries)\n");
    expect(r.stderr).toContain("ERROR: github: cannot tell which installation of the app covers globex/site\n");
    expect(gh.tokens()).toEqual([]);
  });

  it("refuses an answer naming an installation on another account", async () => {
    gh.enqueue("apps/get-repo-installation", { status: 200, body: { id: 200003, account: { login: "acme" } } });
    const r = await run(`github_installation_token globex site '{"pull_requests":"write"}'`, LOOKUP);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe("ERROR: github: GitHub's answer names no installation of the app on globex's account for globex/site\n");
    expect(gh.tokens()).toEqual([]);
  });

  it("refuses a GITHUB_INSTALLATION_ID that is neither empty nor a number", async () => {
    const r = await run(`github_installation_token acme app '{"pull_requests":"write"}'`, { GITHUB_INSTALLATION_ID: "2;id" });
    expect(r.stderr.trim()).toBe("ERROR: GITHUB_INSTALLATION_ID: must be empty (look the installation up) or a numeric installation id");
    expect(gh.requests).toEqual([]);
  });

  it("works with busybox tools", async () => {
    const r = await run(`github_installation_token globex site '{"pull_requests":"write"}' >/dev/null`, LOOKUP, [busyboxDir()]);
    expect(r.stderr).toBe("");
    expect(gh.tokens().map((t) => t.installationId)).toEqual([200004]);
  });
});

describe("github_repository_installation", () => {
  it("prints the id of the app's installation covering the repository", async () => {
    const r = await run("github_repository_installation globex site");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("200004\n");
  });

  it("refuses a repository name with a slash before calling GitHub", async () => {
    const r = await run("github_repository_installation globex 'site/../x'");
    expect(r.stderr.trim()).toBe("ERROR: github_repository_installation: REPO must be a GitHub repository name");
    expect(gh.requests).toEqual([]);
  });
});

describe("github_request", () => {
  it("prints the body and sets GITHUB_STATUS", async () => {
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 >"$TMPDIR/pr.json"\necho "$GITHUB_STATUS $(jq -r .head.sha "$TMPDIR/pr.json")"`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`200 ${SHA}\n`);
  });

  it("retries a 502 and then succeeds", async () => {
    gh.enqueue("pulls/get", { status: 502 }, { status: 503 });
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 | jq -r .head.sha`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${SHA}\n`);
    expect(r.stderr).toBe(
      "github: GET /repos/acme/app/pulls/7: HTTP 502, try 1 of 5, retrying in 0.020s\n" +
      "github: GET /repos/acme/app/pulls/7: HTTP 503, try 2 of 5, retrying in 0.040s\n");
  });

  it("honours Retry-After on a secondary rate limit", async () => {
    gh.enqueue("pulls/get", { status: 403, headers: { "retry-after": "1" }, body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." } });
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 >/dev/null`);
    expect(r.code).toBe(0);
    const gets = gh.requests.filter((q) => q.operationId === "pulls/get");
    expect(gets.map((q) => q.status)).toEqual([403, 200]);
    expect(gets[1].at - gets[0].at).toBeGreaterThanOrEqual(1000);
  });

  it("waits for the primary rate limit's reset when the quota is used up", async () => {
    const reset = Math.floor(Date.now() / 1000) + 2;
    gh.enqueue("pulls/get", { status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) }, body: { message: "API rate limit exceeded" } });
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 >/dev/null`);
    expect(r.code).toBe(0);
    const gets = gh.requests.filter((q) => q.operationId === "pulls/get");
    expect(gets.map((q) => q.status)).toEqual([403, 200]);
    expect(gets[1].at).toBeGreaterThanOrEqual((reset - 1) * 1000);
  });

  it("gives up after GITHUB_RETRY_ATTEMPTS tries", async () => {
    gh.enqueue("pulls/get", ...Array.from({ length: 5 }, () => ({ status: 502 })));
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7`, { GITHUB_RETRY_ATTEMPTS: "3" });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("ERROR: github: GET /repos/acme/app/pulls/7: HTTP 502: Bad Gateway (gave up after 3 tries)");
    expect(gh.requests.filter((q) => q.operationId === "pulls/get")).toHaveLength(3);
  });

  it("leaves server errors to a caller that opted out of retrying them, still retrying rate limits", async () => {
    gh.enqueue("pulls/create-review", { status: 429, headers: { "retry-after": "0" } }, { status: 502 });
    const r = await run(`${TOKEN}GITHUB_RETRY_SERVER_ERRORS=no github_request POST /repos/acme/app/pulls/7/reviews '{"event":"APPROVE","commit_id":"${SHA}"}' || echo "rc=$? status=$GITHUB_STATUS"`);
    expect(r.stdout).toBe("rc=1 status=502\n");
    expect(r.stderr).toBe(
      "github: POST /repos/acme/app/pulls/7/reviews: HTTP 429, try 1 of 5, retrying in 0.000s\n" +
      "github: POST /repos/acme/app/pulls/7/reviews: HTTP 502: Bad Gateway (left to the caller)\n");
    expect(gh.requests.filter((q) => q.operationId === "pulls/create-review").map((q) => q.status)).toEqual([429, 502]);
  });

  it("fails at once when GitHub asks to wait longer than allowed", async () => {
    gh.enqueue("pulls/get", { status: 429, headers: { "retry-after": "3600" } });
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7`, { GITHUB_RETRY_MAX_WAIT_SECONDS: "5" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("GitHub asks to wait 3600s, more than GITHUB_RETRY_MAX_WAIT_SECONDS=5");
    expect(gh.requests.filter((q) => q.operationId === "pulls/get")).toHaveLength(1);
  });

  it("does not retry a 4xx that is no rate limit, and reports GitHub's message", async () => {
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/8 || echo "rc=$? status=$GITHUB_STATUS"`);
    expect(r.stdout).toBe("rc=1 status=404\n");
    expect(r.stderr).toBe("ERROR: github: GET /repos/acme/app/pulls/8: HTTP 404: Not Found\n");
  });

  it("answers a status listed in GITHUB_ALLOW_STATUS without an error", async () => {
    const r = await run(`${TOKEN}GITHUB_ALLOW_STATUS=404 github_request GET /repos/acme/app/pulls/8 >/dev/null\necho "$GITHUB_STATUS"`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("404\n");
  });

  it("sends the token only in a header file, never on curl's command line", async () => {
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 >/dev/null\nprintf '%s' "$GITHUB_TOKEN"`);
    const token = r.stdout;
    expect(token).toMatch(/^ghs_/);
    expect(readFileSync(LIB, "utf8")).toContain('-H "@$auth_file"');
    expect(r.stderr).not.toContain(token);
  });

  // The merge, push and GraphQL look-alikes a path guard must not let through: each is compared
  // after percent-decoding and case-folding, and refused before anything reaches GitHub.
  const refused: Array<[string, string, string]> = [
    ["a merge of the pull request", "PUT", "/repos/acme/app/pulls/7/merge"],
    ["a merge in upper case", "PUT", "/repos/acme/app/pulls/7/MERGE"],
    ["a merge with one letter percent-encoded", "PUT", "/repos/acme/app/pulls/7/%6Derge"],
    ["a merge fully percent-encoded in lower-case hex", "PUT", "/repos/acme/app/pulls/7/%6d%65%72%67%65"],
    ["a merge behind an encoded slash", "PUT", "/repos/acme/app/pulls/7%2Fmerge"],
    ["a merge with a trailing slash", "PUT", "/repos/acme/app/pulls/7/merge/"],
    ["a merge sent with a lower-case method", "put", "/repos/acme/app/pulls/7/merge"],
    ["a merge reached through '..'", "POST", "/repos/acme/app/pulls/7/reviews/../merge"],
    ["a merge reached through an encoded '..'", "POST", "/repos/acme/app/pulls/7/reviews/%2E%2E/merge"],
    ["a branch merge", "POST", "/repos/acme/app/merges"],
    ["a branch merge in mixed case", "POST", "/repos/acme/app/Merges"],
    ["an update of the PR branch", "PUT", "/repos/acme/app/pulls/7/update-branch"],
    ["an update of the PR branch in mixed case", "PUT", "/repos/acme/app/pulls/7/Update-Branch"],
    ["GraphQL", "POST", "/graphql"],
    ["GraphQL percent-encoded", "POST", "/%67raphql"],
    ["GraphQL in mixed case", "POST", "/GraphQL"],
    ["a push by moving a ref", "PATCH", "/repos/acme/app/git/refs/heads/main"],
    ["a new ref", "POST", "/repos/acme/app/git/refs"],
    ["a ref deleted", "DELETE", "/repos/acme/app/git/refs/heads/main"],
    ["a commit through the contents API", "PUT", "/repos/acme/app/contents/README.md"],
    ["a repository dispatch", "POST", "/repos/acme/app/dispatches"],
    ["a workflow dispatch", "POST", "/repos/acme/app/actions/workflows/ci.yml/dispatches"],
    ["auto-merge settings of the repository", "PATCH", "/repos/acme/app"],
    ["a used route with a method it is not used with", "PUT", "/repos/acme/app/pulls/7/reviews"],
    ["a doubly encoded path", "GET", "/repos/acme/app/pulls/%2537"],
    ["an encoded NUL", "GET", "/repos/acme/app/pulls/7%00"],
    ["a path with '..'", "GET", "/repos/acme/app/../other"],
    ["a merge behind an encoded '?'", "PUT", "/repos/acme/app/pulls/7%3F/merge"],
    ["a merge with upper-case escapes", "PUT", "/repos/acme/app/pulls/7/%4D%45RGE"],
    ["a merge behind overlong UTF-8 dots", "PUT", "/repos/acme/app/pulls/7/reviews/%C0%AE%C0%AE/merge"],
    ["a merge behind an encoded backslash", "PUT", "/repos/acme/app/pulls/7%5Cmerge"],
    ["a route with an escaped line feed at its end", "GET", "/repos/acme/app/pulls/7%0A"],
  ];
  for (const [what, method, route] of refused) {
    it(`refuses ${what} (${method} ${route}) before sending anything, naming the route`, async () => {
      const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request ${method} '${route}' '{}'`);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe(`ERROR: github: refused ${method.toUpperCase()} ${route}: not a request this pipeline makes (not on lib/github.sh's allowlist); nothing was sent`);
      expect(gh.requests).toEqual([]);
    });
  }

  // The route was once computed by one jq program per request; the shell that replaced it must
  // give the same route for every path (or none where jq gave none), so the allowlist lets
  // nothing through that it refused before. jq's program, kept here as the reference:
  const JQ_ROUTE = String.raw`sub("\\?.*$"; "")
    | gsub("%(?<h>[0-9A-Fa-f]{2})"; (.h | ascii_downcase | explode
        | map(if . >= 97 then . - 87 else . - 48 end) | [.[0] * 16 + .[1]] | implode))
    | ascii_downcase
    | if test("^/[a-z0-9._/-]*$") then . else "<none>" end | @json`;
  it("computes each path's route exactly as the jq program it replaced, every escaped byte included", async () => {
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    const paths = [
      ...refused.map(([, , route]) => route),
      "/repos/acme/app/pulls/7", "/repos/Acme/App/Pulls/7?per_page=1", "/app", "/APP", "/app/",
      "/repos/acme/app/pulls/%37", "/%67raphql", "/a%2Fb", "/a/%2e%2E/b", "/a/%2", "/a/%", "/a/%%41",
      "/a/%zz%41", "/a/%2541", "/a?b%00", "/a%3Fb?c", "/a?", "?/a", "", "a", "/é", "/%C3%A9", "/\u0130",
      "/a b", "/a;b", "/a~b", "/a=b", "/a:b", "/a,b", "/a+b", "/a&b", "/a#b", "/x%20",
      // every byte, escaped in upper- and lower-case hex, alone and between letters
      ...Array.from({ length: 256 }, (_, n) => [`/%${hex(n)}`, `/a%${hex(n).toUpperCase()}b/c`]).flat(),
      // every printable ASCII character as it is
      ...Array.from({ length: 95 }, (_, n) => `/a${String.fromCharCode(32 + n)}b`),
    ];
    const list = path.join(work, "paths.txt");
    writeFileSync(list, paths.join("\n") + "\n");
    const shell = await run(`while IFS= read -r p; do _github_route_of r "$p"; printf '%s\\n' "\${r:-<none>}"; done <'${list}'`);
    const reference = await run(`jq -R -r '${JQ_ROUTE}' '${list}'`);
    expect(shell.stderr).toBe("");
    expect(reference.stderr).toBe("");
    const got = shell.stdout.split("\n").slice(0, -1);
    const old = reference.stdout.split("\n").slice(0, -1).map((line) => JSON.parse(line) as string);
    expect(old).toHaveLength(paths.length);
    // jq's test() lets "$" match before a final line feed, so an escaped one at the end passed
    // ("/app\n", which the shell's $(...) then cut to "/app"): refused now. All else is as it was.
    const want = old.map((r) => (r.includes("\n") ? "<none>" : r));
    expect(old.filter((r) => r.includes("\n"))).toEqual(["/repos/acme/app/pulls/7\n", "/\n"]);
    expect(got.map((r, i) => [paths[i], r])).toEqual(want.map((r, i) => [paths[i], r]));
    // The cases reach both outcomes: routes that pass and routes refused outright.
    expect(want.filter((r) => r === "<none>").length).toBeGreaterThan(200);
    expect(want).toContain("/repos/acme/app/pulls/7/merge");
  });

  it("refuses a full URL before sending anything", async () => {
    const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request GET https://example.com/x`);
    expect(r.stderr.trim()).toBe("ERROR: github_request: PATH must be a REST path starting with '/'");
    expect(gh.requests).toEqual([]);
  });

  it("sends a token of up to 2048 token characters and refuses a longer one, or one with another character, before sending anything", async () => {
    const cases: Array<[string, boolean]> = [["a".repeat(2048), true], ["a".repeat(2049), false], ["ghs_a b", false], ["ghs_a\u00e9", false], ["", false]];
    for (const [token, sent] of cases) {
      const before = gh.requests.length;
      const r = await run(`github_request GET /repos/acme/app/pulls/7 >/dev/null || true`, { GITHUB_TOKEN: token });
      expect(gh.requests.length - before, `a token of ${token.length} characters`).toBe(sent ? 1 : 0);
      if (!sent) expect(r.stderr.trim()).toBe("ERROR: GITHUB_TOKEN: must be set to a token (see github_installation_token)");
    }
  });

  it("refuses a REST path against a base URL that is the GraphQL endpoint, in any case or encoding", async () => {
    for (const base of [`${gh.url}/graphql`, `${gh.url}/%47raphQL`]) {
      const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request GET /repos/acme/app/pulls/7`, { GITHUB_API_URL: base });
      expect(r.stderr.trim(), base).toContain("ERROR: github: refused GET /repos/acme/app/pulls/7: not a request");
    }
    expect(gh.requests).toEqual([]);
  });

  it("refuses any GraphQL request but the read-only pull request states query, at the transport", async () => {
    const mutation = JSON.stringify({ query: "mutation { mergePullRequest(input: {pullRequestId: \"x\"}) { clientMutationId } }", variables: {} });
    const smuggled = JSON.stringify({
      query: "query PreviewPullRequestStates($owner: String!, $name: String!, $n0: Int!) { repository(owner: $owner, name: $name) { p0: pullRequest(number: $n0) { number state } } } mutation M { updateRef(input: {}) { clientMutationId } }",
      variables: { owner: "acme", name: "app", n0: 7 },
    });
    for (const body of [mutation, smuggled]) {
      const r = await run(`_github_auth_file auth ghs_x\n_github_http POST "" '${body}' "$auth"`, { GITHUB_API_URL: `${gh.url}/graphql` });
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe("ERROR: github: refused POST to the GraphQL endpoint: only the read-only pull request states query is sent (no mutation); nothing was sent");
    }
    expect(gh.requests).toEqual([]);
  });

  it("guards the transport too: a token request's own path cannot be bent to another route", async () => {
    const r = await run(`_github_auth_file auth ghs_x\n_github_http PUT /repos/acme/app/pulls/7/merge '{}' "$auth"`);
    expect(r.stderr.trim()).toBe("ERROR: github: refused PUT /repos/acme/app/pulls/7/merge: not a request this pipeline makes (not on lib/github.sh's allowlist); nothing was sent");
    expect(gh.requests).toEqual([]);
  });

  it("sends a used route whatever the case of its method, and percent-encoded, as GitHub routes it", async () => {
    const r = await run(`${TOKEN}github_request get /repos/acme/app/pulls/%37 | jq -r .head.sha`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(SHA);
    expect(gh.requests.at(-1)).toMatchObject({ method: "GET" });
  });

  it("sends deploy's reads of a commit's build (check runs, combined status), and only by full SHA", async () => {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const r = await run(`${TOKEN}GITHUB_ALLOW_STATUS=403 github_request GET "/repos/acme/app/commits/${sha}/check-runs?check_name=build&filter=latest" >/dev/null
GITHUB_ALLOW_STATUS=403 github_request GET /repos/acme/app/commits/${sha}/status >/dev/null
github_request GET /repos/acme/app/commits/0123456/check-runs || true`);
    // Both reached GitHub (which answers 403: this token was not given checks or statuses read).
    expect(gh.requests.slice(1).map((q) => [q.operationId, q.status])).toEqual([["checks/list-for-ref", 403], ["repos/get-combined-status-for-ref", 403]]);
    expect(r.stderr.trim()).toBe("ERROR: github: refused GET /repos/acme/app/commits/0123456/check-runs: not a request this pipeline makes (not on lib/github.sh's allowlist); nothing was sent");
    expect(gh.violations).toEqual([]);
  });

  it("refuses a body that is not JSON", async () => {
    const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request POST /repos/acme/app/pulls/7/reviews 'event=APPROVE'`);
    expect(r.stderr.trim()).toBe("ERROR: github_request: BODY_JSON must be a JSON object or array");
    expect(gh.requests).toEqual([]);
  });

  it("refuses a base URL that is not http(s)", async () => {
    const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request GET /repos/acme/app/pulls/7`, { GITHUB_API_URL: "file:///etc/passwd" });
    expect(r.stderr.trim()).toBe("ERROR: GITHUB_API_URL: must be an http(s) URL without whitespace or quotes");
  });

  it("refuses a retry setting out of bounds", async () => {
    const r = await run(`GITHUB_TOKEN=ghs_x\ngithub_request GET /repos/acme/app/pulls/7`, { GITHUB_RETRY_ATTEMPTS: "50" });
    expect(r.stderr.trim()).toBe("ERROR: GITHUB_RETRY_ATTEMPTS: must be an integer from 1 to 10");
  });

  it("talks to a GitHub Enterprise Server base URL (/api/v3)", async () => {
    const ghes = await startFakeGitHub({
      apiPrefix: "/api/v3",
      apps: [{ appId: "100003", slug: "qa", publicKey: key.publicKey, installations: [{ id: 200003, owner: "acme", repositories: ["app"], permissions: { pull_requests: "read" } }] }],
    });
    try {
      ghes.addPull({ owner: "acme", repo: "app", number: 7, headSha: SHA });
      const r = await run(`GITHUB_TOKEN=$(github_installation_token acme app '{"pull_requests":"read"}')\ngithub_request GET /repos/acme/app/pulls/7 | jq -r .head.sha`, { GITHUB_API_URL: `${ghes.url}/` });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(`${SHA}\n`);
      expect(ghes.violations).toEqual([]);
    } finally {
      await ghes.close();
    }
  });

  it("works with busybox tools, retries included", async () => {
    gh.enqueue("pulls/get", { status: 502 });
    const r = await run(`${TOKEN}github_request GET /repos/acme/app/pulls/7 | jq -r .head.sha`, {}, [busyboxDir()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${SHA}\n`);
  });
});
