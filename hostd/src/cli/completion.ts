import type { Command } from './commands.js';
import { optionsOf } from './command-options.js';

/** Words are our own command and option names (`[a-z-]`): quoting them in single quotes is enough. */
function words(list: readonly string[]): string {
  return `'${list.join(' ')}'`;
}

/**
 * A bash completion function for mvctl, generated from the command table so it never drifts from it:
 * groups, then verbs of the group, then the verb's options and the values of options that have choices.
 */
export function bashCompletionScript(table: readonly Command[]): string {
  const groups = [...new Set(table.map((command) => command.group))];
  const verbCases = groups
    .map(
      (group) =>
        `      ${group}) candidates=${words(table.filter((c) => c.group === group).map((c) => c.name))} ;;`,
    )
    .join('\n');
  const optionCases = table
    .map(
      (command) =>
        `      '${command.group} ${command.name}') candidates=${words(optionsOf(command).map((o) => `--${o.name}`))} ;;`,
    )
    .join('\n');
  const valueCases = table
    .flatMap((command) =>
      optionsOf(command)
        .filter((option) => option.choices !== undefined)
        .map(
          (option) =>
            `      '${command.group} ${command.name} --${option.name}') candidates=${words(option.choices ?? [])} ;;`,
        ),
    )
    .join('\n');
  return `# bash completion for mvctl: source <(mvctl completion bash)
_mvctl() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} candidates=''
  if [[ $COMP_CWORD -eq 1 ]]; then
    candidates=${words([...groups, '--help'])}
  elif [[ $COMP_CWORD -eq 2 ]]; then
    case \${COMP_WORDS[1]} in
${verbCases}
    esac
  else
    case "\${COMP_WORDS[1]} \${COMP_WORDS[2]} $prev" in
${valueCases}
    esac
    if [[ -z $candidates ]]; then
      case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
${optionCases}
      esac
    fi
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -F _mvctl mvctl
`;
}
