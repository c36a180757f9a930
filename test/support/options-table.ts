import { fieldOption } from '../../src/cli/job-help.js';
import type { OptionField } from '../../src/config/option-fields.js';

/**
 * The options tables of docs/*.md, rendered from the schemas: the flag, environment name,
 * default and description of each row come from the same definition as `--help`, so the docs
 * cannot drift. A table sits between `<!-- options: NAME -->` and `<!-- /options -->`.
 */

/** The table's header and its separator row. */
export const TABLE_HEAD = '| flag | environment | default | meaning |\n| --- | --- | --- | --- |';

const BLOCK = /<!-- options: ([\w-]+) -->\n([\s\S]*?)<!-- \/options -->/g;

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** The cells of one option's row: flag, environment, default, meaning. */
export function optionCells(field: OptionField): [string, string, string, string] {
  const flags =
    field.kind === 'boolean'
      ? `\`${field.flag}\` / \`--no-${field.flag.slice(2)}\``
      : `\`${fieldOption(field, '')[0]!.flags}\``;
  const description = field.description ?? '';
  // Choices a description does not already name are listed after it, as `--help` lists them.
  const unnamed = (field.choices ?? []).filter((c) => !description.includes(c));
  const choices = field.choices?.join(', ');
  const meaning =
    unnamed.length === 0
      ? description
      : description.endsWith('.')
        ? `${description} Choices: ${choices}.`
        : `${description}; choices: ${choices}`;
  const byDefault = field.defaultText ?? (field.required ? 'required' : '');
  return [flags, `\`${field.env}\``, cell(byDefault), cell(meaning)];
}

/** One markdown row per option, under the header. */
export function optionsTable(fields: OptionField[]): string {
  const rows = fields.map((f) => `| ${optionCells(f).join(' | ')} |`);
  return `${TABLE_HEAD}\n${rows.join('\n')}\n`;
}

/** The options tables of a page, by name: the text between the markers. */
export function optionBlocks(page: string): Map<string, string> {
  return new Map([...page.matchAll(BLOCK)].map((m) => [m[1]!, m[2]!]));
}

/** The page with each named table rendered anew from `tables` (others left as they are). */
export function renderOptionBlocks(page: string, tables: Record<string, OptionField[]>): string {
  return page.replaceAll(BLOCK, (whole, name: string) => {
    const fields = tables[name];
    return fields ? `<!-- options: ${name} -->\n${optionsTable(fields)}<!-- /options -->` : whole;
  });
}
