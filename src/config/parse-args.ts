import type { ConfigIssue } from '../errors.js';
import { coerceText, parsePair } from './coerce-text.js';
import type { OptionField } from './option-fields.js';

/** What `parseArgs` found on the command line. */
export interface ParsedArgs {
  /** Field values by schema key, already coerced (numbers, booleans, lists, records). */
  values: Record<string, unknown>;
  /** Arguments that are not options, in order. */
  positionals: string[];
  /** `-h` or `--help` was given. */
  help: boolean;
  /** Every unknown option, missing value and bad value; empty when all is well. */
  issues: ConfigIssue[];
}

/**
 * Parses `run` arguments against a job's fields: `--name value`, `--name=value`, booleans as
 * `--name` / `--no-name` (or `--name=false`), lists by repeating the flag, records as repeated
 * `--name key=value`. Collects every problem instead of stopping at the first.
 */
export function parseArgs(args: readonly string[], fields: readonly OptionField[]): ParsedArgs {
  const byFlag = new Map(fields.map((f) => [f.flag, f]));
  const out: ParsedArgs = { values: {}, positionals: [], help: false, issues: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const field = byFlag.get(name);
    if (!field && name.startsWith('--no-') && inline === undefined) {
      const negated = byFlag.get(`--${name.slice(5)}`);
      if (negated?.kind === 'boolean') {
        out.values[negated.key] = false;
        continue;
      }
    }
    if (!field) {
      out.issues.push({ path: name, message: 'unknown option' });
      // Its value, if any, must not turn into a stray positional argument.
      if (inline === undefined && i + 1 < args.length && !args[i + 1]!.startsWith('-')) i++;
      continue;
    }
    if (field.kind === 'boolean' && inline === undefined) {
      out.values[field.key] = true;
      continue;
    }
    if (inline === undefined) {
      const next = args[i + 1];
      // A negative number is a value (`--concurrency -1` must reach validation), and so is a
      // lone `-` (standard input: `--path -`); a flag is not.
      if (next === undefined || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) {
        out.issues.push({ path: field.key, message: `option ${name} needs a value` });
        continue;
      }
      inline = next;
      i++;
    }
    addValue(out, field, inline);
  }
  return out;
}

function addValue(out: ParsedArgs, field: OptionField, text: string): void {
  const where = `(from flag ${field.flag})`;
  if (field.kind === 'array') {
    const list = (out.values[field.key] as string[] | undefined) ?? [];
    list.push(text);
    out.values[field.key] = list;
    return;
  }
  if (field.kind === 'record') {
    const pair = parsePair(text);
    if (!pair.ok) {
      out.issues.push({ path: field.key, message: `${pair.message} ${where}` });
      return;
    }
    const record = (out.values[field.key] as Record<string, string> | undefined) ?? {};
    record[pair.key] = pair.value;
    out.values[field.key] = record;
    return;
  }
  const coerced = coerceText(field.kind, text);
  if (coerced.ok) out.values[field.key] = coerced.value;
  else out.issues.push({ path: field.key, message: `${coerced.message} ${where}` });
}
