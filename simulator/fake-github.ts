/**
 * A recording fake GitHub on 127.0.0.1 for step tests that run scripts for real (curl is a separate
 * process, so in-process mocks cannot see it).
 *
 * What makes it strict:
 * - every request is routed and validated against GitHub's own OpenAPI description
 *   (`@octokit/openapi`, via `openapi-backend`): an unknown route, a bad parameter or body, a
 *   missing `User-Agent` is a {@link FakeGitHub.violations violation};
 * - `/app/...` routes and `GET /repos/{owner}/{repo}/installation` need an RS256 app JWT, verified
 *   (`jose`) with the app's public key, with GitHub's time rules (iat not in the future beyond 60 s
 *   of skew, exp in the future and at most 10 minutes ahead, iss = the app's id or client id); the
 *   repository's installation is the app's installation whose account owns the repository and
 *   which was given access to it, 404 otherwise;
 * - repository routes need an installation token minted here, and answer 404 outside the token's
 *   repositories and 403 without the permission the route needs, as GitHub does;
 * - every merge route is refused with a violation: see {@link MERGE_OPERATIONS}; GraphQL answers only
 *   read-only queries of pull requests' states (`repository(owner:, name:) { pN: pullRequest(number:)
 *   { number state } }`, the TTL sweeper's batch), and any mutation is a violation;
 * - a deployment request that does not send `auto_merge: false` is refused with a violation (GitHub's
 *   default merges the default branch into the PR's branch);
 * - the fake's own answers are validated against the description's response schemas, so fixtures
 *   cannot drift from what GitHub really sends.
 *
 * Tests script the world (pull requests and their heads, existing reviews and deployments) and
 * failures (a queue of replies per operation: 5xx, secondary rate limits with `Retry-After`, ...;
 * `afterHandling` makes a reply a failure after GitHub did the work, e.g. a 502 after the deployment
 * was recorded), then assert on {@link FakeGitHub.requests} (every request, in order, with its auth
 * and timing).
 *
 * Typical use:
 * ```ts
 * const key = appKey("qa");
 * const gh = await startFakeGitHub({
 *   apps: [{ appId: "100003", slug: "qa", publicKey: key.publicKey,
 *            installations: [{ id: 200003, owner: "acme", repositories: ["app"],
 *                              permissions: { pull_requests: "write", contents: "read" } }] }],
 * });
 * gh.addPull({ owner: "acme", repo: "app", number: 7, headSha: "a".repeat(40) });
 * gh.enqueue("pulls/create-review", { status: 502 });
 * // run the step with GITHUB_API_URL=gh.url, GITHUB_APP_PRIVATE_KEY_FILE=<key.privateKeyPem on disk>
 * expect(gh.violations).toEqual([]);
 * await gh.close();
 * ```
 */
