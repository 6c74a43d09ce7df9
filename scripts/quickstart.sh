#!/usr/bin/env bash
# Sets this machine up and runs the quickstart: installs host packages, starts the daemons, installs and
# builds Stratus, puts `stratus` on the PATH, builds the test guest image, then applies
# examples/quickstart, which creates a real VM and prints how to reach it. Run as root from the
# repository root. STRATUS_BIN_DIR (default /usr/local/bin) is where the `stratus` link goes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm ci --no-audit --no-fund
npm run build
# `stratus` on the PATH: a link to the CLI just built (what `npm link -w @stratus/sdk` would make, without
# touching npm's global directory). Later builds update what it points at.
bin_dir="${STRATUS_BIN_DIR:-/usr/local/bin}"
chmod +x packages/sdk/dist/bundle/stratus.js
mkdir -p "$bin_dir"
ln -sfn "$PWD/packages/sdk/dist/bundle/stratus.js" "$bin_dir/stratus"
echo "stratus is $bin_dir/stratus ($("$bin_dir/stratus" version | head -1))"
bash scripts/build-guest-image.sh
"$bin_dir/stratus" apply -auto-approve examples/quickstart
