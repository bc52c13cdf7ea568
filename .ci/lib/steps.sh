# shellcheck shell=bash
# Sourced by every .ci/ script: strict mode, and no silent exit. Each script names its steps
# (`step "installing packages" "read /var/log/x.log"`); a command that fails where `set -e`
# would end the script prints one line instead of nothing:
#   setup-host failed at installing packages (line 42): apt-get install ... exited 100. Do read /var/log/x.log.
# Commands whose non-zero exit is an answer (diff, grep -q, cmp, pgrep) belong in a
# condition (`if`, `||`, `&&`), where neither `set -e` nor this trap acts on them.
set -Eeuo pipefail

CI_SCRIPT=${CI_SCRIPT:-$(basename "$0")}
CI_STEP="starting"
CI_STEP_FIX="rerun it with 'bash -x' to see the failing command in context"

# step NAME [FIX]: what the script does from here on, and what to do if it fails.
step() {
  CI_STEP=$1
  CI_STEP_FIX=${2:-"rerun it with 'bash -x' to see the failing command in context"}
}

# The ERR trap. errtrace (-E) runs it inside functions and subshells too; only the main
# shell reports, so a failure inside $(...) is reported once, as the assignment that failed,
# and a subshell keeps its own status semantics.
ci_on_error() {
  local code=$1 line=$2 command=$3
  [ "$BASH_SUBSHELL" -eq 0 ] || return 0
  command=$(printf '%s' "$command" | tr '\n' ' ' | cut -c1-200)
  echo "$CI_SCRIPT failed at $CI_STEP (line $line): $command exited $code. Do $CI_STEP_FIX." >&2
  exit "$code"
}
trap 'ci_on_error "$?" "$LINENO" "$BASH_COMMAND"' ERR
