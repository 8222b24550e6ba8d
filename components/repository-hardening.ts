/**
 * Repository hardening (on by default when `github.repositories` lists any; `github.hardenRepositories:
 * false` turns it off, and the stack then says so in a warning output): for each repository the pipeline
 * serves (`github.repositories`), a repository ruleset on the default branch that makes a human's
 * review the gate the QA app's approval can never be:
 * - changes arrive only through pull requests with at least one approving review;
 * - an approval is dismissed when new commits are pushed (stale reviews);
 * - the most recent push must be approved by someone other than its author (last-push approval);
 * - the default branch cannot be deleted or force-pushed;
 * - nobody bypasses it (no bypass actors).
 * Required reviews count only reviews by people with write access; the QA app has no
 * `contents: write`, so its approval is evidence for the reviewer and never satisfies the rule.
 *
 * `allowAutoMerge: false`: the setting lives on the repository itself, and managing it here would
 * mean adopting the whole repository as a `github.Repository` (an import whose every other setting
 * must match, and whose deletion would delete the repository). So this component does not manage the
 * repository: it reads it (`github.getRepository`) and fails the preview and the update, naming the
 * repository and the fix, while auto-merge is allowed. Auto-merge could not skip the ruleset anyway:
 * GitHub merges automatically only once the required human review is there.
 *
 * The provider authenticates as configured for `@pulumi/github` (`github:token` or `GITHUB_TOKEN`,
 * an owner admin's token); its base URL follows `github.apiUrl` (GitHub Enterprise Server too).
 */
import * as pulumi from "@pulumi/pulumi";
import * as github from "@pulumi/github";
import type { StackConfig } from "./config";

/**
 * Whether the stack hardens the repositories it serves: `github.hardenRepositories` when it is set,
 * otherwise on as soon as `github.repositories` lists any (secure by default; off only explicitly).
 */
export function hardeningEnabled(github: Pick<StackConfig["github"], "hardenRepositories" | "repositories">): boolean {
  return github.hardenRepositories ?? github.repositories.length > 0;
}

/**
 * The warning a stack carries when hardening was turned off explicitly (`hardenRepositories: false`),
 * naming the repositories left without it; undefined when hardening is on or was never asked about.
 * The rex and clippy apps hold `contents: write`, so without a required human review only the
 * repositories' own settings stand between them and a merge.
 */
export function hardeningWarning(github: Pick<StackConfig["github"], "hardenRepositories" | "repositories">): string | undefined {
  if (github.hardenRepositories !== false) return undefined;
  const served = github.repositories.map((r) => `${r.owner}/${r.repo}`);
  const which = served.length > 0 ? served.join(", ") : "the repositories the apps are installed on";
  return `repository hardening is off (github.hardenRepositories: false): ${which} get no required human review and no auto-merge check from this stack; the apps with contents: write are stopped from merging only by those repositories' own rules`;
}

/** The ruleset's name on every hardened repository. */
export const RULESET_NAME = "implementation-dag: human review before changes land";

/** One served repository. */
export interface ServedRepository {
  owner: string;
  repo: string;
}

/** The ruleset for one repository, as plain arguments (what the tests and the render read). */
export function hardeningRuleset(target: ServedRepository) {
  return {
    name: RULESET_NAME,
    repository: target.repo,
    target: "branch",
    enforcement: "active",
    conditions: { refName: { includes: ["~DEFAULT_BRANCH"], excludes: [] as string[] } },
    bypassActors: [] as github.types.input.RepositoryRulesetBypassActor[],
    rules: {
      deletion: true,
      nonFastForward: true,
      pullRequest: {
        requiredApprovingReviewCount: 1,
        dismissStaleReviewsOnPush: true,
        requireLastPushApproval: true,
        requireCodeOwnerReview: false,
        requiredReviewThreadResolution: false,
      },
    },
  };
}

/** The problem with a repository's auto-merge setting, or undefined when it is off (or not known yet). */
export function autoMergeProblem(target: ServedRepository, allowAutoMerge: boolean | undefined): string | undefined {
  if (allowAutoMerge !== true) return undefined;
  return `${target.owner}/${target.repo} allows auto-merge; the pipeline requires allowAutoMerge: false. ` +
    "Turn it off in the repository's settings (General > Pull Requests > Allow auto-merge), " +
    "or with the REST API: PATCH the repository with {\"allow_auto_merge\": false}; then run again.";
}

/** The provider base URL for `github.apiUrl`: it must end with a slash. */
export const providerBaseUrl = (apiUrl: string): string => (apiUrl.endsWith("/") ? apiUrl : `${apiUrl}/`);

/** Arguments of {@link RepositoryHardening}. */
export interface RepositoryHardeningArgs {
  /** The typed stack config (`github.repositories`, `github.apiUrl`). */
  config: StackConfig;
}

/** Registers the ruleset of every served repository and checks that auto-merge is off. */
export class RepositoryHardening extends pulumi.ComponentResource {
  /** `owner/repo` of every hardened repository. */
  public readonly repositories: string[];
  /** Per repository, its auto-merge setting as checked: "off" (or "not known yet" under preview mocks). */
  public readonly autoMerge: Record<string, pulumi.Output<string>>;

  constructor(name: string, args: RepositoryHardeningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("implementation-dag:index:RepositoryHardening", name, {}, opts);
    const cfg = args.config;
    if (cfg.github.repositories.length === 0) {
      throw new pulumi.ResourceError("github.hardenRepositories is true but github.repositories is empty: list the repositories to harden, or turn hardening off", this);
    }
    const seen = new Set<string>();
    const providers = new Map<string, github.Provider>();
    const checks: Record<string, pulumi.Output<string>> = {};
    for (const target of cfg.github.repositories) {
      const full = `${target.owner}/${target.repo}`;
      if (seen.has(full.toLowerCase())) throw new pulumi.ResourceError(`github.repositories lists ${full} twice`, this);
      seen.add(full.toLowerCase());
      let provider = providers.get(target.owner);
      if (!provider) {
        provider = new github.Provider(`${name}-${target.owner}`, { owner: target.owner, baseUrl: providerBaseUrl(cfg.github.apiUrl) }, { parent: this });
        providers.set(target.owner, provider);
      }
      new github.RepositoryRuleset(`${name}-${target.owner}-${target.repo}`, hardeningRuleset(target), { parent: this, provider });
      checks[full] = github.getRepositoryOutput({ fullName: full }, { parent: this, provider }).apply((repository) => {
        const problem = autoMergeProblem(target, repository.allowAutoMerge);
        if (problem) throw new pulumi.ResourceError(problem, this);
        return repository.allowAutoMerge === false ? "off" : "not known yet";
      });
    }
    this.repositories = [...cfg.github.repositories.map((r) => `${r.owner}/${r.repo}`)];
    this.autoMerge = checks;
    // Registered so the check is awaited: an allowed auto-merge fails the preview and the update.
    this.registerOutputs({ repositories: this.repositories, autoMerge: this.autoMerge });
  }
}
