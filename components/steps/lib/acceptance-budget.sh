# shellcheck shell=bash
# lib/acceptance-budget.sh: acceptance's budget rule, written once for the steps: acceptance applies
# it before any request, set-params to the settings it resolves (so a run acceptance would refuse
# stops before the agents). zod applies the same rule to the stack config (acceptanceBudgetProblem in
# components/config.ts); one test table holds the three to one verdict. Needs lib/parameter-rules.sh
# (ACCEPTANCE_BUDGET_SECONDS, generated from components/parameters.ts), and settings that already
# hold their own rules (check_parameter): the arithmetic trusts their form.
#
#   acceptance_budget_problem SETTINGS SETTINGS: the name of an associative array from acceptance's
#                                      input names (PARAMETERS_ACCEPTANCE) to their values. Sets
#                                      RATE_MILLI to the rate (requests per second, at most 3
#                                      decimals) times 1000, 0 for the empty rate (the closed model),
#                                      and BUDGET_INPUT and BUDGET_PROBLEM to the input to blame and
#                                      what breaks the rule, both empty when the settings keep it:
#     readiness (ready_timeout_s, unless ready_consecutive is 0) plus the measurement's worst case
#     (closed model: ceil(requests_per_endpoint / concurrency) x timeout_ms; open model: duration_s +
#     timeout_ms) fit in ACCEPTANCE_BUDGET_SECONDS, and an open-model schedule holds a request.
# shellcheck disable=SC2034 # RATE_MILLI, BUDGET_INPUT and BUDGET_PROBLEM are read by the steps this file is inserted into

# RATE_MILLI for RATE.
acceptance_rate_milli() { # RATE
  RATE_MILLI=0
  [[ $1 =~ ^([0-9]+)([.]([0-9]+))?$ ]] || return 0
  local frac=${BASH_REMATCH[3]}000
  RATE_MILLI=$((10#${BASH_REMATCH[1]} * 1000 + 10#${frac:0:3}))
}

acceptance_budget_problem() { # SETTINGS
  local -n budget_settings=$1
  local n=$((10#${budget_settings[requests_per_endpoint]})) c=$((10#${budget_settings[concurrency]}))
  local t_ms=$((10#${budget_settings[timeout_ms]})) ready_s=$((10#${budget_settings[ready_timeout_s]}))
  local dur_s=$((10#${budget_settings[duration_s]})) worst_ms measured input
  ((10#${budget_settings[ready_consecutive]} > 0)) || ready_s=0
  BUDGET_INPUT="" BUDGET_PROBLEM=""
  acceptance_rate_milli "${budget_settings[rate]}"
  if ((RATE_MILLI > 0)); then
    if ((RATE_MILLI * dur_s / 1000 < 1)); then
      BUDGET_INPUT=rate BUDGET_PROBLEM="${budget_settings[rate]} per second for $dur_s s (duration_s) schedules no request"
      return 0
    fi
    worst_ms=$((dur_s * 1000 + t_ms))
    measured="a $dur_s s schedule plus timeout_ms $t_ms"
    input=duration_s
  else
    local rounds=$(((n + c - 1) / c))
    worst_ms=$((rounds * t_ms))
    measured="$n requests at concurrency $c with timeout_ms $t_ms"
    input=requests_per_endpoint
  fi
  ((ready_s * 1000 + worst_ms > ACCEPTANCE_BUDGET_SECONDS * 1000)) || return 0
  BUDGET_INPUT=$input
  BUDGET_PROBLEM="$measured may take $((worst_ms / 1000)) s after up to $ready_s s of readiness (ready_timeout_s);"
  BUDGET_PROBLEM+=" acceptance must finish within $ACCEPTANCE_BUDGET_SECONDS s (lower ready_timeout_s or timeout_ms, or send fewer requests)"
}
