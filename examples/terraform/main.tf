# The Stratus quickstart in HCL: one Linux VM on its own network (examples/quickstart/stack.yaml).
#
#   eval "$(bash scripts/terraform-config.sh --env)"   # TF_CLI_CONFIG_FILE with dev_overrides
#   terraform -chdir=examples/terraform apply
#
# The image is the small test guest built by scripts/build-guest-image.sh. It reads the config drive,
# gets its address by DHCP, runs the user data below, serves its hostname on port 80 and prints a
# STRATUS-GUEST-READY line on its serial console.

terraform {
  required_providers {
    stratus = {
      source = "stratus/stratus"
    }
  }
}

# The agent on this machine, as the stratus CLI finds it (STRATUS_AGENT_SOCKET / STRATUS_AGENT_STATE_DIR).
provider "stratus" {}

variable "image_path" {
  description = "Path of the guest image to import."
  type        = string
  default     = "../../build/images/stratus-guest.qcow2"
}

resource "stratus_image" "guest_image" {
  name   = "stratus-guest"
  source = abspath(startswith(var.image_path, "/") ? var.image_path : "${path.module}/${var.image_path}")
}

resource "stratus_network" "net" {
  name = "quickstart"
  mtu  = 1500
}

resource "stratus_subnet" "subnet" {
  network = stratus_network.net.id
  cidr    = "10.20.0.0/24"
}

# HTTP from the subnet (where the network's DHCP namespace is), anything out. Without a group the
# server gets the default one, which admits only other members of that group.
resource "stratus_security_group" "web" {
  name = "web"
  rules = [
    { direction = "ingress", protocol = "tcp", port_range_min = 80, port_range_max = 80, remote_ip_prefix = "10.20.0.0/24" },
    { direction = "egress" },
  ]
}

resource "stratus_server" "web" {
  name      = "web"
  image     = stratus_image.guest_image.id
  memory_mb = 256
  networks = [
    { subnet = stratus_subnet.subnet.id },
  ]
  security_groups = [stratus_security_group.web.id]
  user_data = <<-EOT
    #!/bin/sh
    echo "hello from user data" > /www/hello.txt
  EOT
}

output "web_ip" {
  description = "Address of the web server on the quickstart network."
  value       = stratus_server.web.access_ip_v4
}

output "console_log" {
  value = stratus_server.web.console_log
}
