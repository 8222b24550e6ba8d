/**
 * The world around an offline run of the rendered `implementation-dag` WorkflowTemplate:
 * - a stateful stand-in cluster behind recording `kubectl` and `helm` ({@link FakeCluster});
 * - a recording `git` that serves the repository: the fetched commit holds this project's example
 *   chart (`charts/app`), so deploy installs what the chart would really create;
 * - the recording fake GitHub with the three apps of the stack config;
 * - the platform's agent template: the stand-in `coderun-template` (./coderun-template.ts), which
 *   the agents' child Workflows run; its agent is the recording `coderun-agent`, whose outcome each
 *   run scripts per agent (exit code, summary, delay) and whose parameters the world records;
 * - the artifact repository the workflow names (`spec.artifactRepositoryRef`): an
 *   `artifact-repositories` ConfigMap with that key, describing an S3 (MinIO) bucket;
 * - the preview app: an HTTPS server on 127.0.0.1 standing in for the ingress controller. It answers
 *   only hosts of Ingresses the fake cluster holds for a deployed release (404 otherwise, like the
 *   controller's default backend); each test decides the answers. Acceptance reaches it through its
 *   `connect_to` input (config `acceptance.connectTo`), keeping the URL's Host and TLS name; its
 *   certificate is signed by a test CA that the steps trust through `CURL_CA_BUNDLE` (in a cluster the
 *   image's CA store trusts the preview domain's real certificate).
 *
 * The WorkflowTemplate is the real program's render (`renderStack`, as every test reads it) with the
 * stack's config and three values only a running world knows: GitHub's API and web URLs (the fake)
 * and acceptance's `connectTo` (the preview app).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { renderStack, readStackConfig, PROJECT_ROOT, type Render } from "../scripts/offline-render";
import { appKey, startFakeGitHub, type FakeGitHub, type FakeGitHubState } from "./fake-github";
import { startStandIns, type StandIns, type ToolCall, type ToolReply } from "./stand-ins";
import { implementationDag } from "./render";
import { PIPELINE } from "../components/workflow";
import { previewHost, previewNamespace } from "../components/names";
import { UNINSTALL_TEMPLATE_NAME } from "../components/uninstall";
import { FakeCluster, type FakeClusterState, type KubeObj } from "./cluster";
import { AGENT_TASKS } from "../components/workflow/agents";
import { agentParameters, agentWorkflow, CODERUN_AGENT, coderunTemplate } from "./coderun-template";
import { RunnerError, runWorkflow, type WorkflowResult } from "./runner";

const exec = promisify(execFile);

/** The repository every scenario deploys (the stack's example chart lives in it). */
export const OWNER = "example-org";
/** The repository name. */
export const REPO = "example-app";
/** A second repository of the same owner, served by the same apps: another team's app on the cluster. */
export const OTHER_REPO = "example-api";

/** A repository the world serves. */
export interface Repository {
  owner: string;
  repo: string;
}

/** What a world holds between runs, as plain JSON (`npm run simulate -- --state FILE`). */
export interface WorldState {
  cluster: FakeClusterState;
  github: FakeGitHubState;
  /** Head commits: sha to the pull request it is the head of. */
  commits: Array<[string, Repository & { pr: number }]>;
}

/** The preview namespace of `owner/repo`'s PR `pr` under the stack's naming (repository). */
export const nsOf = (pr: number, owner = OWNER, repo = REPO): string => previewNamespace("repository", owner, repo, String(pr));
/** The preview host of `owner/repo`'s PR `pr` under the preview stack's domain. */
export const hostOf = (pr: number, owner = OWNER, repo = REPO): string => previewHost("repository", owner, repo, String(pr), "preview.example.com");

/** The pipeline's agent tasks, for scripting their outcomes. */
export type AgentTask = (typeof AGENT_TASKS)[number]["task"];

/** What the agent stand-in (`coderun-agent`) does in one agent's child Workflow. */
export interface AgentBehaviour {
  /** Exit code. Defaults to 0. */
  code?: number;
  /** What it prints: its summary. Empty means no summary, which errs its Workflow. Defaults to `done`. */
  stdout?: string;
  stderr?: string;
  /** How long it works, in milliseconds. Defaults to 0. */
  delayMs?: number;
}

