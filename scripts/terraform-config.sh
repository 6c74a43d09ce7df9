#!/usr/bin/env bash
# Prints a Terraform CLI configuration whose dev_overrides run the built terraform-provider-stratus
# (packages/provider/bin) for the provider address stratus/stratus, so terraform plan/apply use it with
# no `terraform init` and no registry.
#
#   bash scripts/terraform-config.sh > ~/.stratus.tfrc && export TF_CLI_CONFIG_FILE=~/.stratus.tfrc
#   eval "$(bash scripts/terraform-config.sh --env)"   # writes build/terraform.tfrc and exports it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/packages/provider/bin"
if [[ ! -f "$root/packages/provider/dist/terraform/main.js" ]]; then
  echo "terraform-config: the provider is not built; run: npx turbo run build" >&2
  exit 1
fi
config="provider_installation {
  dev_overrides {
    \"stratus/stratus\" = \"$bin\"
  }
  direct {}
}"
if [[ "${1:-}" == "--env" ]]; then
  out="${TMPDIR:-/tmp}/stratus-terraform-$(id -u).tfrc"
  printf '%s\n' "$config" > "$out"
  printf 'export TF_CLI_CONFIG_FILE=%q\n' "$out"
else
  printf '%s\n' "$config"
fi
