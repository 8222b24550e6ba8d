import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { autoMergeProblem, hardeningRuleset, providerBaseUrl, RULESET_NAME } from "../../components/repository-hardening";
import { readStackConfig, renderStack, type Render } from "../../scripts/offline-render";

const previewGithub = () => parseConfig(readStackConfig("preview")).github;

const hardened = (repositories: Array<{ owner: string; repo: string }>, apiUrl = "https://api.github.com") =>
  renderStack({ overrides: { github: { ...previewGithub(), hardenRepositories: true, repositories, apiUrl } } });

let plain: Render;
let render: Render;
beforeAll(async () => {
  plain = await renderStack();
  render = await hardened([
    { owner: "example-org", repo: "example-app" },
    { owner: "example-org", repo: "other-app" },
    { owner: "second-org", repo: "api" },
  ]);
});

const rulesets = (r: Render) => r.resources.filter((x) => x.type === "github:index/repositoryRuleset:RepositoryRuleset");
const providers = (r: Render) => r.resources.filter((x) => x.type === "pulumi:providers:github");

describe("repository hardening", () => {
  it("is off unless the stack opts in", () => {
    expect(previewGithub().hardenRepositories).toBe(false);
    expect(rulesets(plain)).toEqual([]);
    expect(plain.resources.filter((x) => x.type.startsWith("github:") || x.type === "pulumi:providers:github")).toEqual([]);
    expect(plain.outputs.hardenedRepositories).toEqual([]);
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
