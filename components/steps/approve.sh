#!/usr/bin/env bash
# approve: after acceptance passed, the QA GitHub App approves the pull request, pinned to the commit
# that was deployed and tested, with the evidence in the review's body: the acceptance summary, the
# image digests the preview's pods ran (so the approval names commit and digests) and links to the
# archived acceptance report and preview evidence (pod logs, events, restarts). It never merges: its token
# is narrowed to this one repository and to pull_requests:write, and the QA app has no
# contents:write at all.
#
# Decisions (each also written to OUTPUT_DIR/decision; "error" when the step failed before one):
#   refused           report.json missing, unreadable, or its verdict is not "pass"; or the preview
#                     evidence does not name the image digest of every container of the running
#                     pods (pods.json missing or unreadable, no running container, or one without
#                     a sha256 digest): an approval that cannot say what ran is not given; or the
#                     PR is not open. Exit 1 with the reason. When acceptance did not pass, nothing is sent to
#                     GitHub at all.
#   already-approved  the app already approved this commit: nothing is written. Exit 0.
#   head-moved        the PR head is no longer the tested commit: a COMMENT review pinned to the
#                     tested commit says what was tested; newer code is not approved. Exit 0.
#                     (No second comment when this run's comment for that commit is already there.)
#   approved          a review with event APPROVE and commit_id = COMMIT. Exit 0.
#
# Env (each validated before anything is sent; a bad value prints `ERROR: <input>: <rule>`, exit 1):
#   OWNER, REPO, PR     the pull request (GitHub owner; repository name; positive integer)
#   COMMIT              the tested commit: 40 hex digits (deploy resolves the PR head to a full SHA)
#   HOST                the preview's host name (a lowercase DNS name)
#   REPORT_DIR          acceptance's evidence: report.json (top-level "verdict": "pass"|"fail"|"error")
#                       and summary.md (the figures, used as the review's body)
#   EVIDENCE_DIR        preview-evidence's artifact: pods.json (a list of {pod, phase, container, init,
#                       image, digest, restartCount, ...}). Pod and container names, images and digests
#                       reach the body only when they match the Kubernetes name, image reference and
#                       sha256 digest patterns; anything else is shown as "(not shown)".
#   WORKFLOW_NAME, WORKFLOW_NAMESPACE  this workflow (DNS-1123 names), for the Argo UI link
#   ARGO_UI_URL         empty or the Argo UI base URL (link: <url>/workflows/<ns>/<name>)
#   ARTIFACTS_URL       empty or the base URL archived artifacts are browsed under
#   ARTIFACTS_LOCATION  the key prefix this workflow's artifacts are archived under (relative path)
#   REPORT_ARCHIVE_KEY, EVIDENCE_ARCHIVE_KEY  empty or the archive keys (relative paths) of the
#                       acceptance report and the preview evidence, linked under ARTIFACTS_URL
#   OUTPUT_DIR          where decision, review_url and approve/review.md are written
#   TMPDIR              a private writable directory for GitHub's answers
#   GITHUB_API_URL, GITHUB_APP_ID, GITHUB_INSTALLATION_ID, GITHUB_APP_PRIVATE_KEY_FILE (or
#   GITHUB_APP_PRIVATE_KEY), GITHUB_RETRY_*: see lib/github.sh.
#
# GitHub calls: GET /app (the app's slug, with its JWT), one installation token, GET the pull
# request, GET its reviews, and POST one review. A 5xx on that POST is not blindly retried
# (GitHub may have recorded the review): the reviews are read again first.
#
# Writes: OUTPUT_DIR/decision, OUTPUT_DIR/review_url (empty unless a review was posted or found),
#   OUTPUT_DIR/approve/review.md (the body posted, or that would have been) and
#   OUTPUT_DIR/approve/result.json ({decision, commit, head, review_url}).
# shellcheck disable=SC2016 # backticks in printf formats are Markdown, not command substitution
set -euo pipefail
export LC_ALL=C

