# shellcheck shell=bash
# lib/names.sh: the names of a preview, derived from (owner, repository, PR). The same rules are in
# components/names.ts; test/names.test.ts holds both to one table.
#
#   preview_id SCHEME OWNER REPO PR
#       prints the preview's id, from which its namespace (impl-<id>), host label (<id>) and mutex
#       (implementation-dag-<id>) are made. SCHEME `repository`: <slug>-<hash>-pr-<PR>, where hash
#       is the first 10 hex digits of the SHA-256 of `<owner>/<repo>` lowercased (GitHub names are
#       case-insensitive) and slug is `<owner>-<repo>` lowercased, every character outside
#       [a-z0-9-] turned into '-', cut so the id is at most 58 characters and trimmed of '-' at both
#       ends (`repo` when nothing is left): one repository's PR never shares a name with another's.
#       SCHEME `pr-number`: pr-<PR> (one repository per install).
#       The caller validates OWNER, REPO and PR first.
#   preview_namespace ID     prints the preview's namespace: impl-<ID>
#   preview_mutex ID         prints the mutex one run of the preview holds: implementation-dag-<ID>
#   repository_key OWNER REPO
#       prints <owner>/<repo> lowercased: the preview's owner as its namespace records it
#
# Tools: tr, sha256sum, cut (GNU or busybox).

# The longest id: the namespace impl-<id> is then a DNS-1123 label of at most 63 characters.
readonly PREVIEW_ID_MAX=58

preview_id() { # SCHEME OWNER REPO PR
  local scheme=$1 owner=$2 repo=$3 pr=$4 full hash tail slug
  if [[ $scheme == pr-number ]]; then
    printf 'pr-%s' "$pr"
    return 0
  fi
  [[ $scheme == repository ]] || { printf 'ERROR: preview_id: SCHEME must be repository or pr-number\n' >&2; return 1; }
  full=$(printf '%s/%s' "$owner" "$repo" | tr '[:upper:]' '[:lower:]')
  hash=$(printf '%s' "$full" | sha256sum | cut -c1-10)
  tail="-${hash}-pr-${pr}"
  slug=${full/\//-}
  slug=${slug//[^a-z0-9-]/-}
  slug=${slug:0:$((PREVIEW_ID_MAX - ${#tail}))}
  while [[ $slug == -* ]]; do slug=${slug#-}; done
  while [[ $slug == *- ]]; do slug=${slug%-}; done
  printf '%s%s' "${slug:-repo}" "$tail"
}

preview_namespace() { printf 'impl-%s' "$1"; }

preview_mutex() { printf 'implementation-dag-%s' "$1"; }

repository_key() { printf '%s/%s' "$1" "$2" | tr '[:upper:]' '[:lower:]'; }
