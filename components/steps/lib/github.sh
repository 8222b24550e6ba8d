# shellcheck shell=bash
# lib/github.sh: GitHub REST calls as a GitHub App, for step scripts (inserted after their
# `set -euo pipefail` line by scriptTemplate's `libraries: ["github"]`).
#
# Functions (each validates what it reads, prints `ERROR: <input>: <rule>` to stderr and returns
# non-zero on any problem; none prints the private key, the JWT or a token to stderr):
#   github_app_jwt
#       prints an RS256 JWT for the app: iat = now-60, exp = now+540, iss = GITHUB_APP_ID.
#   github_installation_token OWNER REPO PERMISSIONS_JSON
#       prints an installation token narrowed to OWNER/REPO and to PERMISSIONS_JSON (for example
#       '{"pull_requests":"write"}'); refuses a token GitHub grants on other repositories or with
#       permissions beyond those asked for (metadata:read excepted, GitHub always adds it).
#       The installation is GITHUB_INSTALLATION_ID when set; when it is empty, the app itself says
#       which of its installations covers OWNER/REPO (github_repository_installation), so one app
#       serves repositories of several owners. Not installed there: a clear error naming both.
#   github_repository_installation OWNER REPO
#       prints the id of the app's installation that covers OWNER/REPO
#       (GET /repos/OWNER/REPO/installation with the app's JWT). 404: fails with
#       `ERROR: github: GitHub App <app> is not installed on OWNER/REPO ...`, where <app> is the app's
#       slug and id when GitHub tells them (GET /app), else GITHUB_APP_ID.
#   github_git_credentials VAR TOKEN
#       sets VAR to the Basic credentials for fetching from GitHub over HTTPS with an installation
#       TOKEN (base64 of x-access-token:TOKEN), computed in the shell: the token is in no process's
#       argv or stdin.
#   github_request METHOD PATH [BODY_JSON]
#       calls the REST API with $GITHUB_TOKEN; prints the response body on success (2xx, or a status
#       listed in GITHUB_ALLOW_STATUS); sets GITHUB_STATUS to the final HTTP status (000: no answer).
#       Retries answers without a status, 5xx, 429 and rate-limit 403s, honouring Retry-After and
#       x-ratelimit-reset, at most GITHUB_RETRY_ATTEMPTS tries in all; a wait GitHub asks for that is
#       longer than GITHUB_RETRY_MAX_WAIT_SECONDS fails at once instead of waiting. A final failure
#       prints `ERROR: github: METHOD PATH: HTTP <status>: <message>` and returns 1.
#       GITHUB_STATUS survives only when the function runs in the current shell: redirect the body
#       to a file (`github_request GET "$p" >"$f"`) rather than capturing it with $(...) when the
#       caller needs the status.
#       Only the requests this pipeline makes are sent: METHOD and PATH must be on _GITHUB_ROUTES
#       (below), compared after percent-decoding PATH once and case-folding both. Anything else
#       (any other endpoint in any case or encoding, a doubly encoded '%25', a '.' or '..'
#       segment; test/github/github-lib.test.ts lists the look-alikes) is refused before it is
#       sent: `ERROR: github: refused METHOD PATH: not a request this pipeline makes ...`. The same
#       guard sits in the transport (_github_http), so the token and installation look-ups and
#       lib/deployments.sh's one GraphQL query (checked to be exactly that read-only query) pass it too.
#
# Env:
#   GITHUB_API_URL               REST base URL, http(s), no whitespace (GitHub Enterprise Server:
#                                https://HOST/api/v3); a trailing '/' is ignored.
#   GITHUB_APP_ID                the app's numeric id or its client id (Iv...).
#   GITHUB_INSTALLATION_ID       optional: numeric id of the app's installation to mint tokens from,
#                                overriding the lookup; then every repository must sit under that
#                                installation's account. Empty or unset (the default): each
#                                repository's installation is looked up, one GET per token.
#   GITHUB_APP_PRIVATE_KEY_FILE  file holding the app's PEM private key (RSA). When unset or empty,
#   GITHUB_APP_PRIVATE_KEY       may hold the PEM itself; it is written to a private temporary file.
#   GITHUB_TOKEN                 token github_request sends (from github_installation_token).
#   GITHUB_ALLOW_STATUS          optional: space-separated statuses github_request treats as an
#                                answer rather than a failure (for example "404"). Default empty.
#   GITHUB_RETRY_ATTEMPTS        tries in all, 1-10. Default 5.
#   GITHUB_RETRY_BASE_MS         first backoff in milliseconds, doubled per retry, 0-60000. Default 1000.
#   GITHUB_RETRY_MAX_WAIT_SECONDS  longest single wait, 1-3600. Default 60.
#   GITHUB_RETRY_SERVER_ERRORS  "yes" (default) or "no": whether answers without a status and 5xx
#                                are retried. A caller whose request is not idempotent (a POST that
#                                creates something GitHub may have created before failing) says
#                                "no" and checks before trying again; rate limits are always retried,
#                                GitHub did nothing then. With "no", such a failure returns 1 with a
#                                plain `github: ...` line (no ERROR): the caller reports the outcome.
#   GITHUB_CONNECT_TIMEOUT_SECONDS / GITHUB_MAX_TIME_SECONDS  curl bounds, 1-600. Defaults 10 / 60.
#   TMPDIR                       where the private temporary files live (removed at the end of each
#                                call of the functions above).
#
# Tools: curl, jq, openssl, base64, tr, sed, head, tail, cat, mkdir, sleep, rm (GNU or busybox).

