# shellcheck shell=bash
# lib/discovery.sh: the preview's URLs from its namespace's Ingresses, for step scripts (inserted
# after their `set -euo pipefail` line by scriptTemplate's `libraries: ["discovery"]`).
#
# Functions:
#   discover_urls NS RELEASE HOST OUT_FILE
#       reads every Ingress of NS (`kubectl get ingress -n NS -o json`) and writes OUT_FILE:
#       {"ns", "release", "hosts": [...], "endpoints": [{"host", "path", "url"}], "warnings": [...]},
#       where url is https://host/path when an Ingress has TLS for that host (exact or wildcard),
#       else http://. Only hosts equal to HOST (the preview's host, set-params' host) or under it
#       (*.HOST) are kept: the chart comes from the pull request, so it must not choose what
#       acceptance requests (an in-cluster Service name, a metadata address, another preview). Every
#       other host is left out and named in "warnings" (and on stderr as `WARNING: ingress: ...`).
#       Rules without a host or with a wildcard host, and paths that are not plain URL paths (regex
#       paths), name no URL and are left out. No endpoint at all is an error: prints
#       `ERROR: ingress: ...` and returns 1 without writing OUT_FILE.
#
# Tools: kubectl, jq, mv (GNU or busybox).

discover_urls() {
  local ns="$1" release="$2" host="$3" out="$4" ingresses urls
  if ! ingresses=$(kubectl get ingress -n "$ns" -o json); then
    printf 'ERROR: ingress: cannot list the Ingresses of namespace %s\n' "$ns" >&2
    return 1
  fi
  # shellcheck disable=SC2016 # a jq program, not shell
  if ! urls=$(jq -c --arg ns "$ns" --arg release "$release" --arg preview "$host" '
      def dns_name: test("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$");
      def covers($host): . == $host
        or (startswith("*.") and ($host | endswith(.[1:])) and (($host | split(".") | length) == (split(".") | length)));
      def previews: . == $preview or endswith("." + $preview);
      [ .items[]
        | (.metadata.name // "?") as $ingress
        | [ (.spec.tls // [])[] | (.hosts // [])[] ] as $tls
        | (.spec.rules // [])[]
        | select((.host | type) == "string" and (.host | dns_name))
        | .host as $host
        | ((.http.paths // []) | if length == 0 then [{path: "/"}] else . end)[]
        | (.path // "/") as $path
        | select($path | test("^/[A-Za-z0-9._~/-]*$"))
        | (if any($tls[]; covers($host)) then "https" else "http" end) as $scheme
        | {host: $host, path: $path, url: "\($scheme)://\($host)\($path)", ingress: $ingress}
      ]
      | unique_by(.url)
      | map(select(.host | previews | not)) as $foreign
      | map(select(.host | previews) | del(.ingress))
      | {ns: $ns, release: $release, hosts: (map(.host) | unique), endpoints: .,
         warnings: ($foreign | group_by(.host)
           | map("ingress host \(.[0].host) (Ingress \(map(.ingress) | unique | join(", "))) is not the preview host \($preview) or under it: left out, acceptance does not request it"))}
    ' <<<"$ingresses"); then
    printf 'ERROR: ingress: the Ingresses of namespace %s are not readable JSON\n' "$ns" >&2
    return 1
  fi
  if [[ $(jq '.endpoints | length' <<<"$urls") == 0 ]]; then
    printf 'ERROR: ingress: no Ingress in namespace %s names the preview host %s or a host under it; acceptance needs at least one URL (does the chart enable its Ingress, with ingress.host?)\n' "$ns" "$host" >&2
    return 1
  fi
  jq -r '.warnings[] | "WARNING: ingress: \(.)"' <<<"$urls" >&2
  printf '%s\n' "$urls" >"$out.partial"
  mv "$out.partial" "$out"
  jq -r '.endpoints[] | "url: \(.url)"' "$out"
}
