/**
 * What stands between Argo's JSON (what the stack renders) and the generated model of
 * `@kubernetes-models/argo-workflows` that the tests validate with — two gaps, filled in on a copy:
 * - Argo's OpenAPI marks a container's `name` as required; for a `script` template Argo names the
 *   container `main` itself;
 * - the model wraps each group of parallel steps in `{steps}`, where Argo's JSON has a plain list.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";

/** A copy of `templates` in the model's shape. */
export function asArgoModel(templates: ITemplate[] | undefined): ITemplate[] {
  return structuredClone(templates ?? []).map((t) => {
    if (t.script && !("name" in t.script)) Object.assign(t.script, { name: "main" });
    if (t.steps) t.steps = (t.steps as unknown as unknown[][]).map((g) => ({ steps: g })) as unknown as ITemplate["steps"];
    return t;
  });
}
