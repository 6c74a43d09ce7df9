import {
  CHDIR,
  type CommandSpec,
  INPUT,
  LOCK_FLAGS,
  NO_COLOR,
  STACK_FLAGS,
  STATE_FLAGS,
} from '../registry.js';

const b = (name: string, help: string) => ({ name, kind: 'bool' as const, help });
const s = (name: string, value: string, help: string) => ({ name, kind: 'string' as const, value, help });
const l = (name: string, value: string, help: string) => ({ name, kind: 'list' as const, value, help });

const TARGET = l('target', 'ADDR', 'Only ADDR and what it depends on (repeatable).');
const REPLACE = l('replace', 'ADDR', 'Replace ADDR even if unchanged (repeatable).');
const REFRESH = b(
  'refresh',
  'Read live state from the agents first (default true; -refresh=false skips it).',
);
const PARALLELISM = s('parallelism', 'N', 'At most N operations at once (default 10).');
const AUTO_APPROVE = b('auto-approve', 'Do not ask for confirmation.');
const JSON_UI = b('json', "Machine-readable output: one JSON object per line (Terraform's -json UI).");
/** Values of the stack's variables (Terraform's -var and -var-file). */
const VAR_FLAGS = [
  l('var', 'NAME=VALUE', 'Set variable NAME (repeatable; overrides -var-file and STRATUS_VAR_NAME).'),
  l('var-file', 'FILE', 'Set variables from a YAML or JSON file of NAME: VALUE (repeatable).'),
  // Heat templates: the openstack CLI's -e/--environment and the heat CLI's -P/--parameter.
  l('environment', 'FILE', 'Heat templates: an environment file (repeatable, in order; -e FILE).'),
  l('parameter', 'KEY=VALUE', 'Heat templates: a parameter value (repeatable; -P KEY=VALUE).'),
  { ...l('e', 'FILE', 'Same as -environment.'), hidden: true },
  { ...l('P', 'KEY=VALUE', 'Same as -parameter.'), hidden: true },
];
const STACK_DOC =
  'STACK is a stack file, a directory holding stack.yaml, or a TypeScript/JavaScript stack program; ' +
  'default: the current directory (or DIR with -chdir=DIR).';

