/**
 * Test support: libvirt's in-process test driver (`virsh -c test:///default`): the real domain XML
 * parser and formatter, no daemon, nothing shared with other tests. Its state lives only as long
 * as one virsh process, so a test sends all its commands in one script.
 */
import { run } from './libxml-tools.js';

/** virsh splits commands like a shell: inside single quotes nothing is special but the quote. */
export function quoteForVirsh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the commands in one virsh process. A command `mark NAME` starts a section of output; the
 * answer maps each name to the output that followed it.
 */
export async function runVirshScript(commands: readonly string[]): Promise<Map<string, string>> {
  const script = commands.map((command) =>
    command.startsWith('mark ') ? `echo ===${command.slice(5)}===` : command,
  );
  const result = await run('virsh', ['-q', '-c', 'test:///default', script.join(' ; ')]);
  if (result.exitCode !== 0) throw new Error(`virsh failed:\n${result.stderr}\n${result.stdout}`);
  const parts = result.stdout.split(/===([\w-]+)===\n?/);
  const sections = new Map<string, string>();
  for (let index = 1; index < parts.length; index += 2)
    sections.set(parts[index] ?? '', parts[index + 1] ?? '');
  return sections;
}
