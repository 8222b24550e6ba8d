/**
 * The approve step, run for real from the rendered template (bash, curl, jq, openssl) against the
 * fake GitHub: every request checked against GitHub's OpenAPI description, the app JWT verified with
 * the public key, merge routes refused.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate, type StepResult } from "../../simulator/argo-step";
import { busyboxDir } from "../helpers/busybox";
import { appKey, startFakeGitHub, type FakeGitHub } from "../../simulator/fake-github";
import { implementationDag, previewRender, templateNamed } from "../helpers/render";

const OWNER = "example-org";
const REPO = "example-app";
const PR = 42;
const TESTED = "c0ffee".padEnd(40, "0");
const NEWER = "d".repeat(40);
const WORKFLOW = { name: "implementation-dag-x7k2p", namespace: "argo", parameters: { owner: OWNER, repo: REPO, pr: String(PR) } };
const SUMMARY = "| endpoint | success | p95 |\n|---|---|---|\n| https://pr-42.preview.example.com/ | 100% | 12 ms |\n";

const qaKey = appKey("qa");
const work = mkdtempSync(path.join(tmpdir(), "approve-test-"));
const keyFile = path.join(work, "qa.pem");
writeFileSync(keyFile, qaKey.privateKeyPem, { mode: 0o600 });

let template: ITemplate;
beforeAll(async () => {
  template = templateNamed(implementationDag(await previewRender()), "approve");
});

let gh: FakeGitHub;
beforeEach(async () => {
  gh = await startFakeGitHub({
    apps: [{
      appId: "100003", slug: "implementation-dag-qa", publicKey: qaKey.publicKey,
      installations: [{ id: 200003, owner: OWNER, repositories: [REPO], permissions: { pull_requests: "write", contents: "read" } }],
    }],
  });
  gh.addPull({ owner: OWNER, repo: REPO, number: PR, headSha: TESTED });
});
afterEach(async () => {
  // Whatever the case, nothing the step sent broke GitHub's description or tried to merge.
  expect(gh.violations).toEqual([]);
  await gh.close();
});

/** An acceptance-report directory as acceptance writes it. */
function report(verdict: string | undefined, options: { summary?: string | null } = {}): string {
  const dir = mkdtempSync(path.join(work, "report-"));
  if (verdict !== undefined) {
    writeFileSync(path.join(dir, "report.json"), JSON.stringify({ verdict, summary: { requests: 10, success_pct: 100, p95_ms: 12 } }));
  }
  if (options.summary !== null) writeFileSync(path.join(dir, "summary.md"), options.summary ?? SUMMARY);
  mkdirSync(path.join(dir, "responses"));
  return dir;
}

const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = "ghcr.io/example-org/example-app:sha-c0ffee000000";
/** A container as preview-evidence's pods.json lists it. */
function container(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pod: "example-app-pr-42-7d9f8c6b5d-x2k9q", phase: "Running", container: "app", init: false, image: IMAGE,
    imageID: `ghcr.io/example-org/example-app@${DIGEST}`, digest: DIGEST, ready: true, restartCount: 0, state: "running",
    waitingReason: "", lastTermination: null, ...fields,
  };
}

/** A preview-evidence directory as the step writes it (pods.json only matters to approve); null: no pods.json. */
function evidence(pods: unknown[] | string | null = [container({ restartCount: 1 }), container({ pod: "example-app-pr-42-7d9f8c6b5d-p7w2m", restartCount: 2 })]): string {
  const dir = mkdtempSync(path.join(work, "evidence-"));
  if (pods !== null) writeFileSync(path.join(dir, "pods.json"), typeof pods === "string" ? pods : JSON.stringify(pods));
  writeFileSync(path.join(dir, "events.json"), "[]");
  return dir;
}

interface Options {
  /** Input parameters replacing the valid ones. */
  parameters?: Record<string, string>;
  verdict?: string;
  reportDir?: string;
  evidenceDir?: string;
  commit?: string;
  env?: Record<string, string>;
  pathPrepend?: string[];
}

