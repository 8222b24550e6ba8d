# shellcheck shell=bash
# lib/chart-contract.sh: the chart contract (docs/chart-contract.md), checked before anything is
# installed. Needs helm, kubectl and jq, and no cluster: `helm lint` and `helm template` run with the
# pipeline's overrides, `kubectl label --local -o json` turns the rendered YAML into JSON offline
# (the step image has no yq), and lib/chart-contract.jq judges the objects: stepSource embeds that
# jq program as CHART_CONTRACT_JQ when a step lists it before this library (CHART_CONTRACT_LIBRARIES).
#
# chart_contract_check CHART_DIR VALUES_FILE RELEASE NAMESPACE HOST IMAGE_TAG PULL_POLICY INGRESS_CLASS LIMITRANGE_FILE REPORT
#   VALUES_FILE, PULL_POLICY and INGRESS_CLASS may be empty (no values file; not passed, not checked).
#   LIMITRANGE_FILE is the preview's LimitRange as YAML or JSON (the guardrails' limitrange.yaml).
#   Writes REPORT: one line per failure (`<where>: <what is wrong>. Fix: <what to change>`), or
#   nothing when the chart meets the contract; prints the failures to stderr too.
#   Returns 0 when the chart meets the contract, 1 when it does not or cannot be checked.
# shellcheck disable=SC2154 # CHART_CONTRACT_JQ is set by stepSource, right before this file (CHART_CONTRACT_LIBRARIES)

# The label `kubectl label --local` must set to print the objects; never written anywhere.
CHART_CONTRACT_LABEL="implementation-dag/chart-contract=checked"

# Prints the failures of REPORT to stderr under a heading, and returns 1.
chart_contract_refuse() { # REPORT
  {
    echo "The chart does not meet the chart contract (docs/chart-contract.md); what to change:"
    while IFS= read -r line; do
      # helm's and kubectl's own words, indented under the failure they explain, get no bullet.
      if [[ $line == "    "* ]]; then
        printf '  %s\n' "$line"
      else
        printf '  - %s\n' "$line"
      fi
    done <"$1"
  } >&2
  return 1
}

chart_contract_check() { # CHART_DIR VALUES_FILE RELEASE NAMESPACE HOST IMAGE_TAG PULL_POLICY INGRESS_CLASS LIMITRANGE_FILE REPORT
  local chart=$1 values=$2 release=$3 namespace=$4 host=$5 tag=$6 pull_policy=$7 ingress_class=$8 limitrange=$9 report=${10}
  local scratch overrides limit_range
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/chart-contract.XXXXXX") || return 1
  : >"$report"
  # The same overrides deploy installs with.
  overrides=(--set-string "image.tag=$tag")
  [[ -z $pull_policy ]] || overrides+=(--set-string "image.pullPolicy=$pull_policy")
  overrides+=(--set-string "ingress.host=$host")
  [[ -z $ingress_class ]] || overrides+=(--set-string "ingress.className=$ingress_class")
  [[ -z $values ]] || overrides=(-f "$values" "${overrides[@]}")

  if ! helm lint "$chart" "${overrides[@]}" >"$scratch/lint.txt" 2>&1; then
    {
      echo "helm lint: the chart fails helm lint with the pipeline's overrides. Fix: what helm lint says:"
      grep -E '^\[(ERROR|WARNING)\]|^Error' "$scratch/lint.txt" | sed 's/^/    /' || sed 's/^/    /' "$scratch/lint.txt"
    } >>"$report"
    rm -rf "$scratch"
    chart_contract_refuse "$report"
    return 1
  fi
  if ! helm template "$release" "$chart" --namespace "$namespace" "${overrides[@]}" >"$scratch/rendered.yaml" 2>"$scratch/template.txt"; then
    {
      echo "helm template: the chart does not render with the pipeline's overrides. Fix: what helm says:"
      sed 's/^/    /' "$scratch/template.txt"
    } >>"$report"
    rm -rf "$scratch"
    chart_contract_refuse "$report"
    return 1
  fi
  if ! kubectl label --local --overwrite -f "$scratch/rendered.yaml" -o json "$CHART_CONTRACT_LABEL" >"$scratch/objects.json" 2>"$scratch/objects.txt" ||
    ! jq -s . "$scratch/objects.json" >"$scratch/objects.array.json" 2>>"$scratch/objects.txt"; then
    {
      echo "the chart: renders something that is not a list of Kubernetes objects. Fix: what kubectl says:"
      sed 's/^/    /' "$scratch/objects.txt"
    } >>"$report"
    rm -rf "$scratch"
    chart_contract_refuse "$report"
    return 1
  fi
  if ! limit_range=$(kubectl label --local --overwrite -f "$limitrange" -o json "$CHART_CONTRACT_LABEL" 2>&1) ||
    ! jq -e '.kind == "LimitRange"' <<<"$limit_range" >/dev/null 2>&1; then
    echo "chart contract: $limitrange is not a LimitRange: $limit_range" >&2
    rm -rf "$scratch"
    return 1
  fi
  if ! jq -r --arg namespace "$namespace" --arg host "$host" --arg tag "$tag" --arg pull_policy "$pull_policy" --arg ingress_class "$ingress_class" \
    --argjson limit_range "$limit_range" "$CHART_CONTRACT_JQ" "$scratch/objects.array.json" >>"$report" 2>"$scratch/jq.txt"; then
    echo "chart contract: the check itself failed on the rendered objects: $(cat "$scratch/jq.txt")" >&2
    rm -rf "$scratch"
    return 1
  fi
  rm -rf "$scratch"
  [[ ! -s $report ]] || chart_contract_refuse "$report"
}

# deploy's gate, before anything in the cluster changes: the check against the guardrails'
# LimitRange (GUARDRAILS_DIR/limitrange.yaml), its failures kept as EVIDENCE_DIR/chart-contract.txt;
# stops the step (die) when the chart fails it.
chart_contract_gate() { # CHART_DIR VALUES_FILE RELEASE NAMESPACE HOST IMAGE_TAG PULL_POLICY INGRESS_CLASS GUARDRAILS_DIR EVIDENCE_DIR
  echo "chart contract: checking the chart with the overrides it is installed with"
  if ! chart_contract_check "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9/limitrange.yaml" "${10}/chart-contract.txt"; then
    die chart "the chart does not meet the chart contract (docs/chart-contract.md): change what is listed above (also in evidence/chart-contract.txt); nothing was installed"
  fi
  echo "chart contract: met"
}
