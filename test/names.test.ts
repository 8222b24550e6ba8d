import { beforeAll, describe, expect, it } from "vitest";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { imageTag, previewHost, previewNamespace, releaseName, serviceId } from "../components/names";
import { runScriptTemplate } from "./helpers/argo-step";
import { implementationDag, previewRender, templateNamed } from "./helpers/render";

/** One table for both implementations of the naming rules: TypeScript and set-params.sh. */
const CASES: Array<{ repo: string; pr: string; domain: string; tag: string; release: string }> = [
  { repo: "app", pr: "1", domain: "preview.example.com", tag: "", release: "app-pr-1" },
  { repo: "My_App.js", pr: "42", domain: "p.example.org", tag: "v1", release: "my-app-js-pr-42" },
  { repo: "-._lead", pr: "7", domain: "a.b", tag: "", release: "lead-pr-7" },
  { repo: "trail.", pr: "7", domain: "a.b", tag: "", release: "trail-pr-7" },
  { repo: "___", pr: "9", domain: "a.b", tag: "", release: "app-pr-9" },
  { repo: "x".repeat(100), pr: "999999999", domain: "a.b", tag: "", release: `${"x".repeat(40)}-pr-999999999` },
  { repo: `${"y".repeat(46)}-zz`, pr: "12", domain: "a.b", tag: "", release: `${"y".repeat(46)}-pr-12` },
  { repo: "UPPER", pr: "300", domain: "a.b", tag: "sha-abc", release: "upper-pr-300" },
  // The service id is cut at 63, where this name has a '-' to trim.
  { repo: `${"z".repeat(62)}-q`, pr: "5", domain: "a.b", tag: "", release: `${"z".repeat(48)}-pr-5` },
];

let setParams: ITemplate;
/** The workflow parameters' defaults, as a submission that sets none of them gets. */
let defaults: Record<string, string>;
beforeAll(async () => {
  const wt = implementationDag(await previewRender());
  setParams = templateNamed(wt, "set-params");
  defaults = Object.fromEntries((wt.spec.arguments?.parameters ?? []).flatMap((p) => (p.value === undefined ? [] : [[p.name, String(p.value)]])));
});

describe("naming rules", () => {
  it.each(CASES)("TypeScript and set-params.sh agree for repo $repo, pr $pr", async (c) => {
    expect(releaseName(c.repo, c.pr)).toBe(c.release);
    expect(releaseName(c.repo, c.pr).length).toBeLessThanOrEqual(53);
    expect(releaseName(c.repo, c.pr)).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    const r = await runScriptTemplate(setParams, {
      parameters: { ...defaults, owner: "o", repo: c.repo, pr: c.pr, domain: c.domain, imageTag: c.tag },
    });
    expect(r.stderr).toBe("");
    expect(r.outputs).toMatchObject({
      ns: previewNamespace(c.pr),
      release: releaseName(c.repo, c.pr),
      host: previewHost(c.pr, c.domain),
      image_tag: imageTag(c.pr, c.tag),
      "service-id": serviceId(c.repo),
    });
    expect(serviceId(c.repo)).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
  });
});
