# shellcheck shell=bash
# lib/rules.sh: what every step shares to read and check its env, written once. Inserted into every
# step's source after its `set -euo pipefail` line (stepSource puts it first). The naming rules'
# TypeScript twins are in components/names.ts and components/config.ts.
#
# Helpers:    die INPUT RULE         prints `ERROR: <input>: <rule>` to stderr and exits 1
#             input VAR NAME         sets VAR to the variable NAME, empty when unset (no `set -u` trip),
#                                    without trailing newlines, as `VAR=$(...)` would, without its
#                                    fork. A step declares its input variables first
#                                    (`declare a b`), which tells shellcheck they are assigned.
#             utc_time VAR EPOCH     sets VAR to EPOCH (seconds, -1 for now) as YYYY-MM-DDTHH:MM:SSZ,
#                                    in the shell (bash's printf, no `date` process)
#             bad INPUT RULE         collects the same message in the array `errors`, so a step can
#                                    report every bad input at once, then
#             stop_on_bad_inputs     prints them all and exits 1 when there is any
# Predicates: each returns 0 when its one argument holds the rule, and has the rule's wording in a
#             RULE_* variable for the message.
# shellcheck disable=SC2034 # the RULE_* texts are used by the steps this file is inserted into

die() {
  printf 'ERROR: %s: %s\n' "$1" "$2" >&2
  exit 1
}

input() { # VAR NAME (no local variable, so no name of the caller's is shadowed)
  printf -v "$1" '%s' "${!2-}"
  while [[ ${!1} == *$'\n' ]]; do printf -v "$1" '%s' "${!1%$'\n'}"; done
}

utc_time() { TZ=UTC0 printf -v "$1" '%(%Y-%m-%dT%H:%M:%SZ)T' "$2"; }

errors=()
bad() { errors+=("ERROR: $1: $2"); }
stop_on_bad_inputs() {
  if ((${#errors[@]} > 0)); then
    printf '%s\n' "${errors[@]}" >&2
    exit 1
  fi
}

RULE_OWNER="must be a GitHub owner: letters, digits and single '-', not at either end, at most 39 characters"
is_github_owner() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$ && $1 != *--* ]]; }

RULE_REPO="must be a GitHub repository name: letters, digits, '.', '-', '_', at most 100 characters, not '.' or '..'"
is_github_repo() { [[ $1 =~ ^[A-Za-z0-9._-]{1,100}$ && $1 != . && $1 != .. ]]; }

RULE_PR="must be a positive integer without a leading zero, at most 9 digits"
is_pr_number() { [[ $1 =~ ^[1-9][0-9]{0,8}$ ]]; }

# NS is the preview namespace of PR $2 under either naming scheme (components/names.ts):
# impl-pr-<PR>, or impl-<slug>-<10 hex>-pr-<PR>, a DNS-1123 label of at most 63 characters.
is_preview_namespace() { # NS PR
  [[ $1 =~ ^impl-([a-z0-9]([a-z0-9-]*[a-z0-9])?-[0-9a-f]{10}-)?pr-[1-9][0-9]{0,8}$ && $1 == *"-pr-$2" ]] && ((${#1} <= 63))
}
rule_preview_namespace() { # PR: is_preview_namespace's rule in words
  printf 'must be the preview namespace of PR %s (impl-pr-%s, or impl-<owner>-<repo>-<hash>-pr-%s)' "$1" "$1" "$1"
}

RULE_DNS_LABEL="must be a DNS-1123 label"
is_dns_label() { [[ $1 =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; }

# A lowercase DNS name of at least two labels, at most 253 characters.
is_dns_name() {
  [[ $1 =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$ ]] && ((${#1} <= 253))
}

# A Kubernetes object name: a DNS-1123 subdomain of at most 253 characters.
is_object_name() { [[ $1 =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]]; }

RULE_RELATIVE_PATH="must be a relative path without '.' or '..' segments"
# Safe characters only, not absolute, no '.' or '..' segment.
is_relative_path() {
  [[ $1 =~ ^[A-Za-z0-9._/-]+$ && $1 != /* ]] || return 1
  case "/$1/" in */../* | */./*) return 1 ;; esac
}

RULE_URL_OR_EMPTY="must be empty or an http(s) URL"
is_url_or_empty() { [[ $1 =~ ^(https?://[^[:space:]\"\'\<\>\`]+)?$ ]]; }
