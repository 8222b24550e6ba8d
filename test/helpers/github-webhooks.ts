/**
 * GitHub `pull_request` webhook events as Argo Events' GitHub EventSource hands them to a Sensor.
 * The payload starts from a sample of GitHub's own webhook schema (`x-webhooks` of
 * @octokit/openapi, its references resolved here, sampled with mock-json-schema), takes the test's values, and is validated against
 * that schema again, so a test cannot feed the Sensor a payload GitHub would never send. The event
 * data is what the EventSource builds (argo-events `pkg/eventsources/sources/github/start.go`):
 * `{headers, body}`, the request's headers in Go's canonical form, and `X-GitHub-Event` and
 * `X-GitHub-Delivery` copied into the body.
 */
import { readFileSync } from "node:fs";
import Ajv, { type ValidateFunction } from "ajv";
import { mock } from "mock-json-schema";
import type { Json, SensorEvent } from "./argo-events";

/** The `pull_request` actions these tests send. */
export type PullRequestAction = "opened" | "reopened" | "ready_for_review" | "labeled" | "synchronize" | "closed";

interface WebhookDoc {
  "x-webhooks": Record<string, { post: { requestBody: { content: { "application/json": { schema: { required: string[] } } } } } }>;
}

/** OpenAPI 3.0's `nullable` as JSON Schema: the type or null. */
function jsonSchemaOf(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(jsonSchemaOf);
  if (v === null || typeof v !== "object") return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) o[k] = jsonSchemaOf(x);
  if (o.nullable === true) {
    delete o.nullable;
    if (typeof o.type === "string") o.type = [o.type, "null"];
    else if (Array.isArray(o.enum)) o.enum = [...(o.enum as unknown[]), null];
  }
  return o;
}

/**
 * GitHub's REST description with `$ref`s as written (13 MB). Its dereferenced twin in the package
 * holds the same schemas resolved, but is 73 MB: parsing it took 0.7 s and kept 200 MB in the test
 * process for the rest of the suite.
 */
let doc: WebhookDoc | undefined;

/** V with every `$ref` to DOC replaced by what it points at (GitHub's webhook schemas have no cycle). */
function dereferenced(v: unknown, root: unknown, seen: readonly string[] = []): unknown {
  if (Array.isArray(v)) return v.map((x) => dereferenced(x, root, seen));
  if (v === null || typeof v !== "object") return v;
  const ref = (v as { $ref?: unknown }).$ref;
  if (typeof ref === "string") {
    if (seen.includes(ref)) throw new Error(`GitHub's description refers to itself at ${ref}`);
    let target: unknown = root;
    for (const key of ref.replace(/^#\//, "").split("/")) target = (target as Record<string, unknown>)[key.replace(/~1/g, "/").replace(/~0/g, "~")];
    if (target === undefined) throw new Error(`GitHub's description has no ${ref}`);
    return dereferenced(target, root, [...seen, ref]);
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dereferenced(x, root, seen)]));
}
const validators = new Map<PullRequestAction, { sample: Record<string, Json>; validate: ValidateFunction }>();

function webhookOf(action: PullRequestAction) {
  let v = validators.get(action);
  if (!v) {
    doc ??= JSON.parse(readFileSync(require.resolve("@octokit/openapi/generated/api.github.com.json"), "utf8")) as WebhookDoc;
    const hook = dereferenced(doc["x-webhooks"][`pull-request-${action.replace(/_/g, "-")}`], doc) as WebhookDoc["x-webhooks"][string];
    const schema = hook.post.requestBody.content["application/json"].schema;
    const sample = mock(schema as Parameters<typeof mock>[0]) as Record<string, Json>;
    // Optional parts the sampler fills in badly, and which nothing here reads.
    for (const key of ["enterprise", "installation", "organization"]) delete sample[key];
    v = { sample, validate: new Ajv({ strict: false, validateFormats: false, allErrors: true }).compile(jsonSchemaOf(schema) as object) };
    validators.set(action, v);
  }
  return v;
}

/** What a test says about the event. */
export interface PullRequestEventOptions {
  /** `owner/repo` of the base repository. */
  repository: string;
  number: number;
  /** Defaults to false. */
  draft?: boolean;
  /** Names of the labels the PR carries. Defaults to none. */
  labels?: string[];
  /** The label just added (`labeled`). */
  label?: string;
  /** Who caused the event. Defaults to the human `octocat`. */
  sender?: { login: string; type: "User" | "Bot" };
  /** `owner/repo` of the head branch's repository (a fork's differs). Defaults to `repository`. */
  headRepository?: string;
}

type Obj = { [k: string]: Json };
const obj = (v: Json | undefined): Obj => {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("the sampled payload lacks an object the test sets");
  return v;
};

/** The webhook payload GitHub sends, validated against GitHub's schema. */
export function pullRequestPayload(action: PullRequestAction, o: PullRequestEventOptions): Obj {
  const { sample, validate } = webhookOf(action);
  const payload = structuredClone(sample) as Obj;
  const [owner, name] = o.repository.split("/");
  const repo = obj(payload.repository);
  Object.assign(repo, { name, full_name: o.repository });
  Object.assign(obj(repo.owner), { login: owner });
  const pr = obj(payload.pull_request);
  const labelOf = (n: string): Obj => ({
    id: 208045946, node_id: "MDU6TGFiZWwyMDgwNDU5NDY=", url: `https://api.github.com/repos/${o.repository}/labels/${encodeURIComponent(n)}`,
    name: n, description: null, color: "ededed", default: false,
  });
  payload.number = o.number;
  Object.assign(pr, { number: o.number, draft: o.draft ?? false, labels: (o.labels ?? []).map(labelOf), state: action === "closed" ? "closed" : "open" });
  const head = obj(pr.head);
  // The head repository keeps the sample's shape (GitHub's schema for it is not the base's).
  const headRepo = obj(head.repo);
  const [hOwner, hName] = (o.headRepository ?? o.repository).split("/");
  Object.assign(headRepo, { name: hName, full_name: `${hOwner}/${hName}`, fork: hOwner !== owner || hName !== name });
  Object.assign(obj(headRepo.owner), { login: hOwner });
  if (action === "labeled") payload.label = labelOf(o.label ?? "");
  Object.assign(obj(payload.sender), o.sender ?? { login: "octocat", type: "User" });
  if (!validate(payload)) throw new Error(`not a valid ${action} webhook: ${JSON.stringify(validate.errors?.slice(0, 5))}`);
  return payload;
}

/** The event the GitHub EventSource `source`/`eventName` dispatches for a `pull_request` webhook. */
export function pullRequestEvent(source: { name: string; eventName: string }, action: PullRequestAction, o: PullRequestEventOptions): SensorEvent {
  const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
  const body = { ...pullRequestPayload(action, o), "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery };
  return {
    eventSourceName: source.name,
    eventName: source.eventName,
    data: {
      headers: { "X-Github-Event": ["pull_request"], "X-Github-Delivery": [delivery], "Content-Type": ["application/json"] },
      body,
    },
  };
}
