/**
 * How commands print results: a table for people, `--json` for scripts (one JSON document on
 * stdout, nothing else there). Shared by every command that shows records (keys now; consumers
 * and plans the same way).
 */
export interface OutputOptions {
  json?: boolean;
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
}

/** A plain-text table: one header line, then one line per row, columns padded to the widest cell. */
export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => cellText(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => (line[i] as string).length)));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => (i === values.length - 1 ? value : value.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `field  value` lines for one record. */
export function renderRecord(record: Record<string, unknown>): string {
  const width = Math.max(0, ...Object.keys(record).map((key) => key.length));
  return Object.entries(record).map(([key, value]) => `${key.padEnd(width)}  ${cellText(value)}`).join('\n') + '\n';
}

export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value.replace(/\s+/g, ' ');
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.length === 0 ? '-' : value.join(',');
  return JSON.stringify(value);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints `value` as JSON with --json, otherwise what `human` renders. */
export function print(options: OutputOptions, value: unknown, human: () => string): void {
  if (options.json) printJson(value);
  else process.stdout.write(human());
}
