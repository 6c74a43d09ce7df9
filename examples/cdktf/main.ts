// The Stratus quickstart with cdktf: the same VM and network as examples/terraform/main.tf, declared
// with the construct classes of @stratus/provider/cdktf. `app.synth()` writes
// cdktf.out/stacks/quickstart/cdk.tf.json, which terraform applies with the Stratus provider
// (no cdktf-cli needed).
//
//   node --import tsx examples/cdktf/main.ts               # synth (CDKTF_OUTDIR moves the output)
//   eval "$(bash scripts/terraform-config.sh --env)"       # TF_CLI_CONFIG_FILE with dev_overrides
//   terraform -chdir=examples/cdktf/cdktf.out/stacks/quickstart apply
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Image, Network, SecurityGroup, Server, StratusProvider, Subnet } from '@stratus/provider/cdktf';
import { App, TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import type { Construct } from 'constructs';

const here = dirname(fileURLToPath(import.meta.url));

class Quickstart extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // cdktf writes a `backend "local"` block by default, and any backend block wants `terraform init`,
    // which cannot run with dev_overrides (it asks the registry for stratus/stratus). Without the block
    // Terraform keeps terraform.tfstate beside cdk.tf.json, as it does for examples/terraform.
    this.addOverride('terraform.backend', undefined);
    // The agent on this machine, as the stratus CLI finds it (STRATUS_AGENT_SOCKET / STRATUS_AGENT_STATE_DIR).
    new StratusProvider(this, 'stratus');

    // The provider takes absolute image paths only: the default is resolved here, at synth.
    const imagePath = new TerraformVariable(this, 'image_path', {
      type: 'string',
      description: 'Absolute path of the guest image to import.',
      default: resolve(here, '../../build/images/stratus-guest.qcow2'),
    });
    const image = new Image(this, 'guest_image', { name: 'stratus-guest', source: imagePath.stringValue });

    const net = new Network(this, 'net', { name: 'quickstart', mtu: 1500 });
    const subnet = new Subnet(this, 'subnet', { network: net.id, cidr: '10.20.0.0/24' });

    // HTTP from the subnet, anything out (without a group the server gets the default one).
    const webSg = new SecurityGroup(this, 'web_sg', {
      name: 'web',
      rules: [
        {
          direction: 'ingress',
          protocol: 'tcp',
          portRangeMin: 80,
          portRangeMax: 80,
          remoteIpPrefix: '10.20.0.0/24',
        },
        { direction: 'egress' },
      ],
    });

    const web = new Server(this, 'web', {
      name: 'web',
      image: image.id,
      memoryMb: 256,
      networks: [{ subnet: subnet.id }],
      securityGroups: [webSg.id],
      userData: '#!/bin/sh\necho "hello from user data" > /www/hello.txt\n',
    });

    new TerraformOutput(this, 'web_ip', {
      description: 'Address of the web server on the quickstart network.',
      value: web.accessIpV4,
    });
    new TerraformOutput(this, 'console_log', { value: web.consoleLog });
  }
}

const app = new App({ outdir: process.env.CDKTF_OUTDIR ?? resolve(here, 'cdktf.out') });
new Quickstart(app, 'quickstart');
app.synth();