declare owner repo pr commit host report_dir workflow_name workflow_namespace argo_ui_url \
  artifacts_url artifacts_location report_key evidence_key evidence_dir output_dir
input owner OWNER
input repo REPO
input pr PR
input commit COMMIT
input host HOST
input report_dir REPORT_DIR
input workflow_name WORKFLOW_NAME
input workflow_namespace WORKFLOW_NAMESPACE
input argo_ui_url ARGO_UI_URL
input artifacts_url ARTIFACTS_URL
input artifacts_location ARTIFACTS_LOCATION
input report_key REPORT_ARCHIVE_KEY
input evidence_key EVIDENCE_ARCHIVE_KEY
input evidence_dir EVIDENCE_DIR
input output_dir OUTPUT_DIR

is_github_owner "$owner" || die owner "$RULE_OWNER"
is_github_repo "$repo" || die repo "$RULE_REPO"
is_pr_number "$pr" || die pr "$RULE_PR"
[[ $commit =~ ^[0-9a-fA-F]{40}$ ]] || die commit "must be the full 40-hex SHA that was deployed and tested"
commit=$(printf '%s' "$commit" | tr 'A-F' 'a-f')
is_dns_name "$host" || die host "must be a lowercase DNS name"
is_object_name "$workflow_name" || die WORKFLOW_NAME "must be a Kubernetes object name"
is_dns_label "$workflow_namespace" || die WORKFLOW_NAMESPACE "$RULE_DNS_LABEL"
is_url_or_empty "$argo_ui_url" || die ARGO_UI_URL "$RULE_URL_OR_EMPTY"
is_url_or_empty "$artifacts_url" || die ARTIFACTS_URL "$RULE_URL_OR_EMPTY"
[[ -z $artifacts_location ]] || is_relative_path "$artifacts_location" || die ARTIFACTS_LOCATION "$RULE_RELATIVE_PATH"
[[ -z $report_key ]] || is_relative_path "$report_key" || die REPORT_ARCHIVE_KEY "$RULE_RELATIVE_PATH"
[[ -z $evidence_key ]] || is_relative_path "$evidence_key" || die EVIDENCE_ARCHIVE_KEY "$RULE_RELATIVE_PATH"
[[ -n $output_dir && -d $output_dir ]] || mkdir -p "$output_dir" 2>/dev/null || die OUTPUT_DIR "must be a writable directory"
[[ -n $report_dir ]] || die REPORT_DIR "must name the directory of acceptance's evidence"
[[ -n $evidence_dir ]] || die EVIDENCE_DIR "must name the directory of preview-evidence's artifact"
[[ -n ${TMPDIR-} && -d ${TMPDIR-} && -w ${TMPDIR-} ]] || die TMPDIR "must be a writable directory"

mkdir -p "$output_dir/approve"
printf '' >"$output_dir/review_url"
decide() { printf '%s' "$1" >"$output_dir/decision"; }
# Until a decision is reached, a failure (GitHub unreachable, bad key, ...) reads as "error".
decide error

# ---- The evidence. Nothing reaches GitHub unless acceptance passed. ----
report="$report_dir/report.json"
summary="$report_dir/summary.md"
if [[ ! -f $report ]]; then
  decide refused
  die acceptance-report "report.json is missing; refusing to approve"
fi
verdict=$(jq -r 'if type == "object" and (.verdict | type) == "string" then .verdict else "unreadable" end' "$report" 2>/dev/null) ||
  verdict=unreadable
case "$verdict" in
  pass) ;;
  fail | error)
    decide refused
    die acceptance-report "verdict is \"$verdict\"; refusing to approve"
    ;;
  *)
    decide refused
    die acceptance-report "report.json has no verdict of pass, fail or error; refusing to approve"
    ;;
