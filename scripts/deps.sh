#!/usr/bin/env bash
# Checks, and where possible installs, the programs trailguard's tests, demo
# and synth need: Go, moto_server (moto[server] 5.2.1), Node.js with npm and cfn-lint.
# Prints what it found; exits non-zero with the exact install command when
# something is missing and cannot be installed here.
set -uo pipefail
missing=0
need() { # name, check command, install command
  local name=$1 check=$2 install=$3
  if eval "$check" >/dev/null 2>&1; then
    echo "deps: $name: $(eval "$check" 2>&1 | head -1)"
    return
  fi
  echo "deps: $name missing; trying: $install"
  if eval "$install" >/dev/null 2>&1 && eval "$check" >/dev/null 2>&1; then
    echo "deps: $name: installed"
  else
    echo "deps: $name could not be installed here; install it with: $install" >&2
    missing=1
  fi
}
need go "go version" "echo 'Go 1.26 from https://go.dev/dl'; false"
need moto_server "python3 -c 'import moto, sys; print(\"moto\", moto.__version__)' && command -v moto_server" \
  "python3 -m pip install --quiet 'moto[server]==5.2.1'"
need node "node --version" "apt-get update -qq && apt-get install -y -qq nodejs npm"
# npm installs the pinned IAM simulator of the differential test (internal/policydiff).
need npm "npm --version" "apt-get update -qq && apt-get install -y -qq npm"
need cfn-lint "cfn-lint --version" "python3 -m pip install --quiet 'cfn-lint==1.51.*'"
exit $missing
