import { describe, expect, it } from 'vitest';
import { OutputKeyClaims } from '../../src/jobs/kit/output-key-claims.js';

describe('OutputKeyClaims', () => {
  it('grants each key once, across table growth', () => {
    const claims = new OutputKeyClaims();
    const keys = Array.from({ length: 50_000 }, (_, i) => `out/${i}/part-${i % 7}.gz`);
    expect(keys.every((k) => claims.claim(k))).toBe(true);
    expect(claims.size).toBe(keys.length);
    expect(keys.some((k) => claims.claim(k))).toBe(false);
    expect(claims.claim('out/new')).toBe(true);
  });
});