import { createPublicKey, generateKeyPair, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { OpenAPIBackend, type Document, type Operation } from "openapi-backend";

/** A GitHub App permission level. */
export type PermissionLevel = "read" | "write";
/** GitHub App permissions, e.g. `{ pull_requests: "write", contents: "read" }`. */
export type Permissions = Record<string, PermissionLevel>;

/** One installation of a fake app. */
export interface FakeInstallation {
  /**
   * Installation id: what `GET /repos/{owner}/{repo}/installation` answers for the repositories
   * below, and what `GITHUB_INSTALLATION_ID` names when a step is given it.
   */
  id: number;
  /** The account it is installed on (an app has at most one installation per account). */
  owner: string;
  /** Repository names (without owner) it may access. */
  repositories: string[];
  /** What the installation was granted; tokens can be narrowed to a subset, never widened. */
  permissions: Permissions;
}

/** One fake GitHub App. */
export interface FakeApp {
  /** Numeric app id, as a string (the JWT's `iss` may be it as a number or string). */
  appId: string;
  /** Client id (`Iv…`), also accepted as `iss`. Defaults to none. */
  clientId?: string;
  /** App slug; its reviews and comments are by `<slug>[bot]`. */
  slug: string;
  /** The public half of the app's key: JWTs are verified with it. */
  publicKey: KeyObject;
  /** Where the app is installed. */
  installations: FakeInstallation[];
}

/** Options of {@link startFakeGitHub}. */
export interface FakeGitHubOptions {
  /** The apps that exist. */
  apps: FakeApp[];
  /**
   * Path prefix the API is served under, for GitHub Enterprise Server style base URLs
   * (`"/api/v3"`). Defaults to none (api.github.com style).
   */
  apiPrefix?: string;
}

/** A scripted reply, served instead of the normal answer (see {@link FakeGitHub.enqueue}). */
export interface ScriptedReply {
  /** HTTP status. */
  status: number;
  /** Extra response headers (e.g. `{ "retry-after": "1" }`). */
  headers?: Record<string, string>;
  /** JSON body. Defaults to `{ message: <status text> }`. */
  body?: unknown;
  /**
   * Handle the request as usual first (its effects happen: a review is stored, a token minted), then
   * send this reply instead of the real answer: a gateway error after GitHub did the work.
   * Defaults to false (the request has no effect).
   */
  afterHandling?: boolean;
}

/** How a request authenticated. */
export type RequestAuth =
  | { kind: "none" }
  | { kind: "app"; appId: string }
  | { kind: "installation"; installationId: number; appId: string; repositories: string[]; permissions: Permissions }
  | { kind: "invalid"; reason: string };

/** One request the fake received, in order. */
export interface RecordedRequest {
  method: string;
  /** Path without the API prefix and without the query. */
  path: string;
  query: Record<string, string>;
  /** The OpenAPI operationId, when the route exists. */
  operationId?: string;
  /** Request headers, `authorization` removed. */
  headers: Record<string, string>;
  auth: RequestAuth;
  /** Parsed JSON body (undefined without one). */
  body: unknown;
  /** Status answered. */
  status: number;
  /** Body answered. */
  response: unknown;
  /** Whether the answer came from {@link FakeGitHub.enqueue}. */
  scripted: boolean;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** A pull request of the fake. */
export interface FakePull {
  owner: string;
  repo: string;
  number: number;
  /** Full 40-hex SHA of the head. */
  headSha: string;
  /** Defaults to `"open"`. */
  state?: "open" | "closed";
  /** Defaults to false. */
  merged?: boolean;
  /** Defaults to `"main"`. */
  baseRef?: string;
  /** Defaults to `"feature"`. */
  headRef?: string;
}

/** A review on a pull request. */
export interface FakeReview {
  id: number;
  /** Author's login (`<slug>[bot]` for an app). */
  login: string;
  /** Author's type. */
  userType: "User" | "Bot";
  state: "APPROVED" | "COMMENTED" | "CHANGES_REQUESTED" | "DISMISSED" | "PENDING";
  commitId: string;
  body: string;
}

/** A comment on an issue or pull request. */
export interface FakeComment {
  id: number;
  login: string;
  body: string;
}

/** A deployment and its statuses. */
export interface FakeDeployment {
  id: number;
  ref: string;
  sha: string;
  environment: string;
  /** The deployment's task (GitHub's default is `deploy`). */
  task: string;
  /** The deployment's payload (GitHub's default is `{}`). */
  payload: Record<string, unknown>;
  /** The request body as sent (`auto_merge`, `required_contexts`, `payload`, …). */
  request: Record<string, unknown>;
  statuses: Array<{ id: number; state: string; environment_url?: string; log_url?: string; description?: string }>;
}

/** A check run's state: its status and, once completed, its conclusion (GitHub's enums). */
export interface FakeCheckRunState {
  status: "queued" | "in_progress" | "completed" | "waiting" | "requested" | "pending";
  conclusion?: "success" | "failure" | "neutral" | "cancelled" | "skipped" | "timed_out" | "action_required";
}

/** A commit status's state (GitHub's combined status reports the latest one per context). */
export type FakeCommitStatusState = "pending" | "success" | "failure" | "error";

/** What a custom handler answers. */
export interface HandlerReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A custom handler for an operation the fake does not serve itself (see {@link FakeGitHub.handle}). */
export type OperationHandler = (request: {
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  auth: RequestAuth;
}) => HandlerReply | Promise<HandlerReply>;

/**
 * Operations that merge, update a PR branch, or move a ref: the fake refuses every one of them and
 * records a violation, whoever asks.
 */
export const MERGE_OPERATIONS: readonly string[] = [
  "pulls/merge",
  "repos/merge",
  "pulls/update-branch",
  "repos/merge-upstream",
  "git/update-ref",
  "git/create-ref",
  "pulls/enable-auto-merge",
];

/** The permission each built-in operation needs (any one of the listed, at least that level). */
const BUILT_IN_PERMISSIONS: Record<string, Array<[string, PermissionLevel]>> = {
  "pulls/get": [["pull_requests", "read"]],
  "pulls/list-reviews": [["pull_requests", "read"]],
  "pulls/create-review": [["pull_requests", "write"]],
  "issues/create-comment": [["issues", "write"], ["pull_requests", "write"]],
  "issues/list-comments": [["issues", "read"], ["pull_requests", "read"]],
  "repos/create-deployment": [["deployments", "write"]],
  "repos/list-deployments": [["deployments", "read"]],
  "repos/create-deployment-status": [["deployments", "write"]],
  "repos/list-deployment-statuses": [["deployments", "read"]],
  "repos/create-commit-status": [["statuses", "write"]],
  "checks/list-for-ref": [["checks", "read"]],
  "repos/get-combined-status-for-ref": [["statuses", "read"]],
};

/** A fake app's key pair: 2048-bit RSA, the private key as GitHub hands it out (PKCS#1 PEM). */
const APP_KEY_PAIR = { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } } as const;

/** The key pair of a private key in PEM. */
const appKeyOf = (privateKeyPem: string): { privateKeyPem: string; publicKey: KeyObject } => ({ privateKeyPem, publicKey: createPublicKey(privateKeyPem) });

/** A fresh key pair for a fake app. */
function generateAppKey(): { privateKeyPem: string; publicKey: KeyObject } {
  return appKeyOf(generateKeyPairSync("rsa", APP_KEY_PAIR).privateKey);
}

const appKeys = new Map<string, ReturnType<typeof generateAppKey>>();
/**
 * The key pair of the fake app NAME, made once per process (or taken from {@link presetAppKeys}): a
 * 2048-bit RSA key takes about half a second to make, and a fake GitHub needs only that its apps'
 * keys differ from one another. A test that needs a key no app has asks for `stranger`'s.
 */
export function appKey(name: string): ReturnType<typeof generateAppKey> {
  let key = appKeys.get(name);
  if (!key) appKeys.set(name, (key = generateAppKey()));
  return key;
}

/** Makes the private keys of NAMES (PKCS#1 PEM) all at once, on libuv's threads. */
export async function makeAppKeyPems(names: readonly string[]): Promise<Record<string, string>> {
  const pems = await Promise.all(names.map((name) => new Promise<[string, string]>((resolve, reject) =>
    generateKeyPair("rsa", APP_KEY_PAIR, (error, _publicKey, privateKey) => (error ? reject(error) : resolve([name, privateKey]))))));
  return Object.fromEntries(pems);
}

/** Takes keys made elsewhere (by {@link makeAppKeyPems}), so that {@link appKey} does not make them again. */
export function presetAppKeys(pems: Record<string, string>): void {
  for (const [name, privateKeyPem] of Object.entries(pems)) {
    if (!appKeys.has(name)) appKeys.set(name, appKeyOf(privateKeyPem));
  }
}

/** A schema that takes `null` and nothing else, in OpenAPI 3.0 terms (which has no `null` type). */
const NULL_ONLY = { type: "string", nullable: true, enum: [null] };

/**
 * GitHub's description says "one of these, or null" as `nullable: true` beside `anyOf`, `oneOf` or
 * `allOf` with no `type` (an installation's `account`, for one), which Ajv under openapi-backend
 * refuses to compile ("nullable" cannot be used without "type"), so such an answer could not be
 * checked at all. Rewritten with the same meaning: the alternatives plus one that takes only null.
 * A bare `nullable: true` (any value, or null) just loses the keyword. Nothing becomes looser.
 */
function nullableAlternatives(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) nullableAlternatives(item);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const schema = node as Record<string, unknown>;
  for (const value of Object.values(schema)) nullableAlternatives(value);
  // A nullable enum (a check run's `conclusion` before it completes): GitHub sends null, which
  // OpenAPI 3.0.3 admits only when the enum lists it, as the description does not.
  if (schema.nullable === true && Array.isArray(schema.enum) && !schema.enum.includes(null)) schema.enum = [...(schema.enum as unknown[]), null];
  if (schema.nullable !== true || "type" in schema) return;
  delete schema.nullable;
  if (Array.isArray(schema.anyOf)) schema.anyOf = [...(schema.anyOf as unknown[]), NULL_ONLY];
  else if (Array.isArray(schema.oneOf)) schema.oneOf = [...(schema.oneOf as unknown[]), NULL_ONLY];
  else if (Array.isArray(schema.allOf)) {
    schema.anyOf = [{ allOf: schema.allOf }, NULL_ONLY];
    delete schema.allOf;
  }
}

let definition: Document | undefined;
/** GitHub's REST description (api.github.com), read once per process. */
function githubDescription(): Document {
  if (!definition) {
    definition = JSON.parse(readFileSync(require.resolve("@octokit/openapi/generated/api.github.com.json"), "utf8")) as Document;
    nullableAlternatives(definition.components?.schemas);
    nullableAlternatives(definition.paths);
  }
  return structuredClone(definition);
}

let backend: Promise<OpenAPIBackend> | undefined;
/**
 * The router and validator of GitHub's description, built once per process: they hold no state of
 * a fake (no handlers are registered), and building them reads and clones a 10 MB description and
 * compiles validators, which every fake of a test file would otherwise repeat.
 */
