#!/usr/bin/env bash
# Sets this machine up and runs the quickstart: installs host packages, starts the daemons, installs and
# builds Stratus, builds the test guest image, then applies examples/quickstart, which creates a real VM
# and prints how to reach it. Run as root from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm ci --no-audit --no-fund
npm run build
bash scripts/build-guest-image.sh
node packages/sdk/dist/cli/main.js apply --auto-approve examples/quickstart