function approve(options: Options = {}): Promise<StepResult> {
  return runScriptTemplate(template, {
    parameters: { owner: OWNER, repo: REPO, pr: String(PR), commit: options.commit ?? TESTED, host: "pr-42.preview.example.com", ...options.parameters },
    artifacts: { "acceptance-report": options.reportDir ?? report(options.verdict ?? "pass"), "preview-evidence": options.evidenceDir ?? evidence() },
    workflow: WORKFLOW,
    pathPrepend: options.pathPrepend,
    standInEnv: {
      // What the pod gets from Secret github-app-qa (secretKeyRef env and the mounted key file).
      GITHUB_APP_ID: "100003",
      GITHUB_INSTALLATION_ID: "200003",
      GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      // The fake instead of api.github.com, and short backoffs.
      GITHUB_API_URL: gh.url,
      GITHUB_RETRY_BASE_MS: "20",
      ...options.env,
    },
  });
}

const posts = () => gh.requests.filter((r) => r.operationId === "pulls/create-review");

function expectApproved(r: StepResult) {
  expect(r.stderr).not.toMatch(/ERROR/);
  expect(r.code).toBe(0);
  expect(r.outputs.decision).toBe("approved");
  const reviews = gh.reviews(OWNER, REPO, PR);
  expect(reviews.map((x) => [x.login, x.state, x.commitId])).toEqual([["implementation-dag-qa[bot]", "APPROVED", TESTED]]);
  expect(r.outputs.review_url).toBe(`https://github.com/${OWNER}/${REPO}/pull/${PR}#pullrequestreview-${reviews[0].id}`);
  return reviews[0];
}