function githubBackend(): Promise<OpenAPIBackend> {
  backend ??= (async () => {
    const api = new OpenAPIBackend({
      definition: githubDescription(),
      quick: true,
      validate: true,
      ajvOpts: { logger: false, validateFormats: false },
    });
    await api.init();
    // The description never changes after init, but openapi-backend rebuilds its flat list of
    // ~1,000 operations on every lookup (twice per route match): keep the first list.
    const operations = api.router.getOperations();
    api.router.getOperations = () => operations;
    return api;
  })();
  return backend;
}

/** Route matches by `METHOD path` (paths repeat across requests and tests; a match tries ~1,000 templates). */
const routes = new Map<string, Operation | undefined>();
function matchRoute(api: OpenAPIBackend, method: string, path: string): Operation | undefined {
  const key = `${method} ${path}`;
  if (!routes.has(key)) routes.set(key, api.router.matchOperation({ method, path, headers: {} }));
  return routes.get(key);
}

const levelAllows = (granted: PermissionLevel | undefined, needed: PermissionLevel) =>
  granted === "write" || (granted === "read" && needed === "read");

/** A running fake GitHub. */
export interface FakeGitHub {
  /** Base URL to use as `GITHUB_API_URL` (includes the API prefix). */
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /**
   * Everything that would be wrong against the real GitHub or breaks a project rule: requests that
   * fail the OpenAPI description, unknown or unserved routes, merge attempts, fixtures that fail
   * the response schema. A correct run leaves it empty.
   */
  violations: string[];
  /** Adds (or replaces) a pull request. */
  addPull(pull: FakePull): void;
  /** Moves a pull request's head to a new commit (someone pushed). */
  movePullHead(owner: string, repo: string, number: number, headSha: string): void;
  /** Adds an existing review; returns it. `userType` defaults to `"User"`. */
  addReview(owner: string, repo: string, number: number, review: Omit<FakeReview, "id" | "userType"> & { userType?: FakeReview["userType"] }): FakeReview;
  /** The reviews on a pull request, oldest first. */
  reviews(owner: string, repo: string, number: number): FakeReview[];
  /** The comments on an issue or pull request, oldest first. */
  comments(owner: string, repo: string, number: number): FakeComment[];
  /** The deployments of a repository, oldest first. */
  deployments(owner: string, repo: string): FakeDeployment[];
  /**
   * Adds an existing deployment (as an earlier run recorded it); returns its id. `task` defaults to
   * `"deploy"` and `payload` to `{}`, GitHub's defaults; `states` are the statuses it already has,
   * oldest first (default none).
   */
  addDeployment(owner: string, repo: string, deployment: { sha: string; environment: string; task?: string; payload?: Record<string, unknown>; states?: string[] }): number;
  /**
   * Adds a check run of a commit (40-hex SHA) named `name`, by the app `app` (default
   * `github-actions`); returns its id. The run is at the first of `states` and moves on to the next
   * each time a request lists it (a build that progresses while deploy polls), staying at the last.
   */
  addCheckRun(owner: string, repo: string, sha: string, name: string, ...states: FakeCheckRunState[]): number;
  /**
   * Sets a commit status of a commit (40-hex SHA) with `context`, moving through `states` as
   * {@link addCheckRun}'s runs do, one step each time the commit's combined status is read.
   */
  addCommitStatus(owner: string, repo: string, sha: string, context: string, ...states: FakeCommitStatusState[]): void;
  /** GraphQL requests received (all), or queries answered for one repository. */
  graphqlQueries(owner?: string, repo?: string): number;
  /**
   * Queues replies for an operation (`"graphql"` for the GraphQL endpoint): the next matching requests (after routing and request
   * validation; before the normal handling unless a reply says `afterHandling`) get these instead
   * of the normal answer, in order.
   */
  enqueue(operationId: string, ...replies: ScriptedReply[]): void;
  /**
   * Serves an operation the fake has no built-in answer for (e.g. `repos/get-content`). With
   * `permission`, an installation token must hold it (the fake answers 403 otherwise); without,
   * any valid token of the repository's installation is accepted.
   */
  handle(operationId: string, handler: OperationHandler, permission?: [string, PermissionLevel]): void;
  /** Requests other than GETs, token minting and (read-only) GraphQL queries: what the code changed on GitHub. */
  writes(): RecordedRequest[];
  /** Tokens minted so far, with what they were narrowed to. */
  tokens(): Array<{ installationId: number; repositories: string[]; permissions: Permissions }>;
  /** What GitHub holds (pull requests, reviews, comments, deployments), to carry to another fake. */
  exportState(): FakeGitHubState;
  /** Takes over a state {@link exportState} gave (replacing what this fake holds). */
  importState(state: FakeGitHubState): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** The data a fake GitHub holds, as plain JSON: what a sequence of simulations shares. */
export interface FakeGitHubState {
  pulls: Array<Required<FakePull>>;
  reviews: Array<[string, FakeReview[]]>;
  comments: Array<[string, FakeComment[]]>;
  deployments: Array<[string, FakeDeployment[]]>;
  /** Check runs and commit statuses per `<owner>/<repo>@<sha>` (absent in states saved before builds were served). */
  checkRuns?: Array<[string, Array<{ id: number; name: string; app: string; states: FakeCheckRunState[]; startedAt: string }>]>;
  commitStatuses?: Array<[string, Array<{ id: number; context: string; states: FakeCommitStatusState[]; at: string }>]>;
  nextId: number;
}

interface Grant {
  appId: string;
  installationId: number;
  repositories: string[];
  permissions: Permissions;
  expiresAt: number;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request", 401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  409: "Conflict", 422: "Validation Failed", 429: "Too Many Requests", 500: "Internal Server Error",
  501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

/** Starts a fake GitHub on 127.0.0.1 (random port). */
export async function startFakeGitHub(options: FakeGitHubOptions): Promise<FakeGitHub> {
  const prefix = (options.apiPrefix ?? "").replace(/\/$/, "");
  const api = await githubBackend();

  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const pulls = new Map<string, Required<FakePull>>();
  const reviews = new Map<string, FakeReview[]>();
  const comments = new Map<string, FakeComment[]>();
  const deployments = new Map<string, FakeDeployment[]>();
  /** Check runs and commit statuses per `<owner>/<repo>@<sha>`, each with the states it moves through. */
  const checkRuns = new Map<string, Array<{ id: number; name: string; app: string; states: FakeCheckRunState[]; startedAt: string }>>();
  const commitStatuses = new Map<string, Array<{ id: number; context: string; states: FakeCommitStatusState[]; at: string }>>();
  const queues = new Map<string, ScriptedReply[]>();
  const custom = new Map<string, { handler: OperationHandler; permission?: [string, PermissionLevel] }>();
  const grants = new Map<string, Grant>();
  /** GraphQL requests: "all", and answered queries per repository key. */
  const graphqlCount = new Map<string, number>();
  let nextId = 1000;

  const pullKey = (owner: string, repo: string, n: number | string) => `${owner.toLowerCase()}/${repo.toLowerCase()}#${n}`;
  const repoKey = (owner: string, repo: string) => `${owner.toLowerCase()}/${repo.toLowerCase()}`;

  /** A response body built from the description's example, validated against its schema. */
  function fromExample(operationId: string, status: number, overrides: (example: Record<string, unknown>) => unknown): unknown {
    const { mock } = api.mockResponseForOperation(operationId, { code: status });
    const body = overrides(structuredClone(mock ?? {}) as Record<string, unknown>);
    const check = api.validateResponse(body, operationId, status);
    if (!check.valid) {
      violations.push(`fake GitHub fixture for ${operationId} ${status} fails the response schema: ${JSON.stringify(check.errors?.slice(0, 3))}`);
    }
    return body;
  }

  const user = (login: string, type: "User" | "Bot", example: Record<string, unknown>) => ({
    ...example,
    login,
    type,
    id: Math.abs([...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)),
  });

  /** Authenticates a request from its Authorization header. */
  async function authenticate(header: string | undefined): Promise<RequestAuth> {
    if (!header) return { kind: "none" };
    const m = /^(?:Bearer|token) (\S+)$/i.exec(header);
    if (!m) return { kind: "invalid", reason: "malformed Authorization header" };
    const credential = m[1];
    const grant = grants.get(credential);
    if (grant) {
      if (grant.expiresAt < Date.now()) return { kind: "invalid", reason: "installation token expired" };
      return { kind: "installation", installationId: grant.installationId, appId: grant.appId, repositories: grant.repositories, permissions: grant.permissions };
    }
    if (credential.split(".").length !== 3) return { kind: "invalid", reason: "unknown token" };
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(credential).alg;
    } catch {
      return { kind: "invalid", reason: "A JSON web token could not be decoded" };
    }
    if (alg !== "RS256") return { kind: "invalid", reason: `JWT alg ${alg} is not RS256` };
    for (const app of options.apps) {
      try {
        const { payload } = await jwtVerify(credential, app.publicKey, { algorithms: ["RS256"], clockTolerance: 0 });
        const now = Math.floor(Date.now() / 1000);
        // GitHub takes iss as a number (app id) or a string (client id); jose types it as a string.
        const iss = (payload as Record<string, unknown>).iss;
        if (String(iss) !== app.appId && (app.clientId === undefined || String(iss) !== app.clientId)) {
          return { kind: "invalid", reason: `JWT iss ${String(iss)} is not app ${app.appId}` };
        }
        if (typeof payload.iat !== "number" || payload.iat > now + 60) return { kind: "invalid", reason: "JWT iat is missing or in the future" };
        if (typeof payload.exp !== "number" || payload.exp > now + 600) return { kind: "invalid", reason: "JWT exp is missing or more than 10 minutes ahead" };
        return { kind: "app", appId: app.appId };
      } catch {
        // not this app's key (or expired): try the next app
      }
    }
    return { kind: "invalid", reason: "A JSON web token could not be decoded (signature does not match any app's key)" };
  }