/**
 * Every command of the CLI, in the order help lists them. Each `run` imports its implementation when the
 * command runs, so that parsing, `-help`, `version` and completion load none of the engine, loaders,
 * schemas or agent client (the CLI's start time; bench/cli-start.ts measures it).
 */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'validate',
    summary: 'Check a stack; no host is touched',
    usage: 'validate [options] [STACK]',
    description: `Checks the stack: every problem is reported as file:line:column: error: field: message. ${STACK_DOC}`,
    flags: [
      b('json', "Print the result as JSON (Terraform's validate -json shape); exit 1 when invalid."),
      ...VAR_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'only' },
    run: (ctx) => import('./info.js').then((m) => m.cmdValidate(ctx)),
  },
  {
    name: 'plan',
    summary: 'Show what apply would change',
    usage: 'plan [options] [STACK]',
    description: `Refreshes from the agents, then shows what apply would do, attribute by attribute. ${STACK_DOC}`,
    flags: [
      b('destroy', 'Plan destroying everything.'),
      b('detailed-exitcode', 'Exit 0 for no changes, 2 for changes, 1 for errors.'),
      JSON_UI,
      s('out', 'FILE', 'Save the plan; `stratus apply FILE` applies exactly it.'),
      REFRESH,
      TARGET,
      REPLACE,
      ...VAR_FLAGS,
      ...LOCK_FLAGS,
      INPUT,
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'only' },
    run: (ctx) => import('./plan-apply.js').then((m) => m.cmdPlan(ctx)),
  },
  {
    name: 'apply',
    summary: 'Make the infrastructure match the stack, or apply a saved plan',
    usage: 'apply [options] [STACK|PLANFILE]',
    description: `Plans, asks for approval, and applies; state is saved after every resource. Given a saved plan (plan -out), applies exactly it. ${STACK_DOC}`,
    flags: [
      AUTO_APPROVE,
      b('destroy', 'Destroy everything (as stratus destroy).'),
      JSON_UI,
      PARALLELISM,
      REFRESH,
      TARGET,
      REPLACE,
      ...VAR_FLAGS,
      ...LOCK_FLAGS,
      INPUT,
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'only' },
    run: (ctx) => import('./plan-apply.js').then((m) => m.cmdApply(ctx)),
  },
  {
    name: 'destroy',
    summary: "Destroy everything in the stack's state",
    usage: 'destroy [options] [STACK]',
    description: `Plans destroying every resource in state, asks for approval, and destroys them. ${STACK_DOC}`,
    flags: [
      AUTO_APPROVE,
      JSON_UI,
      PARALLELISM,
      REFRESH,
      TARGET,
      ...VAR_FLAGS,
      ...LOCK_FLAGS,
      INPUT,
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'only' },
    run: (ctx) => import('./plan-apply.js').then((m) => m.cmdApply(ctx)),
  },
  {
    name: 'show',
    summary: 'Show the state, or a saved plan',
    usage: 'show [options] [STACK|PLANFILE]',
    description: `Shows the resources in state and the outputs, or the saved plan PLANFILE; sensitive values redacted. ${STACK_DOC}`,
    flags: [
      b('json', "Print JSON: the state document, or a saved plan in Terraform's plan JSON shape."),
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'only' },
    run: (ctx) => import('./info.js').then((m) => m.cmdShow(ctx)),
  },
  {
    name: 'output',
    summary: 'Show output values',
    usage: 'output [options] [STACK] [NAME]',
    description: `Shows the stack's outputs, or the value of NAME (a sensitive value only when named). ${STACK_DOC}`,
    flags: [
      b('json', 'Print JSON.'),
      b('raw', 'Print the value of NAME as is, with no quotes or newline (strings, numbers, booleans).'),
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'leading', min: 0, max: 1 },
    run: (ctx) => import('./info.js').then((m) => m.cmdOutput(ctx)),
  },
  {
    name: 'graph',
    summary: 'Print the dependency graph as Graphviz DOT',
    usage: 'graph [options] [STACK]',
    description: `Prints the stack's dependency graph in DOT (edges point at dependencies). ${STACK_DOC}`,
    flags: [...STACK_FLAGS],
    stack: { kind: 'only' },
    run: (ctx) => import('./info.js').then((m) => m.cmdGraph(ctx)),
  },
  {
    name: 'state list',
    summary: 'List the resources in state',
    usage: 'state list [options] [STACK] [ADDRESS...]',
    description: `Lists the resources in state (name, type, id, and status when not ready), or only ADDRESSes. ${STACK_DOC}`,
    flags: [...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 0, max: Number.POSITIVE_INFINITY },
    run: (ctx) => import('./state.js').then((m) => m.cmdStateList(ctx)),
  },
  {
    name: 'state show',
    summary: 'Show one resource in state',
    usage: 'state show [options] [STACK] ADDRESS',
    description: `Shows the resource ADDRESS as state records it, sensitive values redacted. ${STACK_DOC}`,
    flags: [b('json', 'Print JSON.'), ...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 1, max: 1 },
    run: (ctx) => import('./state.js').then((m) => m.cmdStateShow(ctx)),
  },
  {
    name: 'state rm',
    summary: 'Forget resources (the objects stay)',
    usage: 'state rm [options] [STACK] ADDRESS...',
    description: `Removes ADDRESSes from state; the objects themselves are not touched. ${STACK_DOC}`,
    flags: [...LOCK_FLAGS, ...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 1, max: Number.POSITIVE_INFINITY },
    run: (ctx) => import('./state.js').then((m) => m.cmdStateRm(ctx)),
  },
  {
    name: 'state mv',
    summary: 'Rename a resource in state',
    usage: 'state mv [options] [STACK] SOURCE DESTINATION',
    description: `Renames SOURCE to DESTINATION in state (after renaming it in the stack). ${STACK_DOC}`,
    flags: [...LOCK_FLAGS, ...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 2, max: 2 },
    run: (ctx) => import('./state.js').then((m) => m.cmdStateMv(ctx)),
  },
  {
    name: 'import',
    summary: 'Adopt an existing object as a resource of the stack',
    usage: 'import [options] [STACK] ADDRESS ID',
    description: `Adopts an object made outside Stratus (a libvirt domain by name or UUID, a Linux bridge, an image file) as the stack's resource ADDRESS. ${STACK_DOC}`,
    flags: [...LOCK_FLAGS, INPUT, ...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 2, max: 2 },
    run: (ctx) => import('./state.js').then((m) => m.cmdImport(ctx)),
  },
  {
    name: 'force-unlock',
    summary: 'Remove a lock a crashed run left',
    usage: 'force-unlock [options] [STACK] LOCK_ID',
    description: `Removes the state lock LOCK_ID (the error of a locked run names it). Only when no run holds it. ${STACK_DOC}`,
    flags: [...STATE_FLAGS, ...STACK_FLAGS],
    stack: { kind: 'leading', min: 1, max: 1 },
    run: (ctx) => import('./state.js').then((m) => m.cmdForceUnlock(ctx)),
  },
  {
    name: 'list',
    summary: 'List what the agents hold, and which state holds each (orphans: none)',
    usage: 'list [options] [TYPE]',
    description:
      'Lists the objects the agents hold, read from the agents (one call per type), as the OpenStack CLI\n' +
      'does: servers with status, host, addresses and image; networks; subnets; images; keypairs; flavors.\n' +
      'TYPE (server, network, subnet, image, keypair, flavor, or the plural) lists one type. The Owner column\n' +
      'names the stack and address of the state that holds each object; (orphan) marks one no state holds.',
    flags: [
      b('orphans', 'Only objects no state holds (remove them with stratus delete -orphans).'),
      b('json', 'Print JSON: one object per item, sensitive values redacted.'),
      NO_COLOR,
    ],
    stack: { kind: 'none' },
    run: (ctx) => import('./inventory.js').then((m) => m.cmdList(ctx)),
  },
  {
    name: 'delete',
    summary: 'Delete objects no state holds (orphans)',
    usage: 'delete [options] TYPE ID... | delete -orphans [options] [TYPE]',
    description:
      'Deletes objects that no state holds: the given IDs of TYPE, or with -orphans every orphan (of TYPE).\n' +
      'An object a state holds is refused, and nothing is deleted: remove it from its stack and apply, or\n' +
      '`stratus state rm` it first. Lists what it will delete and asks for confirmation.',
    flags: [
      b('orphans', 'Delete every object no state holds (of TYPE, when given).'),
      AUTO_APPROVE,
      INPUT,
      NO_COLOR,
    ],
    stack: { kind: 'none' },
    run: (ctx) => import('./inventory.js').then((m) => m.cmdDelete(ctx)),
  },
  {
    name: 'ssh',
    summary: 'SSH into a server through its agent (no floating IP needed)',
    usage: 'ssh [options] [STACK] [USER@]SERVER [-- COMMAND...]',
    description:
      "Runs OpenSSH to SERVER (its name in the stack, or its id) with this CLI as ProxyCommand: the agent opens the connection from inside the network's DHCP namespace and relays it over its API. Uses the key pair's private key when Stratus generated it. Host keys are pinned per server in $XDG_STATE_HOME/stratus/known_hosts.",
    flags: [
      s('user', 'USER', 'Log in as USER (as USER@SERVER).'),
      s('port', 'N', 'Guest TCP port (default 22).'),
      s('identity', 'FILE', "Private key to use instead of the key pair's."),
      b('batch', 'Never ask for a password or passphrase (ssh BatchMode).'),
      { name: 'proxy', kind: 'bool', help: 'Internal: relay stdin/stdout through a tunnel.', hidden: true },
      {
        name: 'host',
        kind: 'string',
        value: 'HOST',
        help: 'Internal: the agent host of -proxy.',
        hidden: true,
      },
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'leading', min: 1, max: Number.POSITIVE_INFINITY },
    run: (ctx) => import('./ssh.js').then((m) => m.cmdSsh(ctx)),
  },
  {
    name: 'server password',
    summary: "Decrypt the password a server's guest posted to the metadata service",
    usage: 'server password [options] [STACK] SERVER',
    description:
      'Prints the administrator password the guest generated (cloudbase-init on Windows) and posted to the\n' +
      "metadata service encrypted with the server's first SSH key, decrypted with that key's private half:\n" +
      "the key pair's when Stratus generated it, or -private-key FILE (PEM or OpenSSH, RSA, no passphrase).\n" +
      'SERVER is its name in the stack, or its id. Exit 1 when the guest has posted none yet.',
    flags: [
      s('private-key', 'FILE', "The RSA private key to decrypt with, instead of the key pair's."),
      ...STATE_FLAGS,
      ...STACK_FLAGS,
    ],
    stack: { kind: 'leading', min: 1, max: 1 },
    run: (ctx) => import('./password.js').then((m) => m.cmdServerPassword(ctx)),
  },
  {
    name: 'doctor',
    summary: 'Check the host: libvirt, KVM or TCG, networking tools, the agent',
    usage: 'doctor [options]',
    description:
      'Checks every host prerequisite (libvirtd, virtlogd, QEMU and whether KVM really runs guests or TCG is\n' +
      'used, qemu-img, dnsmasq, iproute2, ssh-keygen, nftables, Open vSwitch and its datapath,\n' +
      'UEFI firmware, the guest image, the agent) and says what to do for each that fails. Exit 1 when a\n' +
      'required one fails.',
    flags: [b('json', 'Print JSON: {"ok", "checks": [{name, status, required, detail, fix}]}.'), NO_COLOR],
    stack: { kind: 'none' },
    run: (ctx) => import('./host.js').then((m) => m.cmdDoctor(ctx)),
  },
  {
    name: 'agent status',
    summary: 'Whether the local stratus-agent runs: pid, socket, log, KVM or TCG',
    usage: 'agent status [options]',
    description:
      'Shows whether the local stratus-agent answers, its pid, socket, state dir and log. Exit 1 when it does not run.',
    flags: [b('json', 'Print JSON.'), NO_COLOR],
    stack: { kind: 'none' },
    run: (ctx) => import('./host.js').then((m) => m.cmdAgentStatus(ctx)),
  },
  {
    name: 'agent stop',
    summary: 'Stop the local stratus-agent (servers keep running)',
    usage: 'agent stop [options]',
    description:
      'Stops the local stratus-agent and waits until it is gone. Servers keep running; the next command that\n' +
      'needs the agent starts it again.',
    flags: [NO_COLOR],
    stack: { kind: 'none' },
    run: (ctx) => import('./host.js').then((m) => m.cmdAgentStop(ctx)),
  },
  {
    name: 'agent logs',
    summary: "Print the local stratus-agent's log",
    usage: 'agent logs [options]',
    description: "Prints the log of the agent the CLI started (JSON lines, in the agent's state dir).",
    flags: [
      s('tail', 'N', 'Only the last N lines.'),
      b('follow', 'Keep printing lines as they are written, until Ctrl-C.'),
      NO_COLOR,
    ],
    stack: { kind: 'none' },
    run: (ctx) => import('./host.js').then((m) => m.cmdAgentLogs(ctx)),
  },
  {
    name: 'console',
    summary: "A server's console: its serial log, an interactive serial session, or a VNC (noVNC) URL",
    usage: 'console [options] SERVER',
    description:
      'SERVER is a server id or name (as stratus list servers shows them). Without options, prints the\n' +
      "server's serial console log and follows it until Ctrl-C. -interactive attaches to the serial port\n" +
      "(Ctrl-] detaches). -vnc prints the URL of a noVNC page for the server's screen, valid for -ttl seconds.",
    flags: [
      b('interactive', 'Attach to the serial console (type into the guest; Ctrl-] detaches).'),
      b('vnc', "Print a URL to a noVNC page showing the server's screen, behind a short-lived token."),
      s('ttl', 'SECONDS', 'How long a -vnc URL admits new connections (default 300, at most 3600).'),
      b(
        'follow',
        'Keep printing the log as the guest writes it (default true; -follow=false stops at its end).',
      ),
      s('tail', 'N', 'Start with the last N lines of the log.'),
      NO_COLOR,
    ],
    stack: { kind: 'none' },
    run: (ctx) => import('./console.js').then((m) => m.cmdConsole(ctx)),
  },
  {
    name: 'schema',
    summary: 'Print the JSON Schema of stack files',
    usage: 'schema [options]',
    description:
      'Prints a JSON Schema (draft-07) of stack files, generated from the resource registry, for editors: save it and put\n' +
      '`# yaml-language-server: $schema=./stratus.schema.json` at the top of a stack file.',
    flags: [NO_COLOR],
    stack: { kind: 'none' },
    run: (ctx) => import('./meta.js').then((m) => m.cmdSchema(ctx)),
  },
  {
    name: 'completion',
    summary: 'Print a shell completion script (bash or zsh)',
    usage: 'completion bash|zsh',
    description:
      'Prints a completion script. bash: `source <(stratus completion bash)` (or save it in\n' +
      '/etc/bash_completion.d/stratus). zsh: `stratus completion zsh > "${fpath[1]}/_stratus"`, then restart zsh.',
    flags: [NO_COLOR],
    stack: { kind: 'none' },
    choices: ['bash', 'zsh'],
    run: (ctx) => import('./meta.js').then((m) => m.cmdCompletion(ctx)),
  },
  {
    name: 'version',
    summary: 'Print the Stratus version',
    usage: 'version [options]',
    description: 'Prints the version of Stratus and the platform it runs on.',
    flags: [b('json', 'Print JSON: {"stratus_version", "platform"}.'), NO_COLOR],
    stack: { kind: 'none' },
    run: (ctx) => import('./meta.js').then((m) => m.cmdVersion(ctx)),
  },
];

/** Commands that only group subcommands (`state`). */
export const GROUPS: Record<string, string> = {
  state: 'Inspect or edit state: list, show, rm, mv',
  agent: 'The local stratus-agent: status, stop, logs',
  server: "One server's guest: password",
};

/** Global options, given before the command. */
export const GLOBAL_FLAGS = [CHDIR, NO_COLOR];
