/**
 * Shell completion scripts for bash and zsh, generated from the command registry: commands,
 * subcommands, each command's flags (as `-flag` / `-flag=`), the values of -lock, -refresh and -input,
 * and files or directories for STACK, -out, -state and -chdir.
 */
import type { FlagSpec } from './args.js';
import type { CommandSpec } from './registry.js';

const flagWord = (f: FlagSpec) => (f.kind === 'bool' ? `-${f.name}` : `-${f.name}=`);
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The bash completion script (`source <(stratus completion bash)`). */
export function bashCompletion(commands: readonly CommandSpec[], groups: Record<string, string>): string {
  const top = [...new Set(commands.map((c) => c.name.split(' ')[0]!)), 'help'];
  const cases = commands
    .map((c) => {
      const flags = c.flags.filter((f) => !f.hidden).map(flagWord);
      const key = c.name.replace(' ', '_');
      return `    ${key}) flags=${sq([...flags, '-help'].join(' '))}; choices=${sq((c.choices ?? []).join(' '))} ;;`;
    })
    .join('\n');
  const subs = Object.keys(groups)
    .map(
      (g) =>
        `    ${g}) subs=${sq(
          commands
            .filter((c) => c.name.startsWith(`${g} `))
            .map((c) => c.name.split(' ')[1])
            .join(' '),
        )} ;;`,
    )
    .join('\n');
  return `# bash completion for stratus; load with: source <(stratus completion bash)
_stratus() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" sub="" i w subs="" flags="" choices=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    [[ $w == -* ]] && continue
    if [[ -z $cmd ]]; then cmd=$w
    elif [[ -z $sub ]]; then sub=$w; break
    fi
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '-chdir= -help -version -no-color' -- "$cur"))
    else COMPREPLY=($(compgen -W ${sq(top.join(' '))} -- "$cur")); fi
    [[ \${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
    return
  fi
  case $cmd in
${subs}
  esac
  if [[ -n $subs && -z $sub ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur")); return; fi
  if [[ $cmd == help ]]; then COMPREPLY=($(compgen -W ${sq(top.join(' '))} -- "$cur")); return; fi
  local key=$cmd
  [[ -n $subs ]] && key="\${cmd}_\${sub}"
  case $key in
${cases}
    *) return ;;
  esac
  case $cur in
    -lock=*|-refresh=*|-input=*) COMPREPLY=($(compgen -W "\${cur%%=*}=true \${cur%%=*}=false" -- "$cur")) ;;
    -chdir=*) COMPREPLY=($(compgen -d -P -chdir= -- "\${cur#-chdir=}")); compopt -o nospace 2>/dev/null ;;
    -out=*|-state=*) COMPREPLY=($(compgen -f -P "\${cur%%=*}=" -- "\${cur#*=}")) ;;
    -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")); [[ \${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null ;;
    *) if [[ -n $choices ]]; then COMPREPLY=($(compgen -W "$choices" -- "$cur"))
       else COMPREPLY=($(compgen -f -- "$cur")); fi ;;
  esac
}
complete -F _stratus stratus
`;
}

/** The zsh completion script (save as `_stratus` in a directory of $fpath). */
export function zshCompletion(commands: readonly CommandSpec[], groups: Record<string, string>): string {
  const desc = (s: string) => s.replace(/[[\]:']/g, ' ');
  const topSpecs = [
    ...commands.filter((c) => !c.name.includes(' ')).map((c) => `${c.name}:${desc(c.summary)}`),
    ...Object.entries(groups).map(([g, s]) => `${g}:${desc(s)}`),
    'help:Show help for a command',
  ];
  const args = (c: CommandSpec) =>
    [
      ...c.flags
        .filter((f) => !f.hidden)
        .map((f) =>
          f.kind === 'bool'
            ? `'-${f.name}[${desc(f.help)}]'`
            : `'-${f.name}=[${desc(f.help)}]:${(f.value ?? 'value').toLowerCase()}:${f.name === 'chdir' ? '_directories' : '_files'}'`,
        ),
      `'-help[Show help]'`,
      c.choices ? `'1:shell:(${c.choices.join(' ')})'` : `'*:stack:_files'`,
    ].join(' ');
  const cases = commands
    .filter((c) => !c.name.includes(' '))
    .map((c) => `    ${c.name}) _arguments ${args(c)} ;;`)
    .join('\n');
  const groupCases = Object.keys(groups)
    .map((g) => {
      const subs = commands.filter((c) => c.name.startsWith(`${g} `));
      const specs = subs.map((c) => `'${c.name.split(' ')[1]}:${desc(c.summary)}'`).join(' ');
      const inner = subs.map((c) => `        ${c.name.split(' ')[1]}) _arguments ${args(c)} ;;`).join('\n');
      return `    ${g})
      if (( CURRENT == 3 )); then local -a subs=(${specs}); _describe 'subcommand' subs; return; fi
      case $words[3] in
${inner}
      esac ;;`;
    })
    .join('\n');
  return `#compdef stratus
# zsh completion for stratus; save as _stratus in a directory of $fpath (stratus completion zsh > "\${fpath[1]}/_stratus")
_stratus() {
  local -a commands=(${topSpecs.map((s) => `'${s}'`).join(' ')})
  if (( CURRENT == 2 )); then _describe 'command' commands; return; fi
  case $words[2] in
${cases}
${groupCases}
    help) _describe 'command' commands ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _stratus "$@"; else compdef _stratus stratus; fi
`;
}
