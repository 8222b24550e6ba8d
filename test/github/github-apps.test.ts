import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../components/config";
import { GITHUB_APPS, githubAppSecret } from "../../components/github-apps";
import { readStackConfig, SECRET_PLACEHOLDER, type Render } from "../../scripts/offline-render";
import { previewRender } from "../helpers/render";

let render: Render;
beforeAll(async () => {
  render = await previewRender();
});

const secretOf = (app: string) => {
  const r = render.resources.find((x) => x.type === "kubernetes:core/v1:Secret" && (x.inputs.metadata as { name?: string }).name === `github-app-${app}`);
  if (!r) throw new Error(`no Secret github-app-${app} in the render`);
  return r;
};

describe("GitHub App Secrets", () => {
  for (const app of GITHUB_APPS) {
    it(`declares Secret github-app-${app} in the workflows namespace, every value secret`, () => {
      const r = secretOf(app);
      expect(r.inputs.metadata).toMatchObject({ name: `github-app-${app}`, namespace: "argo", labels: { "implementation-dag/github-app": app } });
      expect(r.inputs.type).toBe("Opaque");
      // The whole stringData (ids and key) is one Pulumi secret: the render keeps its keys and
      // shows only the placeholder for every value.
      expect(r.secretPaths).toEqual(["stringData"]);
      expect(r.inputs.stringData).toEqual({ "app-id": SECRET_PLACEHOLDER, "installation-id": SECRET_PLACEHOLDER, "private-key": SECRET_PLACEHOLDER });
      expect(r.inputs.data).toBeUndefined();
      expect(r.additionalSecretOutputs).toEqual(expect.arrayContaining(["data", "stringData"]));
      // Nor do the ids show anywhere else on the object (labels, annotations).
      const ids = parseConfig(readStackConfig("preview")).github.apps[app];
      const plain = JSON.stringify(r.inputs);
      expect(plain).not.toContain(ids.appId);
      expect(plain).not.toContain(ids.installationId);
    });
  }

  it("keeps every private key out of the render and its outputs", () => {
    const text = JSON.stringify(render);
    for (const app of GITHUB_APPS) expect(text).not.toContain(`placeholder ${app}PrivateKey`);
  });

  it("belongs to the GitHubApps component", () => {
    const component = render.resources.find((x) => x.type === "implementation-dag:index:GitHubApps");
    expect(component).toBeDefined();
    for (const app of GITHUB_APPS) expect(secretOf(app).parent).toBe(component!.urn);
  });

  it("names each app's Secret in the stack outputs, not its content", () => {
    expect(render.outputs.githubAppSecrets).toEqual({ rex: "github-app-rex", clippy: "github-app-clippy", qa: "github-app-qa" });
  });

  it("carries the ids from github.apps and the key under the agreed keys", () => {
    const cfg = parseConfig(readStackConfig("preview"));
    expect(githubAppSecret(cfg, "qa", "PEM").stringData).toEqual({ "app-id": "100003", "installation-id": "200003", "private-key": "PEM" });
  });
});

describe("GitHub App installations (github.apps.<app>.installationId)", () => {
  /** The preview stack's config with the apps' ids replaced. */
  const withApps = (apps: Record<string, unknown>): Record<string, string> => {
    const raw = readStackConfig("preview");
    const github = JSON.parse(raw["implementation-dag:github"]) as Record<string, unknown>;
    return { ...raw, "implementation-dag:github": JSON.stringify({ ...github, apps }) };
  };
  const ids = { rex: { appId: "100001" }, clippy: { appId: "100002" }, qa: { appId: "Iv23liQa" } };

  it("is optional: absent, the Secret keeps an empty installation-id key (each repository's installation is looked up)", () => {
    const cfg = parseConfig(withApps(ids));
    for (const app of GITHUB_APPS) expect(cfg.github.apps[app].installationId).toBe("");
    expect(githubAppSecret(cfg, "qa", "PEM").stringData).toEqual({ "app-id": "Iv23liQa", "installation-id": "", "private-key": "PEM" });
  });

  it("takes an empty value as absent", () => {
    const cfg = parseConfig(withApps({ ...ids, clippy: { appId: "100002", installationId: "" } }));
    expect(cfg.github.apps.clippy.installationId).toBe("");
  });

  it("keeps a configured installation id, the override the steps use as given", () => {
    const cfg = parseConfig(withApps({ ...ids, qa: { appId: "100003", installationId: "200003" } }));
    expect(githubAppSecret(cfg, "qa", "PEM").stringData["installation-id"]).toBe("200003");
  });

  it("refuses an installation id that is not a number, naming the key", () => {
    expect(() => parseConfig(withApps({ ...ids, qa: { appId: "100003", installationId: "acme" } })))
      .toThrow(/github\.apps\.qa\.installationId.*must be a numeric installation id, or empty/s);
  });
});
