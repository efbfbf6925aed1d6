/**
 * How a root key's plaintext is shown: once, on stdout, as a block no one can miss in the middle
 * of build output and log lines; never in a log line. The key stands alone on its line, so it can
 * be copied (or picked out with `grep -E '^ {6}kl_'`).
 */
export function rootKeyBlock(rootKey: string, heading = 'keyledger root key (admin permission). It is shown this once: store it safely.'): string {
  const rule = '='.repeat(78);
  return ['', rule, `  ${heading}`, '', `      ${rootKey}`, '', '  Lost it? Run `keyledger root-key reset` on this host.', rule, '', ''].join('\n');
}