/** One call of the agent stand-in: which agent, in which child Workflow, with which parameters. */
export interface AgentCall {
  task: AgentTask;
  /** The child Workflow it ran in. */
  workflow: string;
  /** The twelve parameters the agent template gave it. */
  parameters: Record<string, string>;
}

/** What the preview app answers one request with. */
export interface AppReply {
  status: number;
  body?: string;
  /** Delay before answering, in milliseconds. */
  delayMs?: number;
}

/** One request the preview app received. */
export interface AppRequest {
  host: string;
  path: string;
  status: number;
}

/** Options of one run. */
export interface RunOptions {
  pr: number;
  /** The repository's owner. Defaults to {@link OWNER}. */
  owner?: string;
  /** The repository. Defaults to {@link REPO}; {@link OTHER_REPO} is served too. */
  repo?: string;
  /** Extra or replaced workflow parameters. */
  parameters?: Record<string, string>;
  /** What each agent does; it succeeds with a summary when not given. */
  agents?: Partial<Record<AgentTask, AgentBehaviour>>;
  /** The workflow's name; defaults to `implementation-dag-pr<N>-<n>`. */
  name?: string;
}

/** Options of {@link World.start}. */
export interface WorldOptions {
  /**
   * How deploy runs (config `deploy.runner`). With `docsrun` the world also plays the DocsRun
   * controller the seed assumes: it runs the CR's script in a pod of its own (the e2e runner's script
   * execution, with the CR's env and volumes) and reports the outcome in the CR's status.
   * Defaults to the stack's (`pod`).
   */
  deployRunner?: "pod" | "docsrun";
  /** What an earlier world left (cluster, GitHub, commits): this world goes on from there. */
  state?: WorldState;
  /**
   * The repositories the apps are installed on. Defaults to {@link OWNER}/{@link REPO} and
   * {@link OWNER}/{@link OTHER_REPO}. With more than one owner each owner has an installation of its
   * own, and the stack is rendered without configured installation ids, so that each repository's
   * installation is looked up from the app (as a stack serving several owners runs).
   */
  repositories?: Repository[];
}

/** What the DocsRun controller stand-in saw: each CR it ran, and how its pod ended. */
export interface DocsRunRecord {
  object: Record<string, unknown>;
  phase: string;
  stdout: string;
  stderr: string;
}

/** A running world. */
export class World {
  /** The stand-in cluster. */
  readonly cluster = new FakeCluster();
  /** Every request the preview app answered. */
  readonly appRequests: AppRequest[] = [];
  /** Every agent call, across runs. */
  readonly agentCalls: AgentCall[] = [];
  /** DocsRuns the controller stand-in ran. */
  readonly docsRuns: DocsRunRecord[] = [];
  /** What the agents of the current run do. */
  private agents: RunOptions["agents"] = {};
  /** Commits of the repository: sha to the PR number whose head it is. */
  private readonly commits = new Map<string, Repository & { pr: number }>();
  /** How the preview app answers; a test replaces it. */
  respond: (host: string, path: string) => AppReply = World.page;
  /** The preview app's usual answer: a page, 200. */
  private static page(): AppReply {
    return { status: 200, body: "<html><body>example app</body></html>\n" };
  }
  private runs = 0;
  /** The build deploy waits for (the stack's deploy.build): the world's CI publishes it green for every head. */
  private build: { kind: "check-run" | "status" | "none"; name: string } = { kind: "check-run", name: "build" };

  private constructor(
    /** The stack's render the workflow template comes from. */
    readonly render: Render,
    /** The recording fake GitHub. */
    readonly github: FakeGitHub,
    /** The recording kubectl, helm and git (every call, in order). */
    readonly standIns: StandIns,
    private readonly app: HttpsServer,
    private readonly dir: string,
    private readonly secrets: Record<string, Record<string, string>>,
    private readonly configMaps: Record<string, Record<string, string>>,
    private readonly standInEnv: Record<string, string>,
    /** GitHub's web URL as the stack is configured here (the fake's address): git fetches from it. */
    readonly githubWebUrl: string,
    private readonly docsrun: { apiVersion: string; statusField: string; successValues: string[]; failureValues: string[] },
  ) {}

