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

  it('a released key is free for another input; one still held is refused to it', () => {
    const claims = new OutputKeyClaims();
    expect(claims.claim('out/a.txt', 'in/a.csv')).toBe(true);
    expect(claims.claim('out/b.txt', 'in/b.csv')).toBe(true);
    // Two inputs in flight at once for one output: the second is refused.
    expect(claims.claim('out/a.txt', 'in/a.tsv')).toBe(false);
    claims.release('out/a.txt');
    expect(claims.size).toBe(1);
    expect(claims.claim('out/a.txt', 'in/a.tsv')).toBe(true);
    expect(claims.claim('out/b.txt', 'in/b.tsv')).toBe(false);
    // Releasing a key nobody holds changes nothing.
    claims.release('out/never.txt');
    expect(claims.size).toBe(2);
  });

  it('a key claimed twice by its input stays held until both claims are released', () => {
    const claims = new OutputKeyClaims();
    expect(claims.claim('out/a.txt', 'in/a')).toBe(true);
    expect(claims.claim('out/a.txt', 'in/a')).toBe(true);
    claims.release('out/a.txt');
    expect(claims.claim('out/a.txt', 'in/other')).toBe(false);
    claims.release('out/a.txt');
    expect(claims.size).toBe(0);
    expect(claims.claim('out/a.txt', 'in/other')).toBe(true);
  });

  it('keys released in any order leave the others reachable, and the count returns to zero', () => {
    const claims = new OutputKeyClaims();
    // Enough keys for long probe runs and a table that grew; released in a scrambled order.
    const keys = Array.from({ length: 10_000 }, (_, i) => `out/${i}.gz`);
    expect(keys.every((k) => claims.claim(k, `in/${k}`))).toBe(true);
    const order = keys
      .map((k, i) => ({ k, at: (i * 7919) % keys.length }))
      .sort((a, b) => a.at - b.at);
    const released = new Set<string>();
    for (const [n, { k }] of order.entries()) {
      claims.release(k);
      released.add(k);
      if (n % 2000 === 0) {
        // Every key still held is refused to another input.
        const held = keys.filter((other) => !released.has(other));
        expect(held.filter((other) => claims.claim(other, `x/${other}`))).toEqual([]);
      }
    }
    expect(claims.size).toBe(0);
    expect(keys.every((k) => claims.claim(k, `x/${k}`))).toBe(true);
  });

  it('a queue service claiming and releasing 100,000 keys holds none at the end', () => {
    const claims = new OutputKeyClaims();
    const inFlight: string[] = [];
    let refused = 0;
    for (let i = 0; i < 100_000; i++) {
      const key = `out/${i}`;
      if (!claims.claim(key, `in/${i}`)) refused++;
      inFlight.push(key);
      if (inFlight.length > 16) claims.release(inFlight.shift() ?? '');
    }
    expect(refused).toBe(0);
    expect(claims.size).toBe(16);
    for (const key of inFlight) claims.release(key);
    expect(claims.size).toBe(0);
  });
});
