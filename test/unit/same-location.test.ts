import { describe, expect, it } from 'vitest';
import {
  crossFieldProblems,
  type StreamTransformConfigInput,
  streamTransformConfigSchema,
} from '../../src/jobs/stream-transform/config.js';

function problems(input: Partial<StreamTransformConfigInput>): string[] {
  const config = streamTransformConfigSchema.parse({
    input: 's3://bkt/data/',
    output: 's3://bkt/data/',
    ...input,
  });
  return crossFieldProblems(config).map((p) => `${p.path}: ${p.message}`);
}

describe('same input and output location', () => {
  it('refuses a non-identity transform that would read its own outputs back (x.gz.gz)', () => {
    expect(problems({ transform: ['gzip'] })).toEqual([
      expect.stringMatching(/^output: .*"sample.gz" of "sample" would be read back/),
    ]);
    // The prefix given without its slash names the same folder.
    expect(problems({ output: 's3://bkt/data', transform: ['zstd'] })).toHaveLength(1);
    expect(problems({ transform: ['identity'], keyTemplate: '{relkey}.bak' })).toHaveLength(1);
  });

  it('refuses an exclude that misses nested outputs', () => {
    expect(problems({ transform: ['gzip'], exclude: ['*.gz'] })).toEqual([
      expect.stringMatching(/"dir\/sample.gz" of "dir\/sample"/),
    ]);
  });

  it('allows it when an exclude matches every output, and elsewhere', () => {
    expect(problems({ transform: ['gzip'], exclude: ['**/*.gz'] })).toEqual([]);
    expect(problems({ transform: ['gzip'], output: 's3://bkt/data-gz/' })).toEqual([]);
    expect(problems({ transform: ['gzip'], output: 's3://other/data/' })).toEqual([]);
  });
});
