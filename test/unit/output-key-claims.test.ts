import { describe, expect, it } from 'vitest';
import { OutputKeyClaims } from '../../src/jobs/kit/output-key-claims.js';

describe('OutputKeyClaims', () => {
  it('grants each key to one input, across table growth', () => {
    const claims = new OutputKeyClaims();
    const keys = Array.from({ length: 50_000 }, (_, i) => `out/${i}/part-${i % 7}.gz`);
    expect(keys.every((k) => claims.claim(k, `in/${k}`))).toBe(true);
    expect(claims.size).toBe(keys.length);
    // Another input never gets a key already claimed...
    expect(keys.some((k) => claims.claim(k, `other/${k}`))).toBe(false);
    // ...while the same input may claim it again (a later event for the same source key).
    expect(keys.every((k) => claims.claim(k, `in/${k}`))).toBe(true);
    expect(claims.size).toBe(keys.length);
    expect(claims.claim('out/new', 'in/new')).toBe(true);
  });
});