  /** Starts the fake GitHub, the preview app and the stand-ins, then renders the stack against them. */
  static async start(options: WorldOptions = {}): Promise<World> {
    const dir = mkdtempSync(path.join(tmpdir(), "e2e-world-"));
    const tls = await testCertificates(dir);
    const stack = readStackConfig("preview");
    const github = JSON.parse(stack["implementation-dag:github"]) as { apps: Record<string, { appId: string; installationId: string }> } & Record<string, unknown>;
    const acceptance = JSON.parse(stack["implementation-dag:acceptance"]) as Record<string, unknown>;
    const namespace = stack["implementation-dag:namespace"];
    const deploy = JSON.parse(stack["implementation-dag:deploy"]) as { runner: string; docsrun: World["docsrun"]; build?: World["build"] } & Record<string, unknown>;

    // The three apps as the stack config names them; what each is granted follows the README.
    const grants: Record<string, Record<string, "read" | "write">> = {
      rex: { contents: "write", pull_requests: "write", metadata: "read" },
      clippy: { contents: "write", pull_requests: "write", metadata: "read" },
      qa: { contents: "read", pull_requests: "write", deployments: "write", statuses: "write", checks: "read", metadata: "read" },
    };
    const repositories = options.repositories ?? [{ owner: OWNER, repo: REPO }, { owner: OWNER, repo: OTHER_REPO }];
    const owners = [...new Set(repositories.map((r) => r.owner))];
    const lookUp = owners.length > 1;
    const secrets: Record<string, Record<string, string>> = {};
    const apps = Object.entries(github.apps).map(([name, ids]) => {
      const key = appKey(name);
      secrets[`github-app-${name}`] = { "app-id": ids.appId, "installation-id": lookUp ? "" : ids.installationId, "private-key": key.privateKeyPem };
      return {
        appId: ids.appId, slug: `implementation-dag-${name}`, publicKey: key.publicKey,
        installations: owners.map((owner, i) => ({
          id: Number(ids.installationId) + i * 1000, owner,
          repositories: repositories.filter((r) => r.owner === owner).map((r) => r.repo),
          permissions: grants[name] ?? { metadata: "read" },
        })),
      };
    });
    const gh = await startFakeGitHub({ apps });
    const webUrl = gh.url.replace(/\/$/, "");

    // The world object is created before the servers answer, so their handlers can reach it.
    let world: World | undefined;
    const app = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => world!.answer(req, res));
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    const address = app.address();
    if (!address || typeof address === "string") throw new Error("preview app has no port");
    const standIns = await startStandIns(["kubectl", "helm", "git", CODERUN_AGENT], (call) => world!.tool(call));

