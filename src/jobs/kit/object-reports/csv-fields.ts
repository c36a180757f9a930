/**
 * Splits one CSV line (RFC 4180) into its fields: a field is quoted (`"a,b"`, with `""` for a
 * quote inside) or bare. Inventory files quote every field and Batch Operations manifests
 * usually none; keys are URL-encoded in both, so no field spans lines and a line-by-line read is
 * enough. Returns `undefined` for a line that is not valid CSV (an unterminated quote, text
 * after a closing quote).
 */
export function csvFields(line: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let from = i + 1;
      for (;;) {
        const quote = line.indexOf('"', from);
        if (quote === -1) return undefined;
        value += line.slice(from, quote);
        if (line[quote + 1] === '"') {
          value += '"';
          from = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === line.length) return fields;
      if (line[i] !== ',') return undefined;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const value = comma === -1 ? line.slice(i) : line.slice(i, comma);
      if (value.includes('"')) return undefined;
      fields.push(value);
      if (comma === -1) return fields;
      i = comma + 1;
    }
  }
}
