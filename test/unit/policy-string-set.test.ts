import { describe, expect, it } from 'vitest';
import { cidrContains, cidrOverlaps, parseCidr } from '../../src/policy/cidr.js';
import { iamPattern } from '../../src/policy/iam-pattern.js';
import {
  ALL,
  complement,
  findMember,
  has,
  intersection,
  isSubset,
  literalSet,
  NONE,
  overlaps,
  prefixSet,
  union,
} from '../../src/policy/string-set.js';

const glob = (text: string, ignoreCase = false) =>
  iamPattern(text, { wildcards: true, variables: true, ignoreCase }).over;

describe('sets of strings from IAM wildcards', () => {
  it('decides inclusion: raw/ and below is inside raw*, not the other way round', () => {
    expect(isSubset(prefixSet('raw/'), glob('raw*'))).toBe(true);
    expect(isSubset(glob('raw*'), prefixSet('raw/'))).toBe(false);
    expect(findMember(intersection(glob('raw*'), complement(glob('raw/*'))))).toBe('raw');
  });

  it('finds the shortest member a set has and another lacks', () => {
    const allowed = union(glob('a/*'), glob('b/?x'));
    expect(findMember(intersection(prefixSet('b/'), complement(allowed)))).toBe('b/');
    // The shortest key missing: one character after b/, the first in the patterns' own order.
    expect(
      findMember(intersection(glob('b/*'), complement(union(allowed, literalSet('b/'))))),
    ).toBe('b//');
    expect(findMember(intersection(glob('a*'), complement(ALL)))).toBeUndefined();
    expect(findMember(NONE)).toBeUndefined();
  });

  it('matches ? as exactly one character and * as any run, including none', () => {
    expect(has(glob('s3:Get?bject'), 's3:GetObject')).toBe(true);
    expect(has(glob('s3:Get?bject'), 's3:Getbject')).toBe(false);
    expect(has(glob('a*b*c'), 'abc')).toBe(true);
    expect(has(glob('a*b*c'), 'axxbyyc')).toBe(true);
    expect(has(glob('a*b*c'), 'axxbyy')).toBe(false);
  });

  it('compares without case when asked (IgnoreCase operators)', () => {
    expect(has(glob('Alias/Logs', true), 'alias/LOGS')).toBe(true);
    expect(has(glob('Alias/Logs'), 'alias/LOGS')).toBe(false);
  });

  it('tells overlapping sets from disjoint ones', () => {
    expect(overlaps(glob('arn:aws:s3:::b/*'), glob('*/secret/*'))).toBe(true);
    expect(overlaps(glob('arn:aws:s3:::b/*'), glob('arn:aws:s3:::c*'))).toBe(false);
  });
});

describe('policy variables', () => {
  it('reads the variables for *, ? and $ as the literal characters', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    const p = iamPattern('a${*}b${?}${$}', { wildcards: true, variables: true });
    expect(has(p.over, 'a*b?$')).toBe(true);
    expect(has(p.over, 'axb?$')).toBe(false);
    expect(p.variables).toEqual([]);
  });

  it('bounds a request-time variable: may match anything, surely matches nothing', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    const p = iamPattern('home/${aws:username}/*', { wildcards: true, variables: true });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    expect(p.variables).toEqual(['${aws:username}']);
    expect(has(p.over, 'home/alice/x')).toBe(true);
    expect(has(p.under, 'home/alice/x')).toBe(false);
  });

  it('takes variables literally where the policy version has none', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    const p = iamPattern('a${*}', { wildcards: true, variables: false });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM syntax
    expect(has(p.over, 'a${x}')).toBe(true);
  });
});

describe('address ranges', () => {
  it('parses IPv4 and IPv6 ranges and bare addresses, normalising host bits', () => {
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('127.0.0.1')?.text).toBe('127.0.0.1/32');
    expect(parseCidr('2001:db8::1/32')?.text).toBe('2001:db8::/32');
    expect(parseCidr('::ffff:10.0.0.1')?.version).toBe(6);
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'vpce-1', '2001:db8::/129', '10.0.0.0/x'])
      expect(parseCidr(bad), bad).toBeUndefined();
  });

  it('tells containment and overlap, never across versions', () => {
    const eight = parseCidr('10.0.0.0/8')!;
    expect(cidrContains(eight, parseCidr('10.1.0.0/16')!)).toBe(true);
    expect(cidrContains(parseCidr('10.1.0.0/16')!, eight)).toBe(false);
    expect(cidrOverlaps(parseCidr('10.1.0.0/16')!, eight)).toBe(true);
    expect(cidrOverlaps(eight, parseCidr('127.0.0.1')!)).toBe(false);
    expect(cidrOverlaps(parseCidr('::/0')!, eight)).toBe(false);
  });
});