  const appOf = (appId: string) => options.apps.find((a) => a.appId === appId);

  /** Checks an installation token against a repository route; returns an error reply or undefined. */
  function authorizeRepository(auth: RequestAuth, owner: string, repo: string, needs: Array<[string, PermissionLevel]> | undefined): HandlerReply | undefined {
    if (auth.kind !== "installation") {
      return { status: auth.kind === "app" ? 403 : 401, body: { message: auth.kind === "app" ? "A JSON web token cannot access repositories; use an installation token" : "Requires authentication" } };
    }
    if (!auth.repositories.includes(repoKey(owner, repo))) return { status: 404, body: { message: "Not Found" } };
    if (needs && !needs.some(([p, level]) => levelAllows(auth.permissions[p], level))) {
      return { status: 403, body: { message: "Resource not accessible by integration" } };
    }
    return undefined;
  }

  function mintToken(auth: RequestAuth, installationId: number, body: Record<string, unknown>): HandlerReply {
    if (auth.kind !== "app") return { status: 401, body: { message: auth.kind === "invalid" ? auth.reason : "A JSON web token is required" } };
    const app = appOf(auth.appId);
    const installation = app?.installations.find((i) => i.id === installationId);
    if (!app || !installation) return { status: 404, body: { message: "Not Found" } };
    const asked = (body.repositories as string[] | undefined) ?? installation.repositories;
    const unknown = asked.filter((r) => !installation.repositories.map((x) => x.toLowerCase()).includes(r.toLowerCase()));
    if (unknown.length > 0) return { status: 422, body: { message: `There is at least one repository that does not exist or is not accessible to the parent installation: ${unknown.join(", ")}` } };
    const permissions = (body.permissions as Permissions | undefined) ?? installation.permissions;
    for (const [p, level] of Object.entries(permissions)) {
      if (!levelAllows(installation.permissions[p], level)) {
        return { status: 422, body: { message: `The permissions requested are not granted to this installation: ${p}:${level}` } };
      }
    }
    const token = `ghs_${randomBytes(18).toString("hex")}`;
    const grant: Grant = {
      appId: app.appId,
      installationId,
      repositories: asked.map((r) => repoKey(installation.owner, r)),
      permissions: { ...permissions, metadata: "read" },
      expiresAt: Date.now() + 3600_000,
    };
    grants.set(token, grant);
    const response = fromExample("apps/create-installation-access-token", 201, (ex) => {
      const exampleRepo = ((ex.repositories as Array<Record<string, unknown>> | undefined) ?? [])[0] ?? {};
      return {
        ...ex,
        token,
        expires_at: new Date(grant.expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
        permissions: grant.permissions,
        repository_selection: "selected",
        repositories: asked.map((r) => ({
          ...exampleRepo,
          name: r,
          full_name: `${installation.owner}/${r}`,
          owner: { ...(exampleRepo.owner as Record<string, unknown>), login: installation.owner },
        })),
      };
    });
    return { status: 201, body: response };
  }

  /**
   * `GET /repos/{owner}/{repo}/installation`: with the app's JWT, the app's installation on the
   * repository's owner, when that installation was given access to the repository; 404 otherwise
   * (GitHub does not tell an app about repositories it cannot reach).
   */
  function repositoryInstallation(auth: RequestAuth, owner: string, repo: string): HandlerReply {
    if (auth.kind !== "app") return { status: 401, body: { message: auth.kind === "invalid" ? auth.reason : "A JSON web token is required" } };
    const app = appOf(auth.appId)!;
    const installation = app.installations.find((i) =>
      i.owner.toLowerCase() === owner.toLowerCase() && i.repositories.some((r) => r.toLowerCase() === repo.toLowerCase()));
    if (!installation) return { status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app" } };
    return {
      status: 200,
      body: fromExample("apps/get-repo-installation", 200, (ex) => ({
        ...ex,
        id: installation.id,
        account: { ...(ex.account as Record<string, unknown>), login: installation.owner },
        app_id: Number(app.appId),
        app_slug: app.slug,
        client_id: app.clientId ?? ex.client_id,
        access_tokens_url: `https://api.github.com/app/installations/${installation.id}/access_tokens`,
        repository_selection: "selected",
        permissions: { ...installation.permissions, metadata: "read" },
      })),
    };
  }

  /** Stored deployments, GitHub's list item shape (newest first is the caller's business). */
  const deploymentItem = (owner: string, repo: string, d: FakeDeployment, example: Record<string, unknown>) => ({
    ...example,
    url: `https://api.github.com/repos/${owner}/${repo}/deployments/${d.id}`,
    statuses_url: `https://api.github.com/repos/${owner}/${repo}/deployments/${d.id}/statuses`,
    repository_url: `https://api.github.com/repos/${owner}/${repo}`,
    id: d.id,
    node_id: `DE_${d.id}`,
    ref: d.ref,
    sha: d.sha,
    environment: d.environment,
    original_environment: d.environment,
    task: d.task,
    payload: d.payload,
    description: typeof d.request.description === "string" ? d.request.description : null,
    transient_environment: d.request.transient_environment === true,
    production_environment: d.request.production_environment === true,
  });

  const reviewBody = (owner: string, repo: string, n: number, r: FakeReview) =>
    fromExample("pulls/list-reviews", 200, (ex) => {
      const item = ((ex as unknown as Array<Record<string, unknown>>)[0]) ?? {};
      return [{
        ...item,
        id: r.id,
        node_id: `PRR_${r.id}`,
        user: user(r.login, r.userType, item.user as Record<string, unknown>),
        body: r.body,
        state: r.state,
        commit_id: r.commitId,
        html_url: `https://github.com/${owner}/${repo}/pull/${n}#pullrequestreview-${r.id}`,
        pull_request_url: `https://api.github.com/repos/${owner}/${repo}/pulls/${n}`,
      }];
    }) as Array<Record<string, unknown>>;

  /** Built-in answers. `params` are the route's path parameters. */
  async function builtIn(operationId: string, params: Record<string, string>, query: Record<string, string>, body: Record<string, unknown>, auth: RequestAuth): Promise<HandlerReply | undefined> {
    if (operationId === "apps/create-installation-access-token") return mintToken(auth, Number(params.installation_id), body);
    if (operationId === "apps/get-authenticated") {
      if (auth.kind !== "app") return { status: 401, body: { message: auth.kind === "invalid" ? auth.reason : "A JSON web token is required" } };
      const app = appOf(auth.appId)!;
      return { status: 200, body: fromExample(operationId, 200, (ex) => ({ ...ex, id: Number(app.appId), slug: app.slug, client_id: app.clientId ?? ex.client_id })) };
    }
    if (operationId === "apps/get-repo-installation") return repositoryInstallation(auth, params.owner, params.repo);
    const { owner, repo } = params;
    const cus = custom.get(operationId);
    if (cus) {
      if (owner !== undefined && repo !== undefined) {
        const denied = authorizeRepository(auth, owner, repo, cus.permission ? [cus.permission] : undefined);
        if (denied) return denied;
      }
      return undefined; // served by the custom handler
    }
    const needs = BUILT_IN_PERMISSIONS[operationId];
    if (!needs || owner === undefined || repo === undefined) return undefined;
    const denied = authorizeRepository(auth, owner, repo, needs);
    if (denied) return denied;
    const appLogin = auth.kind === "installation" ? `${appOf(auth.appId)?.slug ?? "app"}[bot]` : "unknown";
    const n = Number(params.pull_number ?? params.issue_number);

    switch (operationId) {
      case "pulls/get": {
        const pull = pulls.get(pullKey(owner, repo, n));
        if (!pull) return { status: 404, body: { message: "Not Found" } };
        return {
          status: 200,
          body: fromExample(operationId, 200, (ex) => {
            const head = ex.head as Record<string, unknown>;
            const base = ex.base as Record<string, unknown>;
            return {
              ...ex,
              number: n,
              state: pull.state,
              merged: pull.merged,
              url: `https://api.github.com/repos/${owner}/${repo}/pulls/${n}`,
              html_url: `https://github.com/${owner}/${repo}/pull/${n}`,
              // GitHub's own example lacks a field its schema requires here.
              requested_teams: [],
              head: { ...head, sha: pull.headSha, ref: pull.headRef },
              base: { ...base, ref: pull.baseRef },
            };
          }),
        };
      }
      case "pulls/list-reviews": {
        if (!pulls.has(pullKey(owner, repo, n))) return { status: 404, body: { message: "Not Found" } };
        const perPage = Math.min(Number(query.per_page ?? 30), 100);
        const page = Number(query.page ?? 1);
        const all = reviews.get(pullKey(owner, repo, n)) ?? [];
        const slice = all.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        if (page * perPage < all.length) {
          headers.link = `<${serverUrl}/repos/${owner}/${repo}/pulls/${n}/reviews?per_page=${perPage}&page=${page + 1}>; rel="next"`;
        }
        return { status: 200, headers, body: slice.flatMap((r) => reviewBody(owner, repo, n, r)) };
      }
      case "pulls/create-review": {
        const pull = pulls.get(pullKey(owner, repo, n));
        if (!pull) return { status: 404, body: { message: "Not Found" } };
        const event = body.event as string | undefined;
        if (event === undefined) return { status: 422, body: { message: "a pending review is not what this pipeline posts: event is required here" } };
        const commitId = (body.commit_id as string | undefined) ?? pull.headSha;
        if (!/^[0-9a-f]{40}$/.test(commitId)) return { status: 422, body: { message: "commit_id must be a full SHA" } };
        if (pull.state !== "open") return { status: 422, body: { message: "Can not approve a closed pull request" } };
        const state = event === "APPROVE" ? "APPROVED" : event === "REQUEST_CHANGES" ? "CHANGES_REQUESTED" : "COMMENTED";
        if (state !== "APPROVED" && !body.body) return { status: 422, body: { message: "Body is required for this event" } };
        const review: FakeReview = { id: nextId++, login: appLogin, userType: "Bot", state, commitId, body: String(body.body ?? "") };
        const list = reviews.get(pullKey(owner, repo, n)) ?? [];
        list.push(review);
        reviews.set(pullKey(owner, repo, n), list);
        return {
          status: 200,
          body: fromExample(operationId, 200, (ex) => ({ ...reviewBody(owner, repo, n, review)[0], _links: ex._links })),
        };
      }
      case "issues/create-comment": {
        const comment: FakeComment = { id: nextId++, login: appLogin, body: String(body.body ?? "") };
        const list = comments.get(pullKey(owner, repo, n)) ?? [];
        list.push(comment);
        comments.set(pullKey(owner, repo, n), list);
        return {
          status: 201,
          body: fromExample(operationId, 201, (ex) => ({
            ...ex,
            id: comment.id,
            body: comment.body,
            user: user(appLogin, "Bot", ex.user as Record<string, unknown>),
            html_url: `https://github.com/${owner}/${repo}/pull/${n}#issuecomment-${comment.id}`,
          })),
        };
      }
      case "issues/list-comments": {
        const list = comments.get(pullKey(owner, repo, n)) ?? [];
        return {
          status: 200,
          body: fromExample(operationId, 200, (ex) => {
            const item = (ex as unknown as Array<Record<string, unknown>>)[0] ?? {};
            return list.map((c) => ({ ...item, id: c.id, body: c.body, user: user(c.login, c.login.endsWith("[bot]") ? "Bot" : "User", item.user as Record<string, unknown>) }));
          }),
        };
      }
      case "repos/create-deployment": {
        if (body.auto_merge !== false) {
          violations.push(`POST /repos/${owner}/${repo}/deployments without auto_merge: false (GitHub's default merges the default branch into the PR's branch)`);
          return { status: 409, body: { message: "auto_merge must be false: this pipeline never merges" } };
        }
        // GitHub takes the payload as an object or as a JSON text of one.
        let payload: unknown = body.payload ?? {};
        if (typeof payload === "string") {
          try {
            payload = JSON.parse(payload);
          } catch {
            return { status: 422, body: { message: "payload is not valid JSON" } };
          }
        }
        if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return { status: 422, body: { message: "payload must be an object" } };
        const d: FakeDeployment = {
          id: nextId++,
          ref: String(body.ref),
          sha: /^[0-9a-f]{40}$/.test(String(body.ref)) ? String(body.ref) : "0".repeat(40),
          environment: String(body.environment ?? "production"),
          task: typeof body.task === "string" ? body.task : "deploy",
          payload: payload as Record<string, unknown>,
          request: body,
          statuses: [],
        };
        const list = deployments.get(repoKey(owner, repo)) ?? [];
        list.push(d);
        deployments.set(repoKey(owner, repo), list);
        return { status: 201, body: fromExample(operationId, 201, (ex) => deploymentItem(owner, repo, d, ex)) };
      }
      case "repos/list-deployments": {
        // GitHub's filters (each exact, absent = any), newest first, paginated like every list.
        const list = (deployments.get(repoKey(owner, repo)) ?? []).filter((d) =>
          (query.sha === undefined || d.sha === query.sha) && (query.ref === undefined || d.ref === query.ref) &&
          (query.task === undefined || d.task === query.task) && (query.environment === undefined || d.environment === query.environment)).reverse();
        const perPage = Math.min(Number(query.per_page ?? 30), 100);
        const page = Number(query.page ?? 1);
        const headers: Record<string, string> = {};
        if (page * perPage < list.length) {
          const next = new URLSearchParams({ ...query, per_page: String(perPage), page: String(page + 1) });
          headers.link = `<${serverUrl}/repos/${owner}/${repo}/deployments?${next.toString()}>; rel="next"`;
        }
        return {
          status: 200,
          headers,
          body: fromExample(operationId, 200, (ex) => {
            const item = (ex as unknown as Array<Record<string, unknown>>)[0] ?? {};
            return list.slice((page - 1) * perPage, page * perPage).map((d) => deploymentItem(owner, repo, d, item));
          }),
        };
      }
      case "repos/create-deployment-status":
      case "repos/list-deployment-statuses": {
        const d = (deployments.get(repoKey(owner, repo)) ?? []).find((x) => x.id === Number(params.deployment_id));
        if (!d) return { status: 404, body: { message: "Not Found" } };
        if (operationId === "repos/list-deployment-statuses") {
          return {
            status: 200,
            body: fromExample(operationId, 200, (ex) => {
              const item = (ex as unknown as Array<Record<string, unknown>>)[0] ?? {};
              return [...d.statuses].reverse().map((s) => ({ ...item, id: s.id, state: s.state }));
            }),
          };
        }
        const s = {
          id: nextId++,
          state: String(body.state),
          environment_url: body.environment_url as string | undefined,
          log_url: body.log_url as string | undefined,
          description: body.description as string | undefined,
        };
        d.statuses.push(s);
        return { status: 201, body: fromExample(operationId, 201, (ex) => ({ ...ex, id: s.id, state: s.state })) };
      }
      case "checks/list-for-ref": {
        const ref = params.ref.toLowerCase();
        const all = checkRuns.get(`${repoKey(owner, repo)}@${ref}`) ?? [];
        const named = all.filter((r) => query.check_name === undefined || r.name === query.check_name);
        // filter=latest (GitHub's default): the most recent run of each name per app.
        const runs = query.filter === "all" ? named : named.filter((r) => !named.some((o) => o.id > r.id && o.name === r.name && o.app === r.app));
        const answered = runs.map((r) => ({ r, state: r.states[0] }));
        for (const r of runs) if (r.states.length > 1) r.states.shift();
        return {
          status: 200,
          body: fromExample(operationId, 200, (ex) => {
            const item = (ex.check_runs as Array<Record<string, unknown>> | undefined)?.[0] ?? {};
            return {
              total_count: answered.length,
              check_runs: answered.map(({ r, state }) => ({
                ...item,
                id: r.id,
                head_sha: ref,
                name: r.name,
                status: state.status,
                conclusion: state.status === "completed" ? state.conclusion ?? "success" : null,
                started_at: r.startedAt,
                completed_at: state.status === "completed" ? new Date().toISOString() : null,
                app: { ...(item.app as Record<string, unknown>), slug: r.app },
                pull_requests: [],
              })),
            };
          }),
        };
      }
      case "repos/get-combined-status-for-ref": {
        const ref = params.ref.toLowerCase();
        const list = commitStatuses.get(`${repoKey(owner, repo)}@${ref}`) ?? [];
        const states = list.map((c) => ({ c, state: c.states[0] }));
        for (const c of list) if (c.states.length > 1) c.states.shift();
        // GitHub's combined state: failure when any is failure or error, pending when any is pending or none exists.
        const combined = states.some((x) => x.state === "failure" || x.state === "error") ? "failure"
          : states.length === 0 || states.some((x) => x.state === "pending") ? "pending" : "success";
        return {
          status: 200,
          body: fromExample(operationId, 200, (ex) => {
            const item = (ex.statuses as Array<Record<string, unknown>> | undefined)?.[0] ?? {};
            return {
              ...ex,
              state: combined,
              sha: ref,
              total_count: states.length,
              statuses: states.map(({ c, state }) => ({ ...item, id: c.id, context: c.context, state, description: `Build ${state}`, created_at: c.at, updated_at: c.at })),
            };
          }),
        };
      }
      case "repos/create-commit-status":
        return { status: 201, body: fromExample(operationId, 201, (ex) => ({ ...ex, id: nextId++, state: body.state, context: body.context ?? "default" })) };
    }
    return undefined;
  }

  /**
   * GraphQL, read-only and only what the sweeper asks: pull requests' states of one repository by
   * aliased `pullRequest(number: $var) { number state }` fields. A mutation, an unknown field, an
   * undeclared variable or a repository the token cannot read is an error, as on GitHub; a mutation
   * is also a violation.
   */
  function graphql(raw: unknown, auth: RequestAuth): HandlerReply {
    const bad = (message: string, violation?: string): HandlerReply => {
      if (violation) violations.push(`POST /graphql: ${violation}`);
      return { status: violation ? 403 : 200, body: { errors: [{ message }] } };
    };
    const request = (raw ?? {}) as { query?: unknown; variables?: unknown };
    if (typeof request.query !== "string") return { status: 400, body: { message: "Problems parsing JSON: no query" } };
    const query = request.query;
    const variables = (request.variables ?? {}) as Record<string, unknown>;
    if (/^\s*mutation\b/.test(query) || /\bmutation\s*[({]/.test(query)) return bad("mutations are refused", "GraphQL mutation (this pipeline only reads)");
    if (auth.kind !== "installation") return { status: 401, body: { message: "This endpoint requires you to be authenticated." } };
    const head = /^\s*query(?:\s+\w+)?\s*\(([^)]*)\)\s*\{\s*repository\s*\(\s*owner:\s*\$owner\s*,\s*name:\s*\$name\s*\)\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*\}\s*$/.exec(query);
    if (!head) return bad("the fake GitHub answers only repository(owner: $owner, name: $name) { alias: pullRequest(number: $n) { number state } ... }");
    const declared = new Map<string, string>();
    for (const d of head[1].split(",").map((x) => x.trim()).filter(Boolean)) {
      const m = /^\$(\w+)\s*:\s*(String!|Int!)$/.exec(d);
      if (!m) return bad(`bad variable declaration ${d}`);
      declared.set(m[1], m[2]);
    }
    for (const [name, type] of declared) {
      const v = variables[name];
      if (type === "String!" ? typeof v !== "string" : !Number.isInteger(v)) return bad(`Variable $${name} of type ${type} was provided invalid value`);
    }
    if (!declared.has("owner") || !declared.has("name")) return bad("Variable $owner or $name is not declared");
    const owner = String(variables.owner);
    const repo = String(variables.name);
    const fields = head[2].trim();
    const field = /^(\w+)\s*:\s*pullRequest\s*\(\s*number:\s*\$(\w+)\s*\)\s*\{([^{}]*)\}\s*/;
    const selections: Array<{ alias: string; variable: string; wanted: string[] }> = [];
    for (let rest = fields; rest.length > 0;) {
      const m = field.exec(rest);
      if (!m) return bad(`unsupported selection near: ${rest.slice(0, 40)}`);
      const wanted = m[3].trim().split(/\s+/);
      if (wanted.some((f) => !["number", "state", "merged", "closed"].includes(f))) return bad(`Field '${wanted.join(" ")}' doesn't exist on type 'PullRequest'`);
      if (declared.get(m[2]) !== "Int!") return bad(`Variable $${m[2]} is used but not declared as Int!`);
      selections.push({ alias: m[1], variable: m[2], wanted });
      rest = rest.slice(m[0].length);
    }
    if (selections.length > 100) return bad("a query may select at most 100 pull requests here");
    if (!auth.repositories.includes(repoKey(owner, repo)) || !levelAllows(auth.permissions.pull_requests, "read")) {
      return { status: 200, body: { data: { repository: null }, errors: [{ type: "NOT_FOUND", path: ["repository"], message: `Could not resolve to a Repository with the name '${owner}/${repo}'.` }] } };
    }
    graphqlCount.set(repoKey(owner, repo), (graphqlCount.get(repoKey(owner, repo)) ?? 0) + 1);
    const data: Record<string, unknown> = {};
    const errors: unknown[] = [];
    for (const s of selections) {
      const n = Number(variables[s.variable]);
      const pull = pulls.get(pullKey(owner, repo, n));
      if (!pull) {
        data[s.alias] = null;
        errors.push({ type: "NOT_FOUND", path: ["repository", s.alias], message: `Could not resolve to a PullRequest with the number of ${n}.` });
        continue;
      }
      const state = pull.merged ? "MERGED" : pull.state === "closed" ? "CLOSED" : "OPEN";
      const all: Record<string, unknown> = { number: n, state, merged: pull.merged, closed: pull.state === "closed" };
      data[s.alias] = Object.fromEntries(s.wanted.map((f) => [f, all[f]]));
    }
    return { status: 200, body: { data: { repository: data }, ...(errors.length > 0 ? { errors } : {}) } };
  }

  let serverUrl = "";

  async function answer(req: IncomingMessage, raw: string): Promise<{ record: RecordedRequest; reply: HandlerReply }> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = (req.method ?? "GET").toUpperCase();
    const query = Object.fromEntries(url.searchParams.entries());
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k !== "authorization" && v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    const record: RecordedRequest = {
      method, path: url.pathname, query, headers, auth: { kind: "none" }, body: undefined,
      status: 0, response: undefined, scripted: false, at: Date.now(),
    };
    const fail = (status: number, message: string, violation?: string): { record: RecordedRequest; reply: HandlerReply } => {
      if (violation) violations.push(`${method} ${url.pathname}: ${violation}`);
      return { record, reply: { status, body: { message } } };
    };

    if (prefix && !url.pathname.startsWith(`${prefix}/`)) return fail(404, "Not Found", `outside the API prefix ${prefix}`);
    const path = prefix ? url.pathname.slice(prefix.length) : url.pathname;
    record.path = path;
    if (raw.length > 0) {
      try {
        record.body = JSON.parse(raw);
      } catch {
        return fail(400, "Problems parsing JSON", "the body is not JSON");
      }
    }
    if (!headers["user-agent"]) violations.push(`${method} ${path}: no User-Agent header (GitHub refuses such requests)`);
    if (/^\/graphql\/?$/.test(path)) {
      if (method !== "POST") return fail(404, "Not Found", "GraphQL is POST only");
      graphqlCount.set("all", (graphqlCount.get("all") ?? 0) + 1);
      record.operationId = "graphql";
      record.auth = await authenticate(req.headers.authorization);
      const queued = queues.get("graphql");
      const next = queued && queued.length > 0 ? queued.shift()! : undefined;
      if (next) {
        record.scripted = true;
        return { record, reply: { status: next.status, headers: next.headers, body: next.body ?? { message: STATUS_TEXT[next.status] ?? "scripted" } } };
      }
      return { record, reply: graphql(record.body, record.auth) };
    }

    const operation = matchRoute(api, method, path);
    if (!operation) return fail(404, "Not Found", "no such route in GitHub's REST description");
    const operationId = operation.operationId!;
    record.operationId = operationId;
    if (MERGE_OPERATIONS.includes(operationId)) return fail(403, "the fake GitHub refuses every merge", `MERGE ROUTE ${operationId}`);

    const params = api.router.parseRequest({ method, path, headers, query }, operation).params as Record<string, string>;
    const validation = api.validator.validateRequest({ method, path, headers, query, body: record.body }, operation);
    if (!validation.valid) {
      return fail(422, "Invalid request", `fails GitHub's description of ${operationId}: ${JSON.stringify(validation.errors?.slice(0, 3))}`);
    }

    const queued = queues.get(operationId);
    const next = queued && queued.length > 0 ? queued.shift()! : undefined;
    const scripted = (n: ScriptedReply): HandlerReply =>
      ({ status: n.status, headers: n.headers, body: n.body ?? { message: STATUS_TEXT[n.status] ?? "scripted" } });
    record.auth = await authenticate(req.headers.authorization);
    if (next && !next.afterHandling) {
      record.scripted = true;
      return { record, reply: scripted(next) };
    }

    const handled = await (async (): Promise<{ record: RecordedRequest; reply: HandlerReply }> => {
      if (record.auth.kind === "invalid") return { record, reply: { status: 401, body: { message: record.auth.reason } } };
      const body = (record.body ?? {}) as Record<string, unknown>;
      const reply = await builtIn(operationId, params, query, body, record.auth);
      if (reply) return { record, reply };
      const cus = custom.get(operationId);
      if (cus) return { record, reply: await cus.handler({ method, path, params, query, body: record.body, auth: record.auth }) };
      return fail(501, "Not Implemented by the fake", `${operationId} is a GitHub route the fake does not serve (use handle())`);
    })();
    if (next) {
      record.scripted = true;
      return { record, reply: scripted(next) };
    }
    return handled;
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", async () => {
      let result: { record: RecordedRequest; reply: HandlerReply };
      try {
        result = await answer(req, Buffer.concat(parts).toString("utf8"));
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        violations.push(`${req.method} ${req.url}: fake GitHub crashed: ${message}`);
        result = {
          record: { method: req.method ?? "", path: req.url ?? "", query: {}, headers: {}, auth: { kind: "none" }, body: undefined, status: 500, response: undefined, scripted: false, at: Date.now() },
          reply: { status: 500, body: { message } },
        };
      }
      const { record, reply } = result;
      record.status = reply.status;
      record.response = reply.body;
      requests.push(record);
      res.statusCode = reply.status;
      res.setHeader("content-type", "application/json; charset=utf-8");
      res.setHeader("x-github-request-id", `FAKE:${requests.length}`);
      for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
      res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("fake GitHub has no port");
  serverUrl = `http://127.0.0.1:${address.port}${prefix}`;

  return {
    url: serverUrl,
    requests,
    violations,
    addPull(pull) {
      pulls.set(pullKey(pull.owner, pull.repo, pull.number), {
        state: "open", merged: false, baseRef: "main", headRef: "feature", ...pull,
      });
    },
    movePullHead(owner, repo, number, headSha) {
      const pull = pulls.get(pullKey(owner, repo, number));
      if (!pull) throw new Error(`no pull ${owner}/${repo}#${number}`);
      pull.headSha = headSha;
    },
    addReview(owner, repo, number, review) {
      const r: FakeReview = { userType: "User", ...review, id: nextId++ };
      const list = reviews.get(pullKey(owner, repo, number)) ?? [];
      list.push(r);
      reviews.set(pullKey(owner, repo, number), list);
      return r;
    },
    reviews: (owner, repo, number) => [...(reviews.get(pullKey(owner, repo, number)) ?? [])],
    comments: (owner, repo, number) => [...(comments.get(pullKey(owner, repo, number)) ?? [])],
    deployments: (owner, repo) => [...(deployments.get(repoKey(owner, repo)) ?? [])],
    addDeployment(owner, repo, { sha, environment, task = "deploy", payload = {}, states = [] }) {
      const statuses = states.map((state) => ({ id: nextId++, state }));
      const d: FakeDeployment = { id: nextId++, ref: sha, sha, environment, task, payload, request: {}, statuses };
      deployments.set(repoKey(owner, repo), [...(deployments.get(repoKey(owner, repo)) ?? []), d]);
      return d.id;
    },
    addCheckRun(owner, repo, sha, name, ...states) {
      if (!/^[0-9a-f]{40}$/.test(sha) || states.length === 0) throw new Error("addCheckRun: a 40-hex SHA and at least one state");
      const key = `${repoKey(owner, repo)}@${sha}`;
      const run = { id: nextId++, name, app: "github-actions", states: [...states], startedAt: new Date().toISOString() };
      checkRuns.set(key, [...(checkRuns.get(key) ?? []), run]);
      return run.id;
    },
    addCommitStatus(owner, repo, sha, context, ...states) {
      if (!/^[0-9a-f]{40}$/.test(sha) || states.length === 0) throw new Error("addCommitStatus: a 40-hex SHA and at least one state");
      const key = `${repoKey(owner, repo)}@${sha}`;
      // The combined status holds the latest status of each context.
      const others = (commitStatuses.get(key) ?? []).filter((c) => c.context !== context);
      commitStatuses.set(key, [...others, { id: nextId++, context, states: [...states], at: new Date().toISOString() }]);
    },
    graphqlQueries: (owner, repo) => (owner === undefined ? graphqlCount.get("all") ?? 0 : graphqlCount.get(repoKey(owner, repo ?? "")) ?? 0),
    enqueue(operationId, ...replies) {
      if (operationId !== "graphql" && !api.getOperation(operationId)) throw new Error(`enqueue: ${operationId} is not a GitHub operation`);
      queues.set(operationId, [...(queues.get(operationId) ?? []), ...replies]);
    },
    handle(operationId, handler, permission) {
      if (!api.getOperation(operationId)) throw new Error(`handle: ${operationId} is not a GitHub operation`);
      if (MERGE_OPERATIONS.includes(operationId)) throw new Error(`handle: ${operationId} merges; the fake never serves it`);
      custom.set(operationId, { handler, permission });
    },
    writes: () => requests.filter((r) => r.method !== "GET" && r.operationId !== "apps/create-installation-access-token" && r.operationId !== "graphql"),
    tokens: () => [...grants.values()].map((g) => ({ installationId: g.installationId, repositories: [...g.repositories], permissions: { ...g.permissions } })),
    exportState: () => structuredClone({
      pulls: [...pulls.values()], reviews: [...reviews.entries()], comments: [...comments.entries()], deployments: [...deployments.entries()],
      checkRuns: [...checkRuns.entries()], commitStatuses: [...commitStatuses.entries()], nextId,
    }),
    importState(state) {
      const copy = structuredClone(state);
      pulls.clear();
      for (const p of copy.pulls) pulls.set(pullKey(p.owner, p.repo, p.number), p);
      reviews.clear();
      for (const [k, v] of copy.reviews) reviews.set(k, v);
      comments.clear();
      for (const [k, v] of copy.comments) comments.set(k, v);
      deployments.clear();
      for (const [k, v] of copy.deployments) deployments.set(k, v);
      checkRuns.clear();
      for (const [k, v] of copy.checkRuns ?? []) checkRuns.set(k, v);
      commitStatuses.clear();
      for (const [k, v] of copy.commitStatuses ?? []) commitStatuses.set(k, v);
      nextId = Math.max(nextId, copy.nextId);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The env a step gets for the QA app of the lifecycle tests (app 100003, installation 200003) against
 * the fake GitHub `gh`, with the app's key at `keyFile`; retries 10 ms apart.
 */
export function qaAppEnv(gh: { url: string }, keyFile: string): Record<string, string> {
  return {
    GITHUB_API_URL: gh.url,
    GITHUB_GRAPHQL_URL: `${gh.url}/graphql`,
    GITHUB_APP_ID: "100003",
    GITHUB_INSTALLATION_ID: "200003",
    GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
    GITHUB_RETRY_BASE_MS: "10",
  };
}
