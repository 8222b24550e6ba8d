/** Finding things in a render (scripts/offline-render.ts): the objects of a kind, the pipeline's WorkflowTemplate, a template. */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IWorkflowTemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowTemplate";
import type { KubeObject, Render } from "../scripts/offline-render";

/** The rendered objects of a kind (optionally of a name). */
export function objectsOf(render: Render, kind: string, name?: string): KubeObject[] {
  return render.manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
}

/** The rendered `implementation-dag` WorkflowTemplate. */
export function implementationDag(render: Render): IWorkflowTemplate {
  const [wt] = objectsOf(render, "WorkflowTemplate", "implementation-dag");
  if (!wt) throw new Error("the render has no WorkflowTemplate implementation-dag");
  return wt as unknown as IWorkflowTemplate;
}

/** One template of a WorkflowTemplate, by name. */
export function templateNamed(wt: { spec: { templates?: ITemplate[] } }, name: string): ITemplate {
  const t = (wt.spec.templates ?? []).find((x) => x.name === name);
  if (!t) throw new Error(`no template ${name}`);
  return t;
}
