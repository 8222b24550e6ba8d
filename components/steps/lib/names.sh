# shellcheck shell=bash
# lib/names.sh: the names of a preview, derived from (owner, repository, PR). The same rules are in
# components/names.ts; test/names.test.ts holds both to one table.
#
#   set_preview_id SCHEME OWNER REPO PR
#       sets PREVIEW_ID to the preview's id, from which its namespace (impl-<id>), host label (<id>)
#       and mutex (implementation-dag-<id>) are made. SCHEME `repository`: <slug>-<hash>-pr-<PR>,
#       where hash is the first 10 hex digits of the SHA-256 of `<owner>/<repo>` lowercased (GitHub
#       names are case-insensitive) and slug is `<owner>-<repo>` lowercased, every character outside
#       [a-z0-9-] turned into '-', cut so the id is at most 58 characters and trimmed of '-' at both
#       ends (`repo` when nothing is left): one repository's PR never shares a name with another's.
#       SCHEME `pr-number`: pr-<PR> (one repository per install).
#       The caller validates OWNER, REPO and PR first. It sets a variable rather than printing, so
#       it runs in the calling shell: each repository's hash is computed once per step, and a sweep
#       of many previews runs sha256sum once per repository.
#   preview_namespace ID     prints the preview's namespace: impl-<ID>
#   preview_mutex ID         prints the mutex one run of the preview holds: implementation-dag-<ID>
#   repository_key OWNER REPO
#       prints <owner>/<repo> lowercased: the preview's owner as its namespace records it
#
# Tools: sha256sum (GNU or busybox).

# The longest id: the namespace impl-<id> is then a DNS-1123 label of at most 63 characters.
readonly PREVIEW_ID_MAX=58

declare -A _preview_hash=()

# shellcheck disable=SC2034 # PREVIEW_ID is read by the scripts that use this library
set_preview_id() { # SCHEME OWNER REPO PR
  local LC_ALL=C scheme=$1 owner=$2 repo=$3 pr=$4 full tail slug
  if [[ $scheme == pr-number ]]; then
    PREVIEW_ID="pr-${pr}"
    return 0
  fi
  [[ $scheme == repository ]] || { printf 'ERROR: set_preview_id: SCHEME must be repository or pr-number\n' >&2; return 1; }
  # OWNER and REPO are ASCII (the caller validated them), lowercased in the C locale.
  full="${owner,,}/${repo,,}"
  if [[ -z ${_preview_hash[$full]-} ]]; then
    _preview_hash[$full]=$(printf '%s' "$full" | sha256sum)
  fi
  tail="-${_preview_hash[$full]:0:10}-pr-${pr}"
  slug=${full/\//-}
  slug=${slug//[^a-z0-9-]/-}
  slug=${slug:0:$((PREVIEW_ID_MAX - ${#tail}))}
  while [[ $slug == -* ]]; do slug=${slug#-}; done
  while [[ $slug == *- ]]; do slug=${slug%-}; done
  PREVIEW_ID="${slug:-repo}${tail}"
}

preview_namespace() { printf 'impl-%s' "$1"; }

preview_mutex() { printf 'implementation-dag-%s' "$1"; }

repository_key() {
  local LC_ALL=C
  printf '%s/%s' "${1,,}" "${2,,}"
}
