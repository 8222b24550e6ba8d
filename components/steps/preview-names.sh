#!/usr/bin/env bash
# preview-names: the first step of preview-teardown. Validates the pull request it is given and
# derives, once, the names the teardown acts on, with the same rules as set-params (lib/names.sh
# set_preview_id of (NAMING, owner, repo, PR); components/names.ts is their TypeScript twin):
#   ns          the preview namespace impl-<id>
#   mutex       implementation-dag-<id>: exactly the mutex the pipeline's run of that preview holds,
#               which the teardown step then holds (a template-level mutex, taken only once the
#               names are known to be valid)
#   repository  <owner>/<repo> lowercased, as deploy annotates the preview namespace (GitHub names are
#               case-insensitive)
# and passes on the validated pr. It needs no Kubernetes API and calls nothing.
#
# Env (each validated before anything is written; every bad one is reported as
# `ERROR: <input>: <rule>`, exit 1):
#   OWNER       a GitHub owner: letters, digits and single '-', not at either end, at most 39
#   REPO        a GitHub repository name: letters, digits, '.', '-', '_', at most 100, not '.'/'..'
#   PR          a positive integer without a leading zero, at most 9 digits
#   NAMING      the naming scheme (stack config): repository or pr-number
#   OUTPUT_DIR  absolute directory the outputs are written to
#
# Writes, one value per file in OUTPUT_DIR: ns, mutex, repository, pr.
set -euo pipefail
export LC_ALL=C

declare owner repo pr naming output_dir
input owner OWNER
input repo REPO
input pr PR
input naming NAMING
input output_dir OUTPUT_DIR

is_github_owner "$owner" || bad owner "$RULE_OWNER"
is_github_repo "$repo" || bad repo "$RULE_REPO"
is_pr_number "$pr" || bad pr "$RULE_PR"
if [[ $naming != repository && $naming != pr-number ]]; then
  bad NAMING "must be repository or pr-number"
fi
if [[ $output_dir != /* ]]; then
  bad OUTPUT_DIR "must be an absolute directory path"
fi
stop_on_bad_inputs

set_preview_id "$naming" "$owner" "$repo" "$pr"
id=$PREVIEW_ID
ns=$(preview_namespace "$id")
mutex=$(preview_mutex "$id")
repository=$(repository_key "$owner" "$repo")

mkdir -p "$output_dir"
printf '%s' "$ns" >"$output_dir/ns"
printf '%s' "$mutex" >"$output_dir/mutex"
printf '%s' "$repository" >"$output_dir/repository"
printf '%s' "$pr" >"$output_dir/pr"
printf 'preview of %s#%s\nnamespace: %s\nmutex:     %s\n' "$repository" "$pr" "$ns" "$mutex"