    const render = await renderStack({
      overrides: {
        github: {
          ...github, apiUrl: webUrl, webUrl,
          ...(lookUp ? { apps: Object.fromEntries(Object.entries(github.apps).map(([name, ids]) => [name, { ...ids, installationId: "" }])) } : {}),
        },
        acceptance: { ...acceptance, connectTo: `127.0.0.1:${address.port}` },
        ...(options.deployRunner ? { deploy: { ...deploy, runner: options.deployRunner } } : {}),
      },
    });
    const configMaps: Record<string, Record<string, string>> = {};
    for (const m of render.manifests) {
      if (m.kind === "ConfigMap" && m.metadata.namespace === namespace && m.metadata.name) {
        configMaps[m.metadata.name] = (m as { data?: Record<string, string> }).data ?? {};
      }
    }
    // The platform's artifact repository, under the name and key the workflow refers to (the
    // controller resolves it before anything runs; a missing one puts the workflow in Error).
    const repoRef = (implementationDag(render).spec as { artifactRepositoryRef?: { configMap?: string; key?: string } }).artifactRepositoryRef;
    if (repoRef) {
      const name = repoRef.configMap || "artifact-repositories";
      configMaps[name] = {
        ...configMaps[name],
        [repoRef.key ?? ""]: [
          "s3:",
          "  bucket: argo-artifacts",
          "  endpoint: minio.argo.svc.cluster.local:9000",
          "  insecure: true",
          "  accessKeySecret:",
          "    name: minio-credentials",
          "    key: accesskey",
          "  secretKeySecret:",
          "    name: minio-credentials",
          "    key: secretkey",
          "",
        ].join("\n"),
      };
    }
    world = new World(render, gh, standIns, app, dir, secrets, configMaps, { ...standIns.env, CURL_CA_BUNDLE: tls.caFile }, webUrl, deploy.docsrun);
    world.build = { kind: deploy.build?.kind ?? "check-run", name: deploy.build?.name ?? "build" };
    if (options.state) world.importState(options.state);
    return world;
  }

  /** The repositories of the pull requests this world has served so far. */
  repositories(): Repository[] {
    const seen = new Map<string, Repository>();
    for (const c of this.commits.values()) seen.set(`${c.owner}/${c.repo}`, { owner: c.owner, repo: c.repo });
    return [...seen.values()];
  }

  /** What this world holds (cluster, GitHub, commits), to go on from in another world. */
  exportState(): WorldState {
    return { cluster: this.cluster.exportState(), github: this.github.exportState(), commits: structuredClone([...this.commits.entries()]) };
  }

  /** Takes over what an earlier world left. */
  private importState(state: WorldState): void {
    this.cluster.importState(state.cluster);
    this.github.importState(state.github);
    this.commits.clear();
    for (const [sha, c] of structuredClone(state.commits)) this.commits.set(sha, c);
  }

  /** The rendered WorkflowTemplate. */
  get workflowTemplate(): unknown {
    return implementationDag(this.render);
  }

  /** The head commit the fake GitHub gives PR `pr` (created on first use). */
  headOf(pr: number, owner = OWNER, repo = REPO): string {
    for (const [sha, c] of this.commits) if (c.pr === pr && c.owner === owner && c.repo === repo) return sha;
    const sha = createHash("sha1").update(`head of ${owner}/${repo}#${pr}`).digest("hex");
    this.commits.set(sha, { owner, repo, pr });
    this.github.addPull({ owner, repo, number: pr, headSha: sha });
    // The repository's CI built the head's image: deploy waits for exactly this before helm runs.
    if (this.build.kind === "check-run") this.github.addCheckRun(owner, repo, sha, this.build.name, { status: "completed", conclusion: "success" });
    if (this.build.kind === "status") this.github.addCommitStatus(owner, repo, sha, this.build.name, "success");
    return sha;
  }

  /** Runs the workflow for one PR. */
  async run(options: RunOptions): Promise<WorkflowResult> {
    this.headOf(options.pr, options.owner ?? OWNER, options.repo ?? REPO);
    const name = options.name ?? `implementation-dag-pr${options.pr}-${++this.runs}`;
    this.agents = options.agents ?? {};
    return runWorkflow(this.workflowTemplate, {
      name,
      parameters: { owner: options.owner ?? OWNER, repo: options.repo ?? REPO, pr: String(options.pr), ...options.parameters },
      workflowTemplates: [coderunTemplate((this.workflowTemplate as { metadata: { namespace: string } }).metadata.namespace)],
      resource: (call) => this.docsRunController(call.action, call.object),
      // The agents' child Workflows live in the cluster too: stop-agents lists and stops them there.
      onChildWorkflow: (child) => {
        const o = structuredClone(child.object) as unknown as KubeObj;
        Object.defineProperty(o, "status", { enumerable: true, get: () => ({ phase: child.result?.phase ?? "Running" }) });
        this.cluster.adopt(o);
      },
      secrets: this.secrets,
      configMaps: this.configMaps,
      pathPrepend: [this.standIns.dir],
      standInEnv: this.standInEnv,
    });
  }

  /**
   * The DocsRun controller the seed assumes: on `create` of a DocsRun it runs `spec.script` under
   * `spec.command` with `spec.env`, `spec.volumes` and `spec.volumeMounts` in a pod of its own, and
   * returns the CR with the configured status field set to the pod's outcome. Any other object, or a
   * spec field it does not know, is refused.
   */
  private async docsRunController(action: string, object: unknown): Promise<unknown> {
    const cr = object as { apiVersion?: string; kind?: string; metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
    if (action !== "create" || cr?.kind !== "DocsRun" || cr.apiVersion !== this.docsrun.apiVersion) {
      throw new RunnerError(`the world has no controller for ${action} of ${cr?.apiVersion}/${cr?.kind}`);
    }
    const spec = cr.spec ?? {};
    const known = ["image", "serviceAccountName", "activeDeadlineSeconds", "command", "script", "env", "resources", "podSecurityContext", "securityContext", "volumes", "volumeMounts"];
    for (const key of Object.keys(spec)) {
      if (!known.includes(key)) throw new RunnerError(`DocsRun controller stand-in: spec.${key} is not understood`);
    }
    const pod = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "WorkflowTemplate",
      metadata: { name: "docsrun-pod", namespace: (this.workflowTemplate as { metadata: { namespace: string } }).metadata.namespace },
      spec: {
        entrypoint: "main",
        volumes: spec.volumes,
        templates: [{
          name: "main",
          activeDeadlineSeconds: spec.activeDeadlineSeconds,
          script: { image: spec.image, command: spec.command, source: spec.script, env: spec.env, volumeMounts: spec.volumeMounts, resources: spec.resources, securityContext: spec.securityContext },
        }],
      },
    };
    const run = await runWorkflow(pod, {
      name: `docsrun-deploy-${this.docsRuns.length + 1}`,
      parameters: {},
      secrets: this.secrets,
      configMaps: this.configMaps,
      pathPrepend: [this.standIns.dir],
      standInEnv: this.standInEnv,
    });
    const main = run.nodes.find((n) => n.type === "Pod");
    const phase = run.phase === "Succeeded" ? this.docsrun.successValues[0] : this.docsrun.failureValues[0];
    this.docsRuns.push({ object: cr as Record<string, unknown>, phase, stdout: main?.stdout ?? "", stderr: main?.stderr ?? "" });
    const status: Record<string, unknown> = {};
    let at = status;
    const parts = this.docsrun.statusField.split(".");
    if (parts[0] !== "status") throw new RunnerError(`DocsRun status field ${this.docsrun.statusField} is not under status`);
    for (const part of parts.slice(1, -1)) at = (at[part] = {}) as Record<string, unknown>;
    at[parts[parts.length - 1]] = phase;
    return { ...cr, status };
  }

  /**
   * Runs the stack's `implementation-dag-uninstall` WorkflowTemplate in this world, as
   * `argo submit --from workflowtemplate/implementation-dag-uninstall --wait` would.
   */
  async uninstall(parameters: Record<string, string> = {}): Promise<WorkflowResult> {
    const template = this.render.manifests.find((m) => m.kind === "WorkflowTemplate" && m.metadata.name === UNINSTALL_TEMPLATE_NAME);
    if (!template) throw new Error(`the render has no WorkflowTemplate ${UNINSTALL_TEMPLATE_NAME}`);
    return runWorkflow(template, {
      name: `${UNINSTALL_TEMPLATE_NAME}-${++this.runs}`,
      parameters,
      secrets: this.secrets,
      configMaps: this.configMaps,
      pathPrepend: [this.standIns.dir],
      standInEnv: this.standInEnv,
    });
  }

  /** Stand-in calls of `tools` since index `from`, as command lines. */
  lines(from = 0, tools = ["kubectl", "helm", "git"]): string[] {
    return this.standIns.calls.slice(from).filter((c) => tools.includes(c.tool)).map((c) => [c.tool, ...c.args].join(" "));
  }

  /** Back to an empty cluster, an empty request log of the app and its usual answer (between tests). */
  fresh(): void {
    this.cluster.reset();
    this.appRequests.length = 0;
    this.respond = World.page;
  }

  /** Stops everything. */
  async close(): Promise<void> {
    await Promise.all([
      this.github.close(),
      this.standIns.close(),
      new Promise<void>((resolve) => this.app.close(() => resolve())),
    ]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  // -- the preview app -------------------------------------------------------------------------

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const url = req.url ?? "/";
    const served = [...this.cluster.releases.values()].some((r) => r.status === "deployed" &&
      r.objects.some((o) => o.kind === "Ingress" && ((o.spec as { rules?: Array<{ host?: string }> } | undefined)?.rules ?? []).some((rule) => rule.host === host)));
    const reply: AppReply = served ? this.respond(host, url) : { status: 404, body: "default backend - 404\n" };
    this.appRequests.push({ host, path: url, status: reply.status });
    setTimeout(() => {
      res.writeHead(reply.status, { "content-type": "text/html" });
      res.end(reply.body ?? "");
    }, reply.delayMs ?? 0);
  }

  // -- the tools -------------------------------------------------------------------------------

  private async tool(call: ToolCall): Promise<ToolReply> {
    if (call.tool === "git") return this.git(call);
    if (call.tool === CODERUN_AGENT) return this.agent(call);
    return this.cluster.handle(call);
  }

  /**
   * The agent stand-in: which agent it is follows from the `github-app` its Workflow was given (the
   * stack config's app per agent); what it does is the run's script for that agent.
   */
  private async agent(call: ToolCall): Promise<ToolReply> {
    const parameters = agentParameters(call);
    const apps = (JSON.parse(readStackConfig("preview")["implementation-dag:agent"]) as { githubApps: Record<string, string> }).githubApps;
    const agent = AGENT_TASKS.find((a) => apps[a.app] === parameters["github-app"]);
    if (!agent) return { stderr: `coderun-agent stand-in: no agent has github-app '${parameters["github-app"]}'
`, code: 97 };
    this.agentCalls.push({ task: agent.task, workflow: agentWorkflow(call), parameters });
    const behaviour = this.agents?.[agent.task] ?? {};
    if (behaviour.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    return { code: behaviour.code ?? 0, stdout: behaviour.stdout ?? `${agent.task}: done
`, stderr: behaviour.stderr ?? "" };
  }

  /**
   * `git` as deploy uses it: `-c init.defaultBranch=… init --quiet DIR`, `-C DIR fetch --quiet
   * --depth 1 --no-tags <web url>/<owner>/<repo>.git SHA` (with a Basic installation token in
   * GIT_CONFIG_*), `-C DIR checkout --quiet --detach FETCH_HEAD`, `-C DIR rev-parse HEAD`.
   * A fetched commit holds this project's charts/app.
   */
  private git(call: ToolCall): ToolReply {
    const line = ["git", ...call.args].join(" ");
    const fail = (why: string): ToolReply => {
      this.cluster.unknown.push(`${line}  (${why})`);
      return { stderr: `fake git: cannot answer: ${line}\n  ${why}\n`, code: 97 };
    };
    let args = call.args;
    let dir = call.cwd;
    while (args[0] === "-c" || args[0] === "-C") {
      if (args[0] === "-C") dir = path.resolve(call.cwd, args[1]);
      else if (!/^init\.defaultBranch=[\w-]+$/.test(args[1] ?? "")) return fail(`-c ${args[1]} not understood`);
      args = args.slice(2);
    }
    const [verb, ...rest] = args;
    if (verb === "init" && rest.length === 2 && rest[0] === "--quiet") {
      const target = path.resolve(dir, rest[1]);
      mkdirSync(path.join(target, ".git"), { recursive: true });
      return {};
    }
    if (!existsSync(path.join(dir, ".git"))) return { stderr: "fatal: not a git repository (or any of the parent directories): .git\n", code: 128 };
    if (verb === "fetch" && rest.length === 6 && rest.slice(0, 4).join(" ") === "--quiet --depth 1 --no-tags") {
      const [url, sha] = rest.slice(4);
      const served = [...this.commits.values()].find((c) => url === `${this.githubWebUrl}/${c.owner}/${c.repo}.git`);
      if (!served) return { stderr: `fatal: repository '${url}' not found\n`, code: 128 };
      const header = call.env.GIT_CONFIG_COUNT === "1" && call.env.GIT_CONFIG_KEY_0 === "http.extraHeader" ? call.env.GIT_CONFIG_VALUE_0 ?? "" : "";
      const basic = /^Authorization: Basic ([A-Za-z0-9+/=]+)$/.exec(header);
      const credential = basic ? Buffer.from(basic[1], "base64").toString("utf8") : "";
      if (!/^x-access-token:ghs_[0-9a-f]+$/.test(credential)) {
        return { stderr: `remote: Invalid username or token.\nfatal: Authentication failed for '${url}'\n`, code: 128 };
      }
      const commit = this.commits.get(sha);
      if (!commit || `${this.githubWebUrl}/${commit.owner}/${commit.repo}.git` !== url) return { stderr: `fatal: remote error: upload-pack: not our ref ${sha}\n`, code: 128 };
      cpSync(path.join(PROJECT_ROOT, "charts", "app"), path.join(dir, "charts", "app"), { recursive: true });
      writeFileSync(path.join(dir, ".git", "FETCH_HEAD"), `${sha}\n`);
      return {};
    }
    if (verb === "checkout" && rest.join(" ") === "--quiet --detach FETCH_HEAD") {
      const fetched = path.join(dir, ".git", "FETCH_HEAD");
      if (!existsSync(fetched)) return { stderr: "fatal: invalid reference: FETCH_HEAD\n", code: 128 };
      writeFileSync(path.join(dir, ".git", "HEAD"), readFileSync(fetched));
      return {};
    }
    if (verb === "rev-parse" && rest.join(" ") === "HEAD") {
      const head = path.join(dir, ".git", "HEAD");
      if (!existsSync(head)) return { stderr: "fatal: ambiguous argument 'HEAD': unknown revision\n", code: 128 };
      return { stdout: readFileSync(head, "utf8") };
    }
    return fail("command line not understood by the fake git");
  }
}

/** The stages of the pipeline, in order (the DAG's tasks). */
export type Stage = (typeof PIPELINE)[number];

/** A parameter value set-params must refuse; it would create this file if it ever ran as code. */
export const hostilePr = (marker: string): string => `$(touch ${marker})`;

/**
 * How each stage is made to fail, for the tests and `npm run simulate -- --fail-at STAGE`: sets the
 * world up and returns what the run needs.
 * - set-params: a hostile `pr` parameter (`$(touch …)`);
 * - implement, clippy-format: the agent exits 1 (its child Workflow fails); qa-testing: the agent
 *   exits 0 without a summary (its child Workflow errs); each agent step fails by its failure condition;
 * - deploy: helm fails (`context deadline exceeded` while waiting);
 * - acceptance: the preview is ready but slow: every answer takes 300 ms, over a p95 threshold of
 *   100 ms submitted as the `max_p95_ms` parameter;
 * - approve: GitHub refuses the review (422, as when the app would approve its own pull request),
 *   which approve does not retry. (Its retries of server errors are the step tests' to time.)
 */
export function arrangeFailure(world: World, stage: Stage, marker = path.join(tmpdir(), `e2e-pwned-${process.pid}`)): Partial<RunOptions> {
  switch (stage) {
    case "set-params": return { parameters: { pr: hostilePr(marker) } };
    case "implement": return { agents: { implement: { code: 1, stderr: "agent failed\n" } } };
    case "clippy-format": return { agents: { "clippy-format": { code: 1, stderr: "clippy found errors\n" } } };
    case "qa-testing": return { agents: { "qa-testing": { stdout: "" } } };
    case "deploy":
      world.cluster.faults.helmInstallFails = "context deadline exceeded";
      return {};
    case "acceptance":
      world.respond = () => ({ status: 200, body: "<html><body>slow</body></html>\n", delayMs: 300 });
      return { parameters: { max_p95_ms: "100" } };
    case "approve":
      world.github.enqueue("pulls/create-review", {
        status: 422,
        body: {
          message: "Unprocessable Entity",
          errors: ["Can not approve your own pull request"],
          documentation_url: "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
          status: "422",
        },
      });
      return {};
  }
}

/** A test CA and a wildcard certificate for the preview domain (real openssl). */
async function testCertificates(dir: string): Promise<{ key: string; cert: string; caFile: string }> {
  const f = (name: string) => path.join(dir, name);
  await exec("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=e2e test CA",
    "-keyout", f("ca.key"), "-out", f("ca.pem"), "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  await exec("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=*.preview.example.com", "-keyout", f("tls.key"), "-out", f("tls.csr")]);
  writeFileSync(f("ext.cnf"), "subjectAltName=DNS:*.preview.example.com,DNS:preview.example.com\nextendedKeyUsage=serverAuth\n");
  await exec("openssl", ["x509", "-req", "-in", f("tls.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", f("ext.cnf"), "-out", f("tls.pem")]);
  return { key: readFileSync(f("tls.key"), "utf8"), cert: readFileSync(f("tls.pem"), "utf8"), caFile: f("ca.pem") };
}
