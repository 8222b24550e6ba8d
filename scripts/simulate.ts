/**
 * `npm run simulate -- [--owner O --repo R] --pr 123 [--fail-at STAGE] [--state FILE] [--json]`:
 * runs one scenario of the pipeline
 * offline — the rendered WorkflowTemplate, executed by the e2e runner against the stand-in world of
 * the end-to-end tests (a fake cluster behind kubectl and helm, the fake GitHub, the preview app) —
 * and prints what happened, like `argo get`.
 *
 * With `--fail-at STAGE` (set-params, implement, clippy-format, qa-testing, deploy, acceptance,
 * approve) that stage fails as the end-to-end tests make it fail. With `--json` it prints
 * `{phase, nodes: [{name, template, phase}], workflows: [{name, createdBy, template, phase, message}],
 * cluster: {namespaces, releases}, github: {reviews}}`, where `workflows` are the child Workflows the
 * agent steps created (each runs the stand-in of the platform's `coderun-template`); the tree
 * printed without `--json` shows each of them after the pipeline's. `github.deployments` lists every
 * deployment in the world: `{repository, environment, states}`, its statuses' states in order.
 *
 * `--owner` and `--repo` name the pull request's repository (default example-org/example-app; the
 * world's apps are installed on it). With `--state FILE` the world (cluster, GitHub, head commits)
 * is read from FILE when it exists and written back after the run, so a sequence of runs — two
 * repositories' PR 5, a failure after a success — shares one cluster.
 *
 * `npm run simulate -- --uninstall [--state FILE] [--json]` runs the stack's
 * `implementation-dag-uninstall` in the world instead (with `--state`, the world earlier runs left)
 * and prints its tree and report, then what is left: namespaces, releases and every deployment's
 * states (with `--json`: `{phase, nodes, cluster, github: {deployments}}`).
 *
 * Exit status: 0 when the simulation ran, whatever the workflow's phase; 1 when Argo's validation
 * would refuse the submission, or the runner met something it cannot execute (or the world could
 * not start); 2 for bad arguments.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { formatTree, InvalidSpecError, RunnerError } from "../simulator/runner";
import { arrangeFailure, OTHER_REPO, OWNER, REPO, World, type Repository, type Stage, type WorldState } from "../simulator/world";
import { PIPELINE } from "../components/workflow";

const USAGE = `usage: npm run simulate -- [--owner O] [--repo R] --pr N [--fail-at ${PIPELINE.join("|")}] [--state FILE] [--json]
       npm run simulate -- --uninstall [--state FILE] [--json]`;

/** The command line, parsed. */
export interface SimulateArgs {
  pr: number;
  /** The repository's owner. Defaults to example-org. */
  owner?: string;
  /** The repository. Defaults to example-app. */
  repo?: string;
  failAt?: Stage;
  /** Where the world is read from (when it exists) and written back to. */
  state?: string;
  json: boolean;
}

/** Parses the arguments; throws a message naming the bad one. */
export function parseSimulateArgs(argv: string[]): SimulateArgs {
  let pr: number | undefined;
  let failAt: Stage | undefined;
  let json = false;
  let owner: string | undefined;
  let repo: string | undefined;
  let state: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--pr") {
      const v = argv[++i] ?? "";
      if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new Error(`--pr: must be a positive integer without a leading zero, at most 9 digits (got '${v}')`);
      pr = Number(v);
    } else if (a === "--fail-at") {
      const v = argv[++i] ?? "";
      if (!(PIPELINE as readonly string[]).includes(v)) throw new Error(`--fail-at: must be one of ${PIPELINE.join(", ")} (got '${v}')`);
      failAt = v as Stage;
    } else if (a === "--owner") {
      const v = argv[++i] ?? "";
      if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$/.test(v) || v.includes("--")) throw new Error(`--owner: must be a GitHub owner (got '${v}')`);
      owner = v;
    } else if (a === "--repo") {
      const v = argv[++i] ?? "";
      if (!/^[A-Za-z0-9._-]{1,100}$/.test(v) || v === "." || v === "..") throw new Error(`--repo: must be a GitHub repository name (got '${v}')`);
      repo = v;
    } else if (a === "--state") {
      const v = argv[++i] ?? "";
      if (v === "" || v.startsWith("--")) throw new Error("--state: needs a file");
      state = v;
    } else throw new Error(`unknown argument '${a}'`);
  }
  if (pr === undefined) throw new Error("--pr is required");
  return { pr, failAt, json, ...(owner ? { owner } : {}), ...(repo ? { repo } : {}), ...(state ? { state } : {}) };
}

