/** Sample relative keys a check of "would the outputs be read back as inputs" tries. */
const SAMPLE_KEYS = [
  'sample',
  'sample.txt',
  'sample.csv',
  'sample.json',
  'sample.log',
  'sample.gz',
  'sample.txt.gz',
  'sample.zst',
  'sample.txt.zst',
  'sample.bin',
];

/** Options of {@link outputsReadBack}. */
export interface OutputsReadBackOptions {
  /** Whether the run's filters accept a relative key as an input. */
  accepts: (relKey: string) => boolean;
  /** The output key, relative to the output folder, of an input's relative key. */
  outputKeyOf: (relKey: string) => string;
}

/**
 * For a run whose output folder is its input folder: an example of an accepted input whose
 * output the filters would accept as an input again (a re-run, or the listing itself, reads
 * `x.gz` and writes `x.gz.gz`), or `undefined` when no sample key does. Sample keys are tried
 * at the top and one folder down (`dir/…`), so a `*.gz` exclude that misses nested keys is
 * caught; keys that only a subclass's own `outputKey` produces are not seen here.
 */
export function outputsReadBack(options: OutputsReadBackOptions): string | undefined {
  for (const name of SAMPLE_KEYS) {
    for (const relKey of [name, `dir/${name}`]) {
      if (!options.accepts(relKey)) continue;
      let output: string;
      try {
        output = options.outputKeyOf(relKey);
      } catch {
        continue;
      }
      if (options.accepts(output)) return relKey;
    }
  }
  return undefined;
}
