import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { autoMergeProblem, hardeningEnabled, hardeningRuleset, hardeningWarning, providerBaseUrl, RULESET_NAME } from "../../components/repository-hardening";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";

const previewGithub = () => parseConfig(readStackConfig("preview")).github;

const hardened = (repositories: Array<{ owner: string; repo: string }>, apiUrl = "https://api.github.com") =>
  renderStack({ overrides: { github: { ...previewGithub(), hardenRepositories: true, repositories, apiUrl } } });

/** The preview stack's github config without `hardenRepositories`: the default decides. */
const unset = () => {
  const { hardenRepositories: _explicit, ...rest } = previewGithub();
  return rest;
};

let plain: Render;
let render: Render;
let byDefault: Render;
beforeAll(async () => {
  plain = await renderStack();
  byDefault = await renderStack({ overrides: { github: unset() } });
  render = await hardened([
    { owner: "example-org", repo: "example-app" },
    { owner: "example-org", repo: "other-app" },
    { owner: "second-org", repo: "api" },
  ]);
});

const rulesets = (r: Render) => r.resources.filter((x) => x.type === "github:index/repositoryRuleset:RepositoryRuleset");
const providers = (r: Render) => r.resources.filter((x) => x.type === "pulumi:providers:github");

describe("repository hardening", () => {
  it("is on by default when repositories are listed, with no warning", () => {
    expect(unset()).not.toHaveProperty("hardenRepositories");
    expect(rulesets(byDefault).map((r) => r.inputs.repository)).toEqual(["example-app"]);
    expect(byDefault.outputs.hardenedRepositories).toEqual(["example-org/example-app"]);
    expect(byDefault.outputs.repositoryHardeningWarning).toBe("");
  });

  it("is off only when the stack says hardenRepositories: false, and then the outputs carry a warning naming the repositories", () => {
    expect(previewGithub().hardenRepositories).toBe(false);
    expect(rulesets(plain)).toEqual([]);
    expect(plain.resources.filter((x) => x.type.startsWith("github:") || x.type === "pulumi:providers:github")).toEqual([]);
    expect(plain.outputs.hardenedRepositories).toEqual([]);
    expect(plain.outputs.repositoryHardeningWarning).toBe(
      "repository hardening is off (github.hardenRepositories: false): example-org/example-app get no required human review and no auto-merge check from this stack; the apps with contents: write are stopped from merging only by those repositories' own rules");
  });

  it("decides on or off from the config: explicit value first, else whether repositories are listed", () => {
    const repos = [{ owner: "o", repo: "r" }];
    expect(hardeningEnabled({ hardenRepositories: null, repositories: repos })).toBe(true);
    expect(hardeningEnabled({ hardenRepositories: null, repositories: [] })).toBe(false);
    expect(hardeningEnabled({ hardenRepositories: false, repositories: repos })).toBe(false);
    expect(hardeningEnabled({ hardenRepositories: true, repositories: repos })).toBe(true);
    expect(hardeningWarning({ hardenRepositories: null, repositories: repos })).toBeUndefined();
    expect(hardeningWarning({ hardenRepositories: true, repositories: repos })).toBeUndefined();
    expect(hardeningWarning({ hardenRepositories: false, repositories: [] })).toContain("the repositories the apps are installed on get no required human review");
  });

  it("puts one ruleset on the default branch of each served repository", () => {
    expect(rulesets(render).map((r) => r.inputs.repository)).toEqual(["example-app", "other-app", "api"]);
    for (const r of rulesets(render)) {
      expect(r.inputs).toMatchObject({
        name: RULESET_NAME,
        target: "branch",
        enforcement: "active",
        conditions: { refName: { includes: ["~DEFAULT_BRANCH"], excludes: [] } },
      });
    }
    expect(render.outputs.hardenedRepositories).toEqual(["example-org/example-app", "example-org/other-app", "second-org/api"]);
  });

  it("requires an approving review, dismisses stale approvals on push and requires last-push approval", () => {
    for (const r of rulesets(render)) {
      const rules = r.inputs.rules as Record<string, unknown>;
      expect(rules.pullRequest).toEqual({
        requiredApprovingReviewCount: 1,
        dismissStaleReviewsOnPush: true,
        requireLastPushApproval: true,
        requireCodeOwnerReview: false,
        requiredReviewThreadResolution: false,
      });
      expect(rules).toMatchObject({ deletion: true, nonFastForward: true });
    }
  });

  it("lets nobody bypass the ruleset", () => {
    for (const r of rulesets(render)) expect(r.inputs.bypassActors ?? []).toEqual([]);
  });

  it("uses one provider per owner, at the configured API (GitHub Enterprise Server too)", async () => {
    expect(providers(render).map((p) => [p.inputs.owner, p.inputs.baseUrl])).toEqual([
      ["example-org", "https://api.github.com/"],
      ["second-org", "https://api.github.com/"],
    ]);
    const ghes = await hardened([{ owner: "example-org", repo: "example-app" }], "https://ghe.example.com/api/v3");
    expect(providers(ghes).map((p) => p.inputs.baseUrl)).toEqual(["https://ghe.example.com/api/v3/"]);
  });

  it("does not adopt the repositories themselves (no github.Repository, nothing that could delete one)", () => {
    expect(render.resources.filter((x) => x.type === "github:index/repository:Repository")).toEqual([]);
  });

  it("refuses hardening without repositories, naming the key", async () => {
    await expect(hardened([])).rejects.toThrow("implementation-dag:github.repositories: must list the repositories to harden when hardenRepositories is true");
  });

  it("refuses a repository listed twice", async () => {
    await expect(hardened([{ owner: "o", repo: "r" }, { owner: "O", repo: "R" }])).rejects.toThrow("implementation-dag:github.repositories.1: lists O/R twice");
  });

  it("refuses a repository name GitHub would not accept", async () => {
    await expect(hardened([{ owner: "o", repo: ".." }])).rejects.toThrow("implementation-dag:github.repositories.0.repo: must be a GitHub repository name");
  });
});

describe("the auto-merge check", () => {
  it("fails a repository that allows auto-merge, naming it and the fix", () => {
    expect(autoMergeProblem({ owner: "o", repo: "r" }, true)).toMatch(/^o\/r allows auto-merge; the pipeline requires allowAutoMerge: false\. .*allow_auto_merge": false/);
  });

  it("passes a repository with auto-merge off, or one not read yet", () => {
    expect(autoMergeProblem({ owner: "o", repo: "r" }, false)).toBeUndefined();
    expect(autoMergeProblem({ owner: "o", repo: "r" }, undefined)).toBeUndefined();
  });

  it("ends the provider base URL with one slash", () => {
    expect(providerBaseUrl("https://api.github.com")).toBe("https://api.github.com/");
    expect(providerBaseUrl("https://ghe.example.com/api/v3/")).toBe("https://ghe.example.com/api/v3/");
  });

  it("builds the same ruleset the render shows", () => {
    const built = hardeningRuleset({ owner: "example-org", repo: "example-app" });
    expect(rulesets(render)[0].inputs).toMatchObject(JSON.parse(JSON.stringify(built)));
  });
});