describe("approve", () => {
  it("approves the tested commit with the evidence and links in the body", async () => {
    const r = await approve();
    const review = expectApproved(r);
    expect(review.body).toContain(SUMMARY.trim());
    expect(review.body).toContain("- Preview: https://pr-42.preview.example.com/");
    expect(review.body).toContain("- Workflow: https://argo.example.com/workflows/argo/implementation-dag-x7k2p");
    expect(review.body).toContain(
      "https://argo.example.com/artifacts/implementation-dag/example-org/example-app/pr-42/implementation-dag-x7k2p/");
    expect(review.body).toContain("evidence for a human reviewer, not a substitute for one");
    // The approval names the commit and the image digests the running pods reported, and links the
    // archived acceptance report and preview evidence (logs, events, restarts).
    expect(review.body).toContain([
      "### What ran",
      "",
      `Commit \`${TESTED}\`, from these images (the digests the running pods report):`,
      "",
      "| pod | container | image | digest |",
      "|---|---|---|---|",
      `| \`example-app-pr-42-7d9f8c6b5d-x2k9q\` | \`app\` | \`${IMAGE}\` | \`${DIGEST}\` |`,
      `| \`example-app-pr-42-7d9f8c6b5d-p7w2m\` | \`app\` | \`${IMAGE}\` | \`${DIGEST}\` |`,
      "",
      "Restarts of the preview's containers: 3.",
    ].join("\n"));
    const archive = "https://argo.example.com/artifacts/implementation-dag/example-org/example-app/pr-42/implementation-dag-x7k2p";
    expect(review.body).toContain(`- Acceptance report: ${archive}/acceptance/acceptance-report.tgz\n`);
    expect(review.body).toContain(`- Preview evidence (pod logs, events, restarts, image digests): ${archive}/preview-evidence/preview-evidence.tgz\n`);
    expect(readFileSync(path.join(r.root, "outputs/approve/review.md"), "utf8")).toBe(review.body);
    expect(JSON.parse(readFileSync(path.join(r.root, "outputs/approve/result.json"), "utf8"))).toEqual({
      decision: "approved", commit: TESTED, head: TESTED, review_url: r.outputs.review_url,
    });
    // One token, narrowed to this repository and to pull_requests:write; one write: the review.
    expect(gh.tokens()).toEqual([{ installationId: 200003, repositories: [`${OWNER}/${REPO}`], permissions: { pull_requests: "write", metadata: "read" } }]);
    expect(gh.writes().map((w) => [w.method, w.path, (w.body as { event: string }).event])).toEqual([
      ["POST", `/repos/${OWNER}/${REPO}/pulls/${PR}/reviews`, "APPROVE"],
    ]);
    // The key and the tokens never reach the logs.
    const minted = gh.requests.find((q) => q.operationId === "apps/create-installation-access-token")!.response as { token: string };
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toContain("PRIVATE KEY");
      expect(out).not.toContain(minted.token);
      expect(out).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    }
  });

  for (const verdict of ["fail", "error"]) {
    it(`refuses when acceptance says ${verdict}, and sends nothing to GitHub`, async () => {
      const r = await approve({ verdict });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ERROR: acceptance-report: verdict is "${verdict}"; refusing to approve\n`);
      expect(r.outputs.decision).toBe("refused");
      expect(gh.requests).toEqual([]);
    });
  }

  it("refuses when report.json is missing, and sends nothing", async () => {
    const r = await approve({ reportDir: report(undefined) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: acceptance-report: report.json is missing; refusing to approve\n");
    expect(gh.requests).toEqual([]);
  });

  const noDigest = [
    ["pods.json is missing", null, "pods.json is missing or unreadable"],
    ["pods.json is not a list", "{\"items\": []}", "pods.json is missing or unreadable"],
    ["no pod is running", [container({ phase: "Pending" })], "pods.json names no container of a running pod"],
    ["only an init container ran", [container({ init: true })], "pods.json names no container of a running pod"],
    ["a running container has no digest", [container(), container({ container: "sidecar", imageID: "", digest: "" })], "1 container(s) of running pods have no sha256 image digest (imageID)"],
    ["a digest is not sha256 hex", [container({ digest: "sha256:ZZ" })], "1 container(s) of running pods have no sha256 image digest (imageID)"],
  ] as const;
  for (const [what, pods, why] of noDigest) {
    it(`refuses when it cannot name what ran (${what}), and sends nothing`, async () => {
      const r = await approve({ evidenceDir: evidence(pods === null ? null : typeof pods === "string" ? pods : [...pods]) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^ERROR: preview-evidence: ${why.replace(/[()]/g, "\\$&")}.*; refusing to approve without naming the images that ran\n$`));
      expect(r.outputs.decision).toBe("refused");
      expect(gh.requests).toEqual([]);
    });
  }

  it("renders names and images from the PR's chart only when they are plain names, never as Markdown", async () => {
    const hostile = "evil.example/x:1`|[click](https://evil.example)";
    const r = await approve({ evidenceDir: evidence([container({ image: hostile }), container({ container: "<img src=x>", pod: "p|q" })]) });
    const review = expectApproved(r);
    expect(review.body).toContain(`| \`example-app-pr-42-7d9f8c6b5d-x2k9q\` | \`app\` | (not shown) | \`${DIGEST}\` |\n`);
    expect(review.body).toContain(`| (not shown) | (not shown) | \`${IMAGE}\` | \`${DIGEST}\` |\n`);
    expect(review.body).not.toContain("evil.example");
    expect(review.body).not.toContain("<img");
  });

  it("refuses a report.json without a verdict, and sends nothing", async () => {
    const dir = report("pass");
    writeFileSync(path.join(dir, "report.json"), JSON.stringify({ summary: { success_pct: 100 } }));
    const r = await approve({ reportDir: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: acceptance-report: report.json has no verdict of pass, fail or error; refusing to approve\n");
    expect(gh.requests).toEqual([]);
  });

  it("refuses to approve without summary.md, and sends nothing", async () => {
    const r = await approve({ reportDir: report("pass", { summary: null }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: acceptance-report: summary.md is missing or empty; an approval without its evidence is refused\n");
    expect(gh.requests).toEqual([]);
  });

  it("retries a 502 and then approves once", async () => {
    gh.enqueue("pulls/create-review", { status: 502 });
    const r = await approve();
    expectApproved(r);
    expect(posts().map((p) => p.status)).toEqual([502, 200]);
  });

  it("does not approve twice when GitHub recorded the approval but answered 502", async () => {
    gh.enqueue("pulls/create-review", { status: 502, afterHandling: true });
    const r = await approve();
    expectApproved(r);
    expect(posts().map((p) => p.status)).toEqual([502]);
    expect(r.stdout).toContain("GitHub answered 502 but recorded the review; not posting it again");
  });

  it("waits as Retry-After says on a secondary rate limit, then approves", async () => {
    gh.enqueue("pulls/create-review", {
      status: 403,
      headers: { "retry-after": "1" },
      body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." },
    });
    const r = await approve();
    expectApproved(r);
    const [limited, accepted] = posts();
    expect([limited.status, accepted.status]).toEqual([403, 200]);
    expect(accepted.at - limited.at).toBeGreaterThanOrEqual(1000);
    expect(r.stderr).toContain("HTTP 403, try 1 of 5, retrying in 1.000s");
  });

  it("fails clearly when GitHub keeps failing, after a bounded number of tries", async () => {
    gh.enqueue("pulls/create-review", ...Array.from({ length: 5 }, () => ({ status: 502 })));
    const r = await approve({ env: { GITHUB_RETRY_ATTEMPTS: "3" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`github: POST /repos/${OWNER}/${REPO}/pulls/${PR}/reviews: HTTP 502: Bad Gateway (left to the caller)`);
    expect(r.stderr).toMatch(/ERROR: github: the review was not recorded after 3 tries\n$/);
    expect(r.outputs.decision).toBe("error");
    expect(posts()).toHaveLength(3);
    expect(gh.reviews(OWNER, REPO, PR)).toEqual([]);
  });

  it("does not approve a head that moved: it comments what was tested, once", async () => {
    gh.movePullHead(OWNER, REPO, PR, NEWER);
    const r = await approve();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.outputs.decision).toBe("head-moved");
    const reviews = gh.reviews(OWNER, REPO, PR);
    expect(reviews.map((x) => [x.state, x.commitId])).toEqual([["COMMENTED", TESTED]]);
    expect(reviews[0].body).toContain(`QA acceptance passed for \`${TESTED}\`, which is no longer the head`);
    expect(reviews[0].body).toContain(`moved to \`${NEWER}\``);
    // What was tested includes the images that ran.
    expect(reviews[0].body).toContain(`| \`example-app-pr-42-7d9f8c6b5d-x2k9q\` | \`app\` | \`${IMAGE}\` | \`${DIGEST}\` |`);
    expect(reviews[0].body).toContain(SUMMARY.trim());

    const again = await approve();
    expect(again.code).toBe(0);
    expect(again.outputs.decision).toBe("head-moved");
    expect(gh.reviews(OWNER, REPO, PR)).toHaveLength(1);
  });

  it("does not approve a commit twice", async () => {
    const earlier = gh.addReview(OWNER, REPO, PR, { login: "implementation-dag-qa[bot]", userType: "Bot", state: "APPROVED", commitId: TESTED, body: "approved before" });
    const r = await approve();
    expect(r.code).toBe(0);
    expect(r.outputs.decision).toBe("already-approved");
    expect(r.outputs.review_url).toContain(`#pullrequestreview-${earlier.id}`);
    expect(gh.writes()).toEqual([]);
    expect(gh.reviews(OWNER, REPO, PR)).toHaveLength(1);
  });

  it("finds its earlier approval past the first page of reviews", async () => {
    for (let i = 0; i < 100; i++) gh.addReview(OWNER, REPO, PR, { login: `person${i}`, state: "COMMENTED", commitId: TESTED, body: "note" });
    gh.addReview(OWNER, REPO, PR, { login: "implementation-dag-qa[bot]", userType: "Bot", state: "APPROVED", commitId: TESTED, body: "approved before" });
    const r = await approve();
    expect(r.outputs.decision).toBe("already-approved");
    expect(gh.writes()).toEqual([]);
    expect(gh.requests.filter((q) => q.operationId === "pulls/list-reviews").map((q) => q.query.page)).toEqual(["1", "2"]);
  });

  it("still approves when only a person, or only an older commit, was approved", async () => {
    gh.addReview(OWNER, REPO, PR, { login: "a-human", state: "APPROVED", commitId: TESTED, body: "lgtm" });
    gh.addReview(OWNER, REPO, PR, { login: "implementation-dag-qa[bot]", userType: "Bot", state: "APPROVED", commitId: NEWER, body: "older run" });
    const r = await approve();
    expect(r.code).toBe(0);
    expect(r.outputs.decision).toBe("approved");
    expect(posts()).toHaveLength(1);
  });

  it("refuses to review a closed pull request", async () => {
    gh.addPull({ owner: OWNER, repo: REPO, number: PR, headSha: TESTED, state: "closed" });
    const r = await approve();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: pr: pull request #${PR} is closed; refusing to review it\n`);
    expect(gh.writes()).toEqual([]);
  });

  it("fails clearly with a key that is not the app's, writing nothing", async () => {
    const other = appKey("stranger"); // a key no app has
    const otherFile = path.join(work, "other.pem");
    writeFileSync(otherFile, other.privateKeyPem);
    const r = await approve({ env: { GITHUB_APP_PRIVATE_KEY_FILE: otherFile } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERROR: github: GET /app: HTTP 401");
    expect(r.outputs.decision).toBe("error");
    expect(r.stderr).not.toContain("PRIVATE KEY");
    expect(gh.writes()).toEqual([]);
    expect(gh.tokens()).toEqual([]);
  });

  it("fails clearly for a wrong installation (404), writing nothing", async () => {
    const r = await approve({ env: { GITHUB_INSTALLATION_ID: "999999" } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERROR: github: POST /app/installations/999999/access_tokens: HTTP 404: Not Found");
    expect(r.stderr).toContain(`ERROR: GITHUB_INSTALLATION_ID: no installation token for ${OWNER}/${REPO} from installation 999999`);
    expect(gh.writes()).toEqual([]);
  });

  const badInputs: Array<[string, Options, string]> = [
    ["an abbreviated commit", { commit: "c0ffee1" }, "ERROR: commit: must be the full 40-hex SHA that was deployed and tested"],
    ["a commit with shell in it", { commit: "$(touch /tmp/pwned)".padEnd(40, "0") }, "ERROR: commit: must be the full 40-hex SHA that was deployed and tested"],
    ["an owner with shell in it", { parameters: { owner: "$(id)" } }, "ERROR: owner: must be a GitHub owner: letters, digits and single '-', not at either end, at most 39 characters"],
    ["a repository '..'", { parameters: { repo: ".." } }, "ERROR: repo: must be a GitHub repository name: letters, digits, '.', '-', '_', at most 100 characters, not '.' or '..'"],
    ["a PR number with a leading zero", { parameters: { pr: "042" } }, "ERROR: pr: must be a positive integer without a leading zero, at most 9 digits"],
    ["a host with a space", { parameters: { host: "pr-42.preview.example.com evil" } }, "ERROR: host: must be a lowercase DNS name"],
    ["an Argo UI URL with a quote", { env: { ARGO_UI_URL: "https://argo.example.com/\"onmouseover" } }, "ERROR: ARGO_UI_URL: must be empty or an http(s) URL"],
    ["an artifact location with '..'", { env: { ARTIFACTS_LOCATION: "implementation-dag/../secrets" } }, "ERROR: ARTIFACTS_LOCATION: must be a relative path without '.' or '..' segments"],
  ];
  for (const [what, options, message] of badInputs) {
    it(`refuses ${what} before sending anything`, async () => {
      const r = await approve(options);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`${message}\n`);
      expect(gh.requests).toEqual([]);
    });
  }

  it("approves with busybox's tools too", async () => {
    const r = await approve({ pathPrepend: [busyboxDir()] });
    expectApproved(r);
  });
});

describe("the approve template", () => {
  it("runs without a Kubernetes token and takes the QA app's credentials from Secret github-app-qa", () => {
    expect(template.automountServiceAccountToken).toBe(false);
    const env = template.script!.env!;
    expect(env.filter((e) => e.valueFrom)).toEqual([
      { name: "GITHUB_APP_ID", valueFrom: { secretKeyRef: { name: "github-app-qa", key: "app-id" } } },
      { name: "GITHUB_INSTALLATION_ID", valueFrom: { secretKeyRef: { name: "github-app-qa", key: "installation-id" } } },
    ]);
    expect(env.find((e) => e.name === "GITHUB_APP_PRIVATE_KEY_FILE")?.value).toBe("/etc/implementation-dag/github-app/private-key");
    expect(template.volumes).toEqual([{
      name: "github-app-qa",
      secret: { secretName: "github-app-qa", items: [{ key: "private-key", path: "private-key" }], defaultMode: 0o440 },
    }]);
    expect(template.script!.volumeMounts).toContainEqual({ name: "github-app-qa", mountPath: "/etc/implementation-dag/github-app", readOnly: true });
  });

  it("takes its base URLs from config", () => {
    const env = Object.fromEntries(template.script!.env!.filter((e) => !e.valueFrom).map((e) => [e.name, e.value]));
    expect(env.GITHUB_API_URL).toBe("https://api.github.com");
    expect(env.ARGO_UI_URL).toBe("https://argo.example.com");
    expect(env.ARTIFACTS_URL).toBe("https://argo.example.com/artifacts");
    expect(env.ARTIFACTS_LOCATION).toBe("implementation-dag/{{workflow.parameters.owner}}/{{workflow.parameters.repo}}/pr-{{workflow.parameters.pr}}/{{workflow.name}}");
  });

  it("is shellcheck-clean as rendered (script and library together)", async () => {
    const file = path.join(work, "approve.rendered.sh");
    writeFileSync(file, template.script!.source!);
    const r = await promisify(execFile)("shellcheck", ["-s", "bash", file]).then(() => ({ code: 0, out: "" }), (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }));
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });
});
