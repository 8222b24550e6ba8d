/**
 * The RBAC lint: rules every rendered Role, ClusterRole and ClusterRoleBinding must keep. No `*`
 * anywhere, no `escalate` or `impersonate`, `bind` only on the two ClusterRoles deploy binds (by
 * resourceNames: the stack's own, named from its instance), no secret reads in a ClusterRole bound
 * cluster-wide, no aggregated roles, and neither of the per-namespace ClusterRoles bound cluster-wide.
 */
import type { IPolicyRule } from "kubernetes-models/rbac.authorization.k8s.io/v1/PolicyRule";
import type { IClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import type { KubeObject } from "../../scripts/offline-render";

/** A Role or ClusterRole as rendered. */
export type RoleLike = KubeObject & { rules?: IPolicyRule[]; aggregationRule?: unknown };

/** Verbs that grant more than the rules they sit in. */
const ESCALATING = ["escalate", "impersonate"];
const SECRET_READ = ["get", "list", "watch"];

/**
 * The RBAC lint over every rendered Role and ClusterRole (and the ClusterRoleBindings): one line per
 * problem, empty when clean. `bindable` names the stack's two per-namespace ClusterRoles (deployer,
 * guardrails): the only ones `bind` may name, and never bound cluster-wide.
 */
export function lintRbac(manifests: KubeObject[], bindable: readonly string[]): string[] {
  const OUR_BINDABLE = [...bindable];
  const problems: string[] = [];
  const roles = manifests.filter((m) => m.kind === "Role" || m.kind === "ClusterRole") as RoleLike[];
  const clusterBound = new Set(
    (manifests.filter((m) => m.kind === "ClusterRoleBinding") as unknown as IClusterRoleBinding[]).map((b) => b.roleRef.name),
  );
  for (const role of roles) {
    const at = `${role.kind} ${role.metadata.name}`;
    if (role.aggregationRule) problems.push(`${at}: aggregates other roles (its rights are not visible here)`);
    (role.rules ?? []).forEach((rule, i) => {
      const fields: Array<[string, string[] | undefined]> = [
        ["apiGroups", rule.apiGroups], ["resources", rule.resources], ["verbs", rule.verbs],
        ["resourceNames", rule.resourceNames], ["nonResourceURLs", rule.nonResourceURLs],
      ];
      for (const [name, values] of fields) {
        for (const v of values ?? []) if (v.includes("*")) problems.push(`${at} rule ${i}: wildcard in ${name}: ${v}`);
      }
      for (const verb of rule.verbs ?? []) if (ESCALATING.includes(verb)) problems.push(`${at} rule ${i}: verb ${verb}`);
      if ((rule.verbs ?? []).includes("bind")) {
        const names = rule.resourceNames ?? [];
        if (names.length === 0 || names.some((n) => !OUR_BINDABLE.includes(n))) problems.push(`${at} rule ${i}: bind beyond ${OUR_BINDABLE.join(", ")}`);
      }
      const readsSecrets = (rule.apiGroups ?? []).includes("") && (rule.resources ?? []).includes("secrets") && (rule.verbs ?? []).some((v) => SECRET_READ.includes(v));
      if (readsSecrets && role.kind === "ClusterRole" && clusterBound.has(role.metadata.name ?? "")) {
        problems.push(`${at} rule ${i}: reads secrets and is bound cluster-wide`);
      }
      if ((rule.nonResourceURLs ?? []).length > 0) problems.push(`${at} rule ${i}: non-resource URLs`);
    });
  }
  for (const b of manifests.filter((m) => m.kind === "ClusterRoleBinding") as unknown as IClusterRoleBinding[]) {
    if (!roles.some((r) => r.kind === "ClusterRole" && r.metadata.name === b.roleRef.name)) problems.push(`ClusterRoleBinding ${b.metadata?.name}: binds ${b.roleRef.name}, which this stack does not define`);
    if (OUR_BINDABLE.includes(b.roleRef.name)) problems.push(`ClusterRoleBinding ${b.metadata?.name}: binds ${b.roleRef.name} cluster-wide (it is meant per preview namespace)`);
  }
  return problems;
}