/** What the world's cluster holds, for the JSON report: namespaces and releases. */
function clusterSummary(world: World) {
  return {
    namespaces: [...world.cluster.namespaces.values()].map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {}, annotations: n.metadata.annotations ?? {}, phase: n.status.phase })),
    releases: [...world.cluster.releases.values()].map((r) => ({ name: r.name, namespace: r.namespace, revision: r.revision, status: r.status, chart: r.chart })),
  };
}

/**
 * Runs one scenario in `world` and writes its report with `write`. Returns the exit status: 0 when
 * the simulation ran (whatever the workflow's phase), 1 when Argo would refuse the submission or
 * the runner met something it cannot execute.
 */
export async function simulate(args: SimulateArgs, world: World, write: (text: string) => void, writeError: (text: string) => void): Promise<number> {
  let result;
  try {
    const arranged = args.failAt ? arrangeFailure(world, args.failAt) : {};
    result = await world.run({ pr: args.pr, owner: args.owner ?? OWNER, repo: args.repo ?? REPO, ...arranged });
  } catch (e) {
    const why = e instanceof InvalidSpecError ? "Argo refuses the submission (invalid spec)" : e instanceof RunnerError ? "the runner cannot execute this" : "failed";
    writeError(`simulate: ${why}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const reviews = world.github.reviews(args.owner ?? OWNER, args.repo ?? REPO, args.pr);
  if (args.json) {
    const out = {
      phase: result.phase,
      nodes: result.nodes.map((n) => ({ name: n.displayName, template: n.templateName, phase: n.phase })),
      workflows: result.childWorkflows.map((c) => ({
        name: c.object.metadata.name,
        createdBy: result.nodes.find((n) => n.name === c.createdBy)?.displayName ?? c.createdBy,
        template: c.object.spec.workflowTemplateRef.name,
        phase: c.result?.phase ?? "Running",
        ...(c.result?.message ? { message: c.result.message } : {}),
      })),
      cluster: clusterSummary(world),
      github: {
        reviews: reviews.map((r) => ({ pr: args.pr, user: r.login, state: r.state, commit_id: r.commitId })),
        deployments: world.repositories().flatMap(({ owner, repo }) => world.github.deployments(owner, repo).map((d) => ({
          repository: `${owner}/${repo}`, environment: d.environment, states: d.statuses.map((x) => x.state),
        }))),
      },
    };
    write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  write(formatTree(result));
  const failedPods = [...result.nodes, ...result.childWorkflows.flatMap((c) => c.result?.nodes ?? [])];
  for (const n of failedPods.filter((x) => (x.phase === "Failed" || x.phase === "Error") && (x.stderr || x.stdout))) {
    write(`\n--- ${n.displayName}: last lines of its log\n${`${n.stdout ?? ""}${n.stderr ?? ""}`.trimEnd().split("\n").slice(-12).join("\n")}\n`);
  }
  write(`\ncluster: namespaces ${[...world.cluster.namespaces.keys()].join(", ") || "(none)"}; releases ${world.cluster.releaseNames().join(", ") || "(none)"}\n`);
  write(`github: ${reviews.map((r) => `${r.state} by ${r.login} at ${r.commitId.slice(0, 12)}`).join("; ") || "no review"}\n`);
  return 0;
}

/** `--uninstall [--state FILE] [--json]`, parsed. */
export interface SimulateUninstallArgs {
  /** Where the world is read from (when it exists) and written back to. */
  state?: string;
  json: boolean;
}

/** Parses an uninstall simulation's arguments: undefined without `--uninstall`; throws naming a bad one. */
export function parseUninstallArgs(argv: string[]): SimulateUninstallArgs | undefined {
  if (!argv.includes("--uninstall")) return undefined;
  let json = false;
  let state: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--uninstall") continue;
    if (a === "--json") json = true;
    else if (a === "--state") {
      const v = argv[++i] ?? "";
      if (v === "" || v.startsWith("--")) throw new Error("--state: needs a file");
      state = v;
    } else throw new Error(`--uninstall takes only --state and --json (got '${a}')`);
  }
  return { json, ...(state ? { state } : {}) };
}

/**
 * Runs `implementation-dag-uninstall` in `world` and writes its report with `write`. Returns the exit
 * status as {@link simulate} does.
 */
export async function simulateUninstall(args: SimulateUninstallArgs, world: World, write: (text: string) => void, writeError: (text: string) => void): Promise<number> {
  let result;
  try {
    result = await world.uninstall();
  } catch (e) {
    const why = e instanceof InvalidSpecError ? "Argo refuses the submission (invalid spec)" : e instanceof RunnerError ? "the runner cannot execute this" : "failed";
    writeError(`simulate: ${why}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const deployments = world.repositories().flatMap(({ owner, repo }) => world.github.deployments(owner, repo).map((d) => ({
    repository: `${owner}/${repo}`, environment: d.environment, states: d.statuses.map((x) => x.state),
  })));
  if (args.json) {
    write(`${JSON.stringify({
      phase: result.phase,
      nodes: result.nodes.map((n) => ({ name: n.displayName, template: n.templateName, phase: n.phase })),
      cluster: clusterSummary(world),
      github: { deployments },
    }, null, 2)}\n`);
    return 0;
  }
  write(formatTree(result));
  for (const n of result.nodes.filter((x) => x.type === "Pod")) write(`\n--- ${n.displayName}\n${`${n.stdout ?? ""}${n.stderr ?? ""}`.trimEnd()}\n`);
  write(`\ncluster: namespaces ${[...world.cluster.namespaces.keys()].join(", ") || "(none)"}; releases ${world.cluster.releaseNames().join(", ") || "(none)"}\n`);
  write(`github: ${deployments.map((d) => `${d.repository} ${d.environment}: ${d.states.join(" -> ")}`).join("; ") || "no deployment"}\n`);
  return 0;
}

/** The repositories the world serves: the defaults, the state's and this run's. */
export function repositoriesOf(args: Partial<SimulateArgs>, state?: WorldState): Repository[] {
  const all: Repository[] = [
    { owner: OWNER, repo: REPO }, { owner: OWNER, repo: OTHER_REPO },
    ...(state?.commits ?? []).map(([, c]) => ({ owner: c.owner, repo: c.repo })),
    { owner: args.owner ?? OWNER, repo: args.repo ?? REPO },
  ];
  const seen = new Set<string>();
  return all.filter((r) => !seen.has(`${r.owner}/${r.repo}`) && seen.add(`${r.owner}/${r.repo}`));
}

async function main(): Promise<number> {
  let args: SimulateArgs | SimulateUninstallArgs;
  let uninstall: SimulateUninstallArgs | undefined;
  try {
    uninstall = parseUninstallArgs(process.argv.slice(2));
    args = uninstall ?? parseSimulateArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`simulate: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  let state: WorldState | undefined;
  if (args.state && existsSync(args.state)) {
    try {
      state = JSON.parse(readFileSync(args.state, "utf8")) as WorldState;
    } catch (e) {
      process.stderr.write(`simulate: --state: ${args.state} is not a simulated world (${(e as Error).message})\n`);
      return 2;
    }
  }
  const world = await World.start({ state, repositories: repositoriesOf(uninstall ? {} : args, state) });
  try {
    const write = (t: string) => process.stdout.write(t);
    const writeError = (t: string) => process.stderr.write(t);
    const code = uninstall ? await simulateUninstall(uninstall, world, write, writeError) : await simulate(args as SimulateArgs, world, write, writeError);
    if (args.state) writeFileSync(args.state, `${JSON.stringify(world.exportState())}\n`);
    return code;
  } finally {
    await world.close();
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`simulate: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