# shellcheck disable=SC2034 # read by the scripts that use this library
GITHUB_STATUS=""

# Prints `ERROR: <input>: <rule>` and fails (returns, so callers decide; under set -e it stops them).
_github_fail() {
  printf 'ERROR: %s: %s\n' "$1" "$2" >&2
  return 1
}

# Whether TOKEN looks like a token GitHub issues: token characters only, 1 to 2048 of them. The
# length is checked apart: glibc's regex engine expands `{1,2048}` into 2048 states, about 50 ms and
# 70 MB per check, and every later fork of the step would copy that memory.
_github_is_token() { # TOKEN
  [[ ${#1} -le 2048 && $1 =~ ^[A-Za-z0-9_.-]+$ ]]
}

# Sets the variable VAR to the integer setting NAME within bounds, else to the default; a bad value
# is an error. (It sets rather than prints: a $(...) would fork the step for each setting of each
# request.)
_github_int_setting() { # VAR NAME DEFAULT MIN MAX
  local value="${!2-}"
  if [[ -z $value ]]; then
    printf -v "$1" '%s' "$3"
    return 0
  fi
  if ! [[ $value =~ ^[0-9]{1,7}$ ]] || ((10#$value < $4 || 10#$value > $5)); then
    _github_fail "$2" "must be an integer from $4 to $5"
    return 1
  fi
  printf -v "$1" '%s' "$((10#$value))"
}

# Sets the variable VAR to GITHUB_API_URL without its trailing '/'.
_github_api_url() { # VAR
  local url="${GITHUB_API_URL-}"
  if ! [[ $url =~ ^https?://[^[:space:]\"\'\\]+$ ]]; then
    _github_fail GITHUB_API_URL "must be an http(s) URL without whitespace or quotes"
    return 1
  fi
  printf -v "$1" '%s' "${url%/}"
}

# A private directory for header and body files, one per shell process (`$$` is the same in the
# subshells of $(...), so they share it); _github_done removes the files at the end of each call.
_github_tmpdir() {
  _GITHUB_TMP="${TMPDIR:-/tmp}/github.$$"
  if [[ ! -d $_GITHUB_TMP ]] && ! (umask 077 && mkdir -p "$_GITHUB_TMP") 2>/dev/null; then
    _github_fail TMPDIR "must be a writable directory"
    return 1
  fi
  if [[ -L $_GITHUB_TMP || ! -O $_GITHUB_TMP ]]; then
    _github_fail TMPDIR "holds $_GITHUB_TMP not owned by this user; refusing to write secrets there"
    return 1
  fi
}

# Sets the variable VAR to BASE64 (standard alphabet) as base64url without padding.
_github_b64url_of() { # VAR BASE64
  local b64="${2//+/-}"
  b64="${b64//\//_}"
  printf -v "$1" '%s' "${b64%%=*}"
}

# Sets _GITHUB_BASE64 to TEXT, a string of ASCII characters (a JWT's claims, a token), in base64
# with padding. Plain bash: it runs for every token minted. (A fixed variable, not a caller's: its
# locals would shadow a caller's variable of the same name.)
_GITHUB_BASE64_ALPHABET=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/
_GITHUB_BASE64=""
_github_base64_text() { # TEXT
  local LC_ALL=C text="$1" out="" i n a b c bits
  n=${#text}
  for ((i = 0; i < n; i += 3)); do
    printf -v a '%d' "'${text:i:1}"
    b=0 c=0
    if ((i + 1 < n)); then printf -v b '%d' "'${text:i+1:1}"; fi
    if ((i + 2 < n)); then printf -v c '%d' "'${text:i+2:1}"; fi
    bits=$((a << 16 | b << 8 | c))
    out+=${_GITHUB_BASE64_ALPHABET:bits >> 18 & 63:1}${_GITHUB_BASE64_ALPHABET:bits >> 12 & 63:1}
    if ((i + 1 < n)); then out+=${_GITHUB_BASE64_ALPHABET:bits >> 6 & 63:1}; else out+="="; fi
    if ((i + 2 < n)); then out+=${_GITHUB_BASE64_ALPHABET:bits & 63:1}; else out+="="; fi
  done
  _GITHUB_BASE64=$out
}

github_git_credentials() { # VAR TOKEN (no local variable, so no name of the caller's is shadowed)
  if ! _github_is_token "${2-}"; then
    _github_fail github_git_credentials "TOKEN must be a token (see github_installation_token)"
    return 1
  fi
  _github_base64_text "x-access-token:$2"
  printf -v "$1" '%s' "$_GITHUB_BASE64"
  _GITHUB_BASE64=""
}

# Sets the variable VAR to the private key file to sign with: GITHUB_APP_PRIVATE_KEY_FILE, or
# GITHUB_APP_PRIVATE_KEY copied into a private file. Checks that it is an RSA private key without
# printing anything of it.
_github_key_file() { # VAR
  local file="${GITHUB_APP_PRIVATE_KEY_FILE-}"
  if [[ -z $file ]]; then
    if [[ -z ${GITHUB_APP_PRIVATE_KEY-} ]]; then
      _github_fail GITHUB_APP_PRIVATE_KEY_FILE "must name the file holding the app's private key (or set GITHUB_APP_PRIVATE_KEY)"
      return 1
    fi
    _github_tmpdir || return 1
    file="$_GITHUB_TMP/app.pem"
    (umask 077 && printf '%s\n' "$GITHUB_APP_PRIVATE_KEY" >"$file") || return 1
  fi
  if [[ ! -f $file || ! -r $file ]]; then
    _github_fail GITHUB_APP_PRIVATE_KEY_FILE "must be a readable file"
    return 1
  fi
  if ! openssl rsa -in "$file" -noout >/dev/null 2>&1; then
    _github_fail GITHUB_APP_PRIVATE_KEY_FILE "must hold an RSA private key in PEM form"
    return 1
  fi
  printf -v "$1" '%s' "$file"
}

# base64url of the JWT's header, which never changes: {"alg":"RS256","typ":"JWT"}.
_GITHUB_JWT_HEADER=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9

github_app_jwt() {
  local app_id="${GITHUB_APP_ID-}" key_file now iss claims payload signing_input signature
  if ! [[ $app_id =~ ^([0-9]{1,12}|Iv[0-9A-Za-z.]{1,64})$ ]]; then
    _github_fail GITHUB_APP_ID "must be a numeric app id or a client id (Iv...)"
    return 1
  fi
  _github_key_file key_file || return 1
  printf -v now '%(%s)T' -1
  # A numeric id goes in as a number, a client id as a string (its characters need no escaping).
  if [[ $app_id =~ ^[0-9]+$ ]]; then iss=$((10#$app_id)); else iss="\"$app_id\""; fi
  printf -v claims '{"iat":%d,"exp":%d,"iss":%s}' $((now - 60)) $((now + 540)) "$iss"
  _github_base64_text "$claims"
  _github_b64url_of payload "$_GITHUB_BASE64"
  signing_input="$_GITHUB_JWT_HEADER.$payload"
  if ! signature=$(printf '%s' "$signing_input" | openssl dgst -sha256 -sign "$key_file" -binary 2>/dev/null | base64 -w 0) ||
    [[ -z $signature ]]; then
    _github_fail GITHUB_APP_PRIVATE_KEY_FILE "could not sign the app's JWT with this key"
    return 1
  fi
  _github_b64url_of signature "$signature"
  printf '%s.%s\n' "$signing_input" "$signature"
}

# The requests this pipeline makes, and nothing else: "METHOD ROUTE-REGEX" pairs, the regex matched
# against the path without its query, percent-decoded once and lower-cased (so a path in upper
# case or percent-encoded is compared as what GitHub would route it to). {owner}/{repo} are GitHub
# names; every other segment is a fixed word or a number. The one GraphQL request (lib/deployments.sh's
# pull request states) is sent with an empty path and checked by _github_graphql_allowed instead.
_GITHUB_OWNER_REPO='/repos/[a-z0-9-]+/[a-z0-9._-]+'
_GITHUB_DEPLOYMENTS="${_GITHUB_OWNER_REPO}/deployments"
_GITHUB_ROUTES=(
  "GET ^/app$"                                                    # the app's slug, for messages
  "POST ^/app/installations/[0-9]+/access_tokens$"                # a narrowed installation token
  "GET ^${_GITHUB_OWNER_REPO}/installation$"                      # which installation covers a repository
  "GET ^${_GITHUB_OWNER_REPO}/pulls/[0-9]+$"                      # deploy, approve: the PR's head
  "GET ^${_GITHUB_OWNER_REPO}/pulls/[0-9]+/reviews$"              # approve: reviews already posted
  "POST ^${_GITHUB_OWNER_REPO}/pulls/[0-9]+/reviews$"             # approve: the review
  "GET ^${_GITHUB_OWNER_REPO}/commits/[0-9a-f]{7,40}$"            # deploy: an abbreviated commit
  "GET ^${_GITHUB_OWNER_REPO}/commits/[0-9a-f]{40}/check-runs$"   # deploy: the commit's build (lib/image.sh)
  "GET ^${_GITHUB_OWNER_REPO}/commits/[0-9a-f]{40}/status$"       # deploy: the commit's build (lib/image.sh)
  "GET ^${_GITHUB_DEPLOYMENTS}$"                                  # deployment_find
  "POST ^${_GITHUB_DEPLOYMENTS}$"                                 # deployment_create
  "GET ^${_GITHUB_DEPLOYMENTS}/[0-9]+/statuses$"                  # deployment_find
  "POST ^${_GITHUB_DEPLOYMENTS}/[0-9]+/statuses$"                 # deployment_status
)

# Sets the variable VAR to the route of PATH as it is compared: no query, percent-decoded once,
# lower-cased. Sets it empty when the decoded route holds anything but letters, digits, '.', '_',
# '-' and '/' (a '%' left after one decoding, a '?', a NUL or a non-ASCII byte): no allowed route
# has those. Plain bash in the C locale (it runs for every request): an escape that stands for any
# other byte rules the route out at once, so only those characters are ever decoded.
_github_route_of() { # VAR PATH
  local LC_ALL=C rest="${2%%\?*}" decoded="" hex code char
  printf -v "$1" '%s' ""
  while [[ $rest =~ ^([^%]*)%([0-9A-Fa-f]{2})(.*)$ ]]; do
    hex=${BASH_REMATCH[2]}
    code=$((16#$hex))
    # '-' '.' '/', digits, upper-case letters, '_', lower-case letters.
    if ! ((code >= 45 && code <= 57 || code >= 65 && code <= 90 || code == 95 || code >= 97 && code <= 122)); then
      return 0
    fi
    printf -v char '%b' "\\x$hex"
    decoded+=${BASH_REMATCH[1]}$char
    rest=${BASH_REMATCH[3]}
  done
  decoded+=$rest
  decoded=${decoded,,}
  if [[ $decoded =~ ^/[a-z0-9._/-]*$ ]]; then printf -v "$1" '%s' "$decoded"; fi
}

# Whether METHOD PATH is on the allowlist. PATH must look like a REST path (no scheme, no '#', no
# whitespace), and its decoded route must have no '.' or '..' segment and match a route.
_github_route_allowed() { # METHOD PATH
  local method="${1^^}" path="$2" route entry
  [[ $path =~ ^/[A-Za-z0-9._~%/=\&,:+-]*(\?[A-Za-z0-9._~%=\&,:+-]*)?$ ]] || return 1
  _github_route_of route "$path"
  [[ -n $route && $route != */./* && $route != */. && $route != */../* && $route != */.. && $route != *//* ]] || return 1
  for entry in "${_GITHUB_ROUTES[@]}"; do
    if [[ $method == "${entry%% *}" && $route =~ ${entry#* } ]]; then return 0; fi
  done
  return 1
}

# Whether BODY is the one GraphQL request this pipeline sends: lib/deployments.sh's read-only
# pull request states query, its text exactly the fixed shape (no mutation, no other field), its
# variables strings and numbers only.
_github_graphql_allowed() { # BODY
  jq -e '
    type == "object" and (keys == ["query", "variables"])
    and (.variables | type == "object" and all(.[]; type == "string" or type == "number"))
    and (.query | type == "string" and test("^query PreviewPullRequestStates\\(\\$owner: String!, \\$name: String!(, \\$n[0-9]+: Int!)*\\) \\{ repository\\(owner: \\$owner, name: \\$name\\) \\{ p[0-9]+: pullRequest\\(number: \\$n[0-9]+\\) \\{ number state \\}( p[0-9]+: pullRequest\\(number: \\$n[0-9]+\\) \\{ number state \\})* \\} \\}$"))' \
    >/dev/null 2>&1 <<<"$1"
}

# Refuses, before anything is sent, a request off the allowlist, naming it. An empty PATH is the
# GraphQL endpoint (GITHUB_API_URL set to it for that call): only the fixed read-only query passes.
# A REST path against a base URL ending in /graphql (in any case or encoding) is refused too.
_github_guard() { # METHOD PATH BODY BASE
  local method="$1" path="$2" body="$3" base_path
  if [[ -z $path ]]; then
    if [[ $method == POST ]] && _github_graphql_allowed "$body"; then return 0; fi
    _github_fail github "refused $method to the GraphQL endpoint: only the read-only pull request states query is sent (no mutation); nothing was sent"
    return 1
  fi
  _github_route_of base_path "/${4#*://*/}"
  if _github_route_allowed "$method" "$path" && [[ $base_path != */graphql ]]; then return 0; fi
  _github_fail github "refused ${method} ${path//[^A-Za-z0-9._~%\/=&,:+?-]/?}: not a request this pipeline makes (not on lib/github.sh's allowlist); nothing was sent"
  return 1
}

# One HTTP exchange with retries. AUTH_FILE holds the Authorization header line. Its request,
# response and headers files stay until the caller's _github_done (one `rm` for the whole call).
_github_http() { # METHOD PATH BODY AUTH_FILE
  local method="${1^^}" path="$2" body="$3" auth_file="$4"
  local base attempts base_ms max_wait connect_timeout max_time
  _github_api_url base || return 1
  _github_guard "$method" "$path" "$body" "$base" || return 1
  _github_int_setting attempts GITHUB_RETRY_ATTEMPTS 5 1 10 || return 1
  _github_int_setting base_ms GITHUB_RETRY_BASE_MS 1000 0 60000 || return 1
  _github_int_setting max_wait GITHUB_RETRY_MAX_WAIT_SECONDS 60 1 3600 || return 1
  _github_int_setting connect_timeout GITHUB_CONNECT_TIMEOUT_SECONDS 10 1 600 || return 1
  _github_int_setting max_time GITHUB_MAX_TIME_SECONDS 60 1 600 || return 1
  local retry_server_errors="${GITHUB_RETRY_SERVER_ERRORS:-yes}"
  if [[ $retry_server_errors != yes && $retry_server_errors != no ]]; then
    _github_fail GITHUB_RETRY_SERVER_ERRORS "must be yes or no"
    return 1
  fi
  if ! [[ ${GITHUB_ALLOW_STATUS-} =~ ^([1-5][0-9][0-9]( [1-5][0-9][0-9])*)?$ ]]; then
    _github_fail GITHUB_ALLOW_STATUS "must be empty or HTTP statuses separated by single spaces"
    return 1
  fi
  _github_tmpdir || return 1

  local out="$_GITHUB_TMP/response" headers="$_GITHUB_TMP/headers" data="$_GITHUB_TMP/request"
  local -a args=(
    --silent --show-error --proto "=http,https" --connect-timeout "$connect_timeout" --max-time "$max_time"
    -X "$method" -H "@$auth_file"
    -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28"
    -H "User-Agent: implementation-dag"
    -o "$out" -D "$headers" -w '%{http_code}'
  )
  if [[ -n $body ]]; then
    printf '%s' "$body" >"$data"
    args+=(-H "Content-Type: application/json" --data-binary "@$data")
  fi

  local try=1 status retry_after remaining reset wait_ms message now
  while :; do
    : >"$out"
    : >"$headers"
    status=$(curl "${args[@]}" "$base$path" 2>/dev/null) || status="000"
    [[ $status =~ ^[0-9]{3}$ ]] || status="000"
    GITHUB_STATUS="$status"
    if [[ $status == 2* || " ${GITHUB_ALLOW_STATUS-} " == *" $status "* ]]; then
      cat "$out"
      return 0
    fi

    # Header names are case-insensitive; the value is the number after the colon.
    retry_after=$(tr -d '\r' <"$headers" | sed -n 's/^[Rr][Ee][Tt][Rr][Yy]-[Aa][Ff][Tt][Ee][Rr]:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' | tail -n 1)
    remaining=$(tr -d '\r' <"$headers" | sed -n 's/^[Xx]-[Rr][Aa][Tt][Ee][Ll][Ii][Mm][Ii][Tt]-[Rr][Ee][Mm][Aa][Ii][Nn][Ii][Nn][Gg]:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' | tail -n 1)
    reset=$(tr -d '\r' <"$headers" | sed -n 's/^[Xx]-[Rr][Aa][Tt][Ee][Ll][Ii][Mm][Ii][Tt]-[Rr][Ee][Ss][Ee][Tt]:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' | tail -n 1)
    message=$(jq -j 'if type == "object" and (.message | type) == "string" then .message else empty end' <"$out" 2>/dev/null | head -c 300 | tr '\n\r\t' '   ') || message=""
    [[ -n $message ]] || message=$(head -c 200 "$out" | tr -c '[:print:]' ' ')

    # Retryable: no answer, 5xx, 429, and a 403 that is a rate limit (Retry-After, exhausted
    # quota, or GitHub's "secondary rate limit" message).
    local retryable=""
    case "$status" in
      000 | 5??) if [[ $retry_server_errors == yes ]]; then retryable=yes; fi ;;
      429) retryable=yes ;;
      403)
        if [[ -n $retry_after || $remaining == "0" || $message == *"rate limit"* ]]; then retryable=yes; fi
        ;;
    esac

    if [[ -n $retryable && $try -lt $attempts ]]; then
      if [[ -n $retry_after ]]; then
        wait_ms=$((10#$retry_after * 1000))
      elif [[ $remaining == "0" && -n $reset ]]; then
        printf -v now '%(%s)T' -1
        wait_ms=$(((10#$reset - now) * 1000))
        ((wait_ms > 0)) || wait_ms=1000
      else
        wait_ms=$((base_ms << (try - 1)))
        ((wait_ms <= max_wait * 1000)) || wait_ms=$((max_wait * 1000))
      fi
      if ((wait_ms > max_wait * 1000)); then
        _github_fail github "$method $path: HTTP $status: GitHub asks to wait $((wait_ms / 1000))s, more than GITHUB_RETRY_MAX_WAIT_SECONDS=$max_wait: $message"
        return 1
      fi
      printf 'github: %s %s: HTTP %s, try %d of %d, retrying in %d.%03ds\n' \
        "$method" "$path" "$status" "$try" "$attempts" $((wait_ms / 1000)) $((wait_ms % 1000)) >&2
      sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
      try=$((try + 1))
      continue
    fi

    if [[ $status == 000 ]]; then message="no answer from $base"; fi
    if [[ $retry_server_errors == no && ($status == 000 || $status == 5??) ]]; then
      # The caller opted out of these retries: it decides what happens next, and reports it.
      printf 'github: %s %s: HTTP %s: %s (left to the caller)\n' "$method" "$path" "$status" "$message" >&2
      return 1
    fi
    if [[ -n $retryable ]]; then message="$message (gave up after $try tries)"; fi
    _github_fail github "$method $path: HTTP $status: $message"
    return 1
  done
}

# Writes an Authorization header line for TOKEN into a private file and sets the variable VAR to
# its path. Once the requests made with it are done, _github_done removes it with their files.
_github_auth_file() { # VAR TOKEN
  _github_tmpdir || return 1
  local file="$_GITHUB_TMP/auth"
  (umask 077 && printf 'Authorization: Bearer %s\n' "$2" >"$file") || return 1
  printf -v "$1" '%s' "$file"
}

# Removes AUTH_FILE and the files of the requests made with it (_github_http's request, response and
# headers, _github_installation_of's answer), in one process.
_github_done() { # AUTH_FILE
  rm -f "$1" "$_GITHUB_TMP/request" "$_GITHUB_TMP/response" "$_GITHUB_TMP/headers" "$_GITHUB_TMP/installation.json"
}

_github_check_request() { # METHOD PATH BODY
  if ! [[ $1 =~ ^[A-Za-z]{1,16}$ ]]; then
    _github_fail github_request "METHOD must be an HTTP method (GET or POST: the only ones this pipeline uses)"
    return 1
  fi
  if ! [[ $2 == /* ]]; then
    _github_fail github_request "PATH must be a REST path starting with '/'"
    return 1
  fi
  if [[ -n $3 ]] && ! jq -e 'type == "object" or type == "array"' >/dev/null 2>&1 <<<"$3"; then
    _github_fail github_request "BODY_JSON must be a JSON object or array"
    return 1
  fi
}

github_request() {
  local method="${1-}" path="${2-}" body="${3-}" auth rc
  # shellcheck disable=SC2034 # read by the scripts that use this library
  GITHUB_STATUS=""
  _github_check_request "$method" "$path" "$body" || return 1
  # Methods are compared and sent in upper case; _github_http refuses what is off the allowlist.
  method="${method^^}"
  if ! _github_is_token "${GITHUB_TOKEN-}"; then
    _github_fail GITHUB_TOKEN "must be set to a token (see github_installation_token)"
    return 1
  fi
  _github_auth_file auth "$GITHUB_TOKEN" || return 1
  rc=0
  _github_http "$method" "$path" "$body" "$auth" || rc=$?
  _github_done "$auth"
  return "$rc"
}

# Whether OWNER and REPO are a GitHub owner and repository name; FUNCTION names the caller.
_github_repository_ok() { # FUNCTION OWNER REPO
  if ! [[ $2 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$ ]]; then
    _github_fail "$1" "OWNER must be a GitHub owner name"
    return 1
  fi
  if ! [[ $3 =~ ^[A-Za-z0-9._-]{1,100}$ ]] || [[ $3 == . || $3 == .. ]]; then
    _github_fail "$1" "REPO must be a GitHub repository name"
    return 1
  fi
}

# The app as people know it, for messages: "<slug> (id <id>)" when GitHub says (GET /app, one try,
# quiet), else "GITHUB_APP_ID <value>".
_github_app_name() { # AUTH_FILE
  local name
  name=$(GITHUB_RETRY_ATTEMPTS=1 GITHUB_ALLOW_STATUS="" _github_http GET /app "" "$1" 2>/dev/null |
    jq -r 'if (.slug | type) == "string" and (.id | type) == "number" then "\(.slug) (id \(.id))" else empty end' 2>/dev/null) || name=""
  [[ $name =~ ^[A-Za-z0-9._-]{1,100}\ \(id\ [0-9]{1,15}\)$ ]] || name="GITHUB_APP_ID ${GITHUB_APP_ID-}"
  printf '%s' "$name"
}

# The installation covering OWNER/REPO, asked with the app's JWT in AUTH_FILE. Prints its id.
_github_installation_of() { # OWNER REPO AUTH_FILE
  local owner="$1" repo="$2" auth="$3" file id
  _github_tmpdir || return 1
  file="$_GITHUB_TMP/installation.json"
  # A GET: server errors are retried whatever the caller chose for its own requests.
  if ! GITHUB_ALLOW_STATUS=404 GITHUB_RETRY_SERVER_ERRORS=yes _github_http GET "/repos/$owner/$repo/installation" "" "$auth" >"$file"; then
    _github_fail github "cannot tell which installation of the app covers $owner/$repo"
    return 1
  fi
  if [[ $GITHUB_STATUS == 404 ]]; then
    _github_fail github "GitHub App $(_github_app_name "$auth") is not installed on $owner/$repo (GET /repos/$owner/$repo/installation: 404): install it on $owner with access to $repo, or set GITHUB_INSTALLATION_ID"
    return 1
  fi
  # The installation must be the repository owner's: a token minted elsewhere would not cover it.
  id=$(jq -r --arg owner "$owner" 'if (.id | type) == "number" and ((.account.login // "") | ascii_downcase) == ($owner | ascii_downcase)
    then .id else empty end' "$file" 2>/dev/null) || id=""
  if ! [[ $id =~ ^[1-9][0-9]{0,14}$ ]]; then
    _github_fail github "GitHub's answer names no installation of the app on $owner's account for $owner/$repo"
    return 1
  fi
  printf '%s' "$id"
}

github_repository_installation() {
  local owner="${1-}" repo="${2-}" jwt auth rc id
  _github_repository_ok github_repository_installation "$owner" "$repo" || return 1
  jwt=$(github_app_jwt) || return 1
  _github_auth_file auth "$jwt" || return 1
  rc=0
  id=$(_github_installation_of "$owner" "$repo" "$auth") || rc=$?
  _github_done "$auth"
  ((rc == 0)) || return 1
  printf '%s\n' "$id"
}

github_installation_token() {
  local owner="${1-}" repo="${2-}" permissions="${3-}" installation="${GITHUB_INSTALLATION_ID-}"
  local jwt auth body response rc fields limited narrowed token
  _github_repository_ok github_installation_token "$owner" "$repo" || return 1
  # The request's body, made only from PERMISSIONS_JSON of the right shape.
  body=$(jq -cn --arg repo "$repo" --argjson permissions "$permissions" '
    if ($permissions | type == "object" and length > 0 and all(.[]; . == "read" or . == "write")
        and all(keys[]; test("^[a-z_]+$")))
    then {repositories: [$repo], permissions: $permissions} else empty end' 2>/dev/null) || body=""
  if [[ -z $body ]]; then
    _github_fail github_installation_token 'PERMISSIONS_JSON must be a non-empty object of permission: "read"|"write"'
    return 1
  fi
  if [[ -n $installation ]] && ! [[ $installation =~ ^[0-9]{1,15}$ ]]; then
    _github_fail GITHUB_INSTALLATION_ID "must be empty (look the installation up) or a numeric installation id"
    return 1
  fi
  jwt=$(github_app_jwt) || return 1
  _github_auth_file auth "$jwt" || return 1
  local configured=yes
  if [[ -z $installation ]]; then
    configured=""
    rc=0
    installation=$(_github_installation_of "$owner" "$repo" "$auth") || rc=$?
    if ((rc != 0)); then
      _github_done "$auth"
      return 1
    fi
  fi
  rc=0
  response=$(_github_http POST "/app/installations/$installation/access_tokens" "$body" "$auth") || rc=$?
  _github_done "$auth"
  if ((rc != 0)); then
    if [[ -n $configured ]]; then
      _github_fail GITHUB_INSTALLATION_ID "no installation token for $owner/$repo from installation $installation (is the app installed there, with these permissions?)"
    else
      _github_fail github_installation_token "no installation token for $owner/$repo from installation $installation, the app's installation there (does it grant $permissions?)"
    fi
    return 1
  fi
  # GitHub narrows the token as asked; check it did, so a broader token is never used. One reading
  # of the answer: whether it is limited to OWNER/REPO, whether its permissions stay within those
  # asked for, and the token (last, so an empty one cannot shift the others).
  fields=$(jq -r --arg full "$owner/$repo" --argjson asked "$permissions" '
    [ (try ((.repositories | type) == "array" and (.repositories | length) == 1
         and ((.repositories[0].full_name // "") | ascii_downcase) == ($full | ascii_downcase)) catch false),
      (try ((.permissions // {}) | to_entries | all(.key as $k | .value as $v |
         ($asked[$k] == $v) or ($asked[$k] == "write" and $v == "read") or ($k == "metadata" and $v == "read"))) catch false),
      (if (.token | type) == "string" then .token else "" end)
    ] | @tsv' <<<"$response" 2>/dev/null) || fields=""
  IFS=$'\t' read -r limited narrowed token <<<"$fields" || true
  if [[ $fields == *$'\n'* ]] || ! _github_is_token "$token"; then
    _github_fail github_installation_token "GitHub's answer holds no token"
    return 1
  fi
  if [[ $limited != true ]]; then
    _github_fail github_installation_token "the token GitHub issued is not limited to $owner/$repo; refusing it"
    return 1
  fi
  if [[ $narrowed != true ]]; then
    _github_fail github_installation_token "the token GitHub issued has permissions beyond $permissions; refusing it"
    return 1
  fi
  printf '%s\n' "$token"
}
