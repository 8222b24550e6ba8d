#!/usr/bin/env bash
# stop-agents: part of the exit handler. Terminates this run's agent Workflows that are still running.
# An agent step gives up on its child Workflow at its own deadline (or the workflow's), or the run
# fails elsewhere while an agent works; the child would otherwise go on, and may still push to the
# pull request. Every child carries the label implementation-dag/parent-uid=<this workflow's uid>
# (components/workflow/agents.ts), so this step lists exactly this run's children and patches
# `spec.shutdown: Terminate` into each that has not finished (phase empty, Pending or Running).
# Finished children are left as they are. Idempotent: a second run finds nothing left to stop.
#
# Env (each validated before anything is done; a violation prints `ERROR: <input>: <rule>`, exit 1):
#   PARENT_UID           this workflow's uid (a UUID, lowercase hex)
#   WORKFLOWS_NAMESPACE  the namespace the children live in (a DNS-1123 label)
#
# Calls: kubectl get workflows (one list call by label) and kubectl patch workflow per child still
# running, as the agents' service account (a Role in the workflows namespace; the admission fence
# lets it change nothing but `spec.shutdown` to Stop or Terminate). Writes nothing but its log.
set -euo pipefail
export LC_ALL=C

declare parent_uid workflows_namespace
input parent_uid PARENT_UID
input workflows_namespace WORKFLOWS_NAMESPACE

if ! [[ $parent_uid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
  die PARENT_UID "must be a workflow uid (a lowercase UUID)"
fi
is_dns_label "$workflows_namespace" || die WORKFLOWS_NAMESPACE "$RULE_DNS_LABEL"

if ! listing=$(kubectl get workflows -n "$workflows_namespace" -l "implementation-dag/parent-uid=${parent_uid}" -o json); then
  die kubectl "cannot list this run's agent Workflows in ${workflows_namespace}"
fi
if ! running=$(jq -r '.items[]
    | select(((.status.phase // "") | IN("", "Pending", "Running")) and ((.spec.shutdown // "") != "Terminate"))
    | .metadata.name' <<<"$listing"); then
  die kubectl "printed something that is not a Workflow list as JSON"
fi
if [[ -z $running ]]; then
  echo "stop-agents: no agent Workflow of this run is still running"
  exit 0
fi
stopped=0
while IFS= read -r name; do
  is_object_name "$name" || die kubectl "listed a Workflow name that is not an object name"
  kubectl patch workflow "$name" -n "$workflows_namespace" --type merge -p '{"spec":{"shutdown":"Terminate"}}' >/dev/null ||
    die kubectl "cannot terminate agent Workflow ${name}"
  echo "stop-agents: terminated ${name}"
  stopped=$((stopped + 1))
done <<<"$running"
echo "stop-agents: ${stopped} agent Workflow(s) terminated"
