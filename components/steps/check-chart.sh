#!/usr/bin/env bash
# check-chart: checks a chart against the chart contract (docs/chart-contract.md) the way deploy
# does before it installs anything (lib/chart-contract.sh), for `npm run check-chart`
# (scripts/check-chart.ts), which gives it the stack config's LimitRange and example host and tag.
# It never reaches a cluster: helm lint, helm template and `kubectl label --local` only.
#
# Env (each validated; every bad one is reported):
#   CHART_DIR          absolute path of the chart's directory (with Chart.yaml)
#   VALUES_FILE        empty (the chart's values.yaml only) or an absolute path of a readable file
#   RELEASE            the Helm release it is rendered as: a DNS-1123 label of at most 53 characters
#   NS                 the namespace it is rendered into: a DNS-1123 label
#   HOST               the preview host given as ingress.host: a lowercase DNS name
#   IMAGE_TAG          the image tag given as image.tag (a valid, non-empty image tag)
#   IMAGE_PULL_POLICY  empty, Always, IfNotPresent or Never: given as image.pullPolicy and checked
#   INGRESS_CLASS      empty or the IngressClass given as ingress.className and checked (an object name)
#   LIMITRANGE_FILE    absolute path of the preview's LimitRange (YAML or JSON)
#   REPORT_FILE        absolute path the failures are written to
#
# Writes REPORT_FILE: one line per failure, empty when the chart meets the contract. Exit 0 when it
# does, 1 when it does not or a bad input stopped it.
set -euo pipefail
export LC_ALL=C

declare chart_dir values_file release ns host image_tag pull_policy ingress_class limitrange_file \
  report_file
input chart_dir CHART_DIR
input values_file VALUES_FILE
input release RELEASE
input ns NS
input host HOST
input image_tag IMAGE_TAG
input pull_policy IMAGE_PULL_POLICY
input ingress_class INGRESS_CLASS
input limitrange_file LIMITRANGE_FILE
input report_file REPORT_FILE

if [[ $chart_dir != /* || ! -f $chart_dir/Chart.yaml ]]; then
  bad CHART_DIR "must be the absolute path of a chart directory (with Chart.yaml)"
fi
if [[ -n $values_file && ($values_file != /* || ! -f $values_file || ! -r $values_file) ]]; then
  bad VALUES_FILE "must be empty or the absolute path of a readable file"
fi
if ! is_dns_label "$release" || ((${#release} > 53)); then
  bad RELEASE "must be a DNS-1123 label of at most 53 characters"
fi
is_dns_label "$ns" || bad NS "$RULE_DNS_LABEL"
is_dns_name "$host" || bad HOST "must be a lowercase DNS name"
if ! [[ $image_tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  bad IMAGE_TAG "must be an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
fi
case "$pull_policy" in
  "" | Always | IfNotPresent | Never) ;;
  *) bad IMAGE_PULL_POLICY "must be empty, Always, IfNotPresent or Never" ;;
esac
if [[ -n $ingress_class ]] && ! is_object_name "$ingress_class"; then
  bad INGRESS_CLASS "must be empty or an IngressClass name (a DNS-1123 subdomain)"
fi
if [[ $limitrange_file != /* || ! -f $limitrange_file || ! -r $limitrange_file ]]; then
  bad LIMITRANGE_FILE "must be the absolute path of a readable file"
fi
[[ $report_file == /* ]] || bad REPORT_FILE "must be an absolute file path"
stop_on_bad_inputs

echo "checking $chart_dir${values_file:+ with $values_file}: image.tag=$image_tag${pull_policy:+ image.pullPolicy=$pull_policy} ingress.host=$host${ingress_class:+ ingress.className=$ingress_class}"
chart_contract_check "$chart_dir" "$values_file" "$release" "$ns" "$host" "$image_tag" "$pull_policy" "$ingress_class" \
  "$limitrange_file" "$report_file" || exit 1
echo "the chart meets the chart contract"