esac
if [[ ! -s $summary ]]; then
  decide refused
  die acceptance-report "summary.md is missing or empty; an approval without its evidence is refused"
fi

# ---- What ran: the image digest of every container of the running pods. ----
pods_file="$evidence_dir/pods.json"
running=$(jq -c 'if type == "array" then [.[] | select(type == "object" and .phase == "Running" and .init != true)] else error("not a list") end' \
  "$pods_file" 2>/dev/null) || {
  decide refused
  die preview-evidence "pods.json is missing or unreadable; refusing to approve without naming the images that ran"
}
# jq -c writes an empty list as exactly [].
if [[ $running == "[]" ]]; then
  decide refused
  die preview-evidence "pods.json names no container of a running pod; refusing to approve without naming the images that ran"
fi
undigested=$(jq -r '[.[] | select((.digest | type) != "string" or (.digest | test("^sha256:[0-9a-f]{64}$") | not))] | length' <<<"$running")
if ((undigested > 0)); then
  decide refused
  die preview-evidence "$undigested container(s) of running pods have no sha256 image digest (imageID); refusing to approve without naming the images that ran"
fi
restarts=$(jq -r '[.[] | select(type == "object") | .restartCount | select(type == "number")] | add // 0' "$pods_file")
# One row per running container, at most 20, so the body stays under GitHub's 65536 characters.
# Names, images and digests come from the PR's chart: a value enters the Markdown (inside
# backticks) only when it matches its pattern, which has no backtick, pipe or space.
images_table=$(jq -r '
  def shown(re): if type == "string" and test(re) then "`" + . + "`" else "(not shown)" end;
  .[:20][] | "| \(.pod | shown("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")) | \(.container | shown("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")) | \(.image | shown("^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")) | \(.digest | shown("^sha256:[0-9a-f]{64}$")) |"' <<<"$running")
running_count=$(jq 'length' <<<"$running")
if ((running_count > 20)); then images_table+=$'\n'"_(the first 20 of $running_count containers; all are in the archived pods.json)_"; fi

# GitHub takes review bodies up to 65536 characters; the archived artifacts keep the whole summary.
max_summary=50000
summary_text=$(head -c "$max_summary" "$summary")
if (($(wc -c <"$summary") > max_summary)); then
  summary_text+=$'\n\n_(summary truncated; the full report is in the archived artifacts)_'
fi

preview_url="https://$host/"
workflow_link=""
[[ -z $argo_ui_url ]] || workflow_link="${argo_ui_url%/}/workflows/$workflow_namespace/$workflow_name"
artifacts_link=""
if [[ -n $artifacts_url && -n $artifacts_location ]]; then artifacts_link="${artifacts_url%/}/$artifacts_location/"; fi
report_link=""
evidence_link=""
if [[ -n $artifacts_url && -n $report_key ]]; then report_link="${artifacts_url%/}/$report_key"; fi
if [[ -n $artifacts_url && -n $evidence_key ]]; then evidence_link="${artifacts_url%/}/$evidence_key"; fi

what_ran() {
  printf '### What ran

'
  printf 'Commit `%s`, from these images (the digests the running pods report):

' "$commit"
  printf '| pod | container | image | digest |
|---|---|---|---|
%s

' "$images_table"
  printf 'Restarts of the preview'"'"'s containers: %s.

' "$restarts"
}

evidence_links() {
  printf '### Evidence\n\n'
  printf -- '- Preview: %s\n' "$preview_url"
  if [[ -n $workflow_link ]]; then printf -- '- Workflow: %s\n' "$workflow_link"; fi
  if [[ -n $artifacts_link ]]; then printf -- '- Archived evidence (acceptance report, responses, request log, deploy evidence): %s\n' "$artifacts_link"; fi
  if [[ -n $report_link ]]; then printf -- '- Acceptance report: %s\n' "$report_link"; fi
  if [[ -n $evidence_link ]]; then printf -- '- Preview evidence (pod logs, events, restarts, image digests): %s\n' "$evidence_link"; fi
  printf -- '- Tested commit: `%s`\n\n' "$commit"
  printf '_This approval by the QA app is evidence for a human reviewer, not a substitute for one: '
  printf 'the pipeline never merges, and a person with write access decides._\n'
}

# A marker that lets a re-run find its own reviews; it carries no secret.
marker() { printf '<!-- implementation-dag:approve kind=%s commit=%s -->\n' "$1" "$commit"; }

# ---- GitHub ----
# The app's login (reviews are by "<slug>[bot]"): GET /app with the app's JWT.
jwt=$(github_app_jwt)
GITHUB_TOKEN="$jwt"
app_file="$TMPDIR/approve-app.json"
github_request GET /app >"$app_file"
slug=$(jq -r 'if (.slug | type) == "string" then .slug else "" end' "$app_file")
[[ $slug =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,99}$ ]] || die github "GET /app answered no usable app slug"
bot_login="${slug}[bot]"
unset jwt

# shellcheck disable=SC2034 # read by github_request (lib/github.sh)
GITHUB_TOKEN=$(github_installation_token "$owner" "$repo" '{"pull_requests":"write"}')

pull_file="$TMPDIR/approve-pull.json"
github_request GET "/repos/$owner/$repo/pulls/$pr" >"$pull_file"
state=$(jq -r '.state // ""' "$pull_file")
head_sha=$(jq -r '.head.sha // ""' "$pull_file" | tr 'A-F' 'a-f')
[[ $head_sha =~ ^[0-9a-f]{40}$ ]] || die github "the pull request's head SHA is missing from GitHub's answer"
if [[ $state != open ]]; then
  decide refused
  die pr "pull request #$pr is $state; refusing to review it"
fi

# Every review of the PR (paginated), to find this app's own earlier reviews of this commit.
reviews_file="$TMPDIR/approve-reviews.json"
fetch_reviews() {
  local page=1 count page_file="$TMPDIR/approve-reviews-page.json"
  printf '[]' >"$reviews_file"
  while :; do
    github_request GET "/repos/$owner/$repo/pulls/$pr/reviews?per_page=100&page=$page" >"$page_file" || return 1
    jq -s '.[0] + .[1]' "$reviews_file" "$page_file" >"$reviews_file.new" || return 1
    mv "$reviews_file.new" "$reviews_file" || return 1
    count=$(jq 'length' "$page_file") || return 1
    ((count == 100 && page < 50)) || break
    page=$((page + 1))
  done
}
fetch_reviews || die github "cannot read the reviews of $owner/$repo#$pr"
# This app's reviews of COMMIT in STATE (and, given a kind, carrying that marker), as compact JSON:
# none is exactly [].
own_reviews() { # STATE [MARKER_KIND]
  jq -c --arg login "$bot_login" --arg commit "$commit" --arg state "$1" --arg kind "${2-}" '
    [.[] | select(.user.login == $login and ((.commit_id // "") | ascii_downcase) == $commit and .state == $state)
         | select($kind == "" or ((.body // "") | contains("implementation-dag:approve kind=" + $kind + " ")))]' "$reviews_file"
}
# Posts the review in request.json and leaves GitHub's answer in posted.json. GitHub may record a
# review and still answer 5xx, so a server error is not blindly retried (that could approve twice):
# the reviews are read again first, and this app's review of COMMIT with that marker counts as posted.
# Rate limits are retried by lib/github.sh itself (GitHub did nothing then).
request_file="$TMPDIR/approve-request.json"
posted_file="$TMPDIR/approve-posted.json"
post_review() { # STATE MARKER_KIND
  local try=1 attempts base_ms wait_ms found status
  # The same bounds as lib/github.sh's own retries.
  _github_int_setting attempts GITHUB_RETRY_ATTEMPTS 5 1 10 || return 1
  _github_int_setting base_ms GITHUB_RETRY_BASE_MS 1000 0 60000 || return 1
  while :; do
    if GITHUB_RETRY_SERVER_ERRORS=no github_request POST "/repos/$owner/$repo/pulls/$pr/reviews" "$(cat "$request_file")" >"$posted_file"; then
      return 0
    fi
    status="$GITHUB_STATUS"
    case "$status" in
      000 | 5??) ;;
      *) return 1 ;;
    esac
    fetch_reviews || return 1
    found=$(own_reviews "$1" "$2") || return 1
    if [[ $found != "[]" ]]; then
      echo "approve: GitHub answered $status but recorded the review; not posting it again"
      jq '.[0]' <<<"$found" >"$posted_file"
      return 0
    fi
    if ((try >= attempts)); then
      printf 'ERROR: github: the review was not recorded after %d tries\n' "$attempts" >&2
      return 1
    fi
    wait_ms=$((base_ms << (try - 1)))
    ((wait_ms <= 60000)) || wait_ms=60000
    echo "approve: the review was not recorded; posting again (try $((try + 1)) of $attempts) in ${wait_ms}ms" >&2
    sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
    try=$((try + 1))
  done
}

result() { # DECISION REVIEW_URL
  decide "$1"
  printf '%s' "$2" >"$output_dir/review_url"
  jq -n --arg decision "$1" --arg commit "$commit" --arg head "$head_sha" --arg url "$2" \
    '{decision: $decision, commit: $commit, head: $head, review_url: $url}' >"$output_dir/approve/result.json"
}

approvals=$(own_reviews APPROVED)
if [[ $approvals != "[]" ]]; then
  existing=$(jq -r '.[0].html_url // ""' <<<"$approvals")
  echo "approve: $bot_login already approved $commit on $owner/$repo#$pr; not approving twice"
  result already-approved "$existing"
  exit 0
fi

body_file="$output_dir/approve/review.md"
if [[ $head_sha != "$commit" ]]; then
  {
    printf '## QA acceptance passed for `%s`, which is no longer the head\n\n' "$commit"
    printf 'The head of this pull request moved to `%s` after the pipeline deployed and tested `%s`. ' "$head_sha" "$commit"
    printf 'The QA app does not approve code it has not tested; a new run for the new head will do that.\n\n'
    printf 'What was tested:\n\n%s\n\n' "$summary_text"
    what_ran
    evidence_links
    marker head-moved
  } >"$body_file"
  comments=$(own_reviews COMMENTED head-moved)
  if [[ $comments != "[]" ]]; then
    existing=$(jq -r '.[0].html_url // ""' <<<"$comments")
    echo "approve: head moved to $head_sha; the comment on what was tested is already there: $existing"
    result head-moved "$existing"
    exit 0
  fi
  jq -n --rawfile body "$body_file" --arg commit "$commit" '{event: "COMMENT", commit_id: $commit, body: $body}' >"$request_file"
  post_review COMMENTED head-moved || exit 1
  url=$(jq -r '.html_url // ""' "$posted_file")
  echo "approve: head moved from $commit to $head_sha; commented what was tested instead of approving: $url"
  result head-moved "$url"
  exit 0
fi

{
  printf '## QA acceptance passed for `%s`\n\n' "$commit"
  printf '%s\n\n' "$summary_text"
  what_ran
  evidence_links
  marker approved
} >"$body_file"
jq -n --rawfile body "$body_file" --arg commit "$commit" '{event: "APPROVE", commit_id: $commit, body: $body}' >"$request_file"
post_review APPROVED approved || exit 1
review_state=$(jq -r '.state // ""' "$posted_file")
[[ $review_state == APPROVED ]] || die github "GitHub recorded the review as '$review_state', not APPROVED"
url=$(jq -r '.html_url // ""' "$posted_file")
echo "approve: approved $owner/$repo#$pr at $commit: $url"
result approved "$url"
