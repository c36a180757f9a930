import { type Cidr, cidrContains, parseCidr } from './cidr.js';
import type { CheckedNetworkConditions } from './network-conditions.js';
import type { ContextValue } from './request-context.js';
import { complement, literalSet, union } from './string-set.js';

type Entries = Array<[string, ContextValue]>;

/**
 * Where an S3 request may come from, as condition keys. `policy --check` judges each need in the
 * task's own situation, and, for a policy meant to be pinned to a network or to TLS, in the
 * situations it should refuse.
 */
export interface RequestSituation {
  /** How a report says it: `from the internet`, `over plain HTTP`. */
  name: string;
  /** What a grant here breaks: the condition the user asked for. */
  expected: string;
  kind: 'network' | 'insecure-transport';
  /** Condition keys of an S3 request in this situation (a key left out is unknown). */
  context: Entries;
}

const absent: ContextValue = { kind: 'absent' };
const oneOf = (values: readonly string[]): ContextValue => ({
  kind: 'one',
  set: union(...values.map((v) => literalSet(v))),
});
const noneOf = (values: readonly string[]): ContextValue => ({
  kind: 'one',
  set: complement(union(...values.map((v) => literalSet(v)))),
});

/** Keys every S3 request of the task carries: over TLS (as on AWS), made by the task itself. */
const S3_REQUEST: Entries = [
  ['aws:securetransport', oneOf(['true'])],
  ['aws:viaawsservice', oneOf(['false'])],
];

/**
 * The task's own S3 requests: TLS, and the network keys `--source-*` describe. Through a VPC
 * endpoint a request carries `aws:SourceVpce` and `aws:SourceVpc` but no `aws:SourceIp`; over the
 * internet the reverse. Without `--source-*` the network keys are unknown.
 */
export function taskSituation(network: CheckedNetworkConditions): Entries {
  const entries: Entries = [...S3_REQUEST];
  if (network.sourceVpce.length > 0 || network.sourceVpc !== undefined) {
    entries.push(['aws:sourceip', absent]);
    if (network.sourceVpce.length > 0) entries.push(['aws:sourcevpce', oneOf(network.sourceVpce)]);
    if (network.sourceVpc !== undefined)
      entries.push(['aws:sourcevpc', oneOf([network.sourceVpc])]);
  } else if (network.sourceIp.length > 0) {
    entries.push(
      ['aws:sourceip', { kind: 'ip', ranges: network.sourceIp }],
      ['aws:sourcevpce', absent],
      ['aws:sourcevpc', absent],
    );
  }
  return entries;
}

/**
 * The situations a policy built with these options refuses: another network for each
 * `--source-*`, plain HTTP for `--deny-insecure-transport`.
 */
export function outsideSituations(
  network: CheckedNetworkConditions,
  denyInsecureTransport: boolean,
): RequestSituation[] {
  const out: RequestSituation[] = [];
  const { sourceVpce, sourceVpc, sourceIp } = network;
  if (sourceVpce.length > 0 || sourceVpc !== undefined) {
    const expected = [
      sourceVpce.length > 0 ? `aws:SourceVpce ${sourceVpce.join(', ')}` : undefined,
      sourceVpc !== undefined ? `aws:SourceVpc ${sourceVpc}` : undefined,
    ]
      .filter(Boolean)
      .join(' and ');
    const internet: Entries = [
      ['aws:sourcevpce', absent],
      ['aws:sourcevpc', absent],
    ];
    out.push({
      name: 'from the internet',
      expected,
      kind: 'network',
      context: [...S3_REQUEST, ...internet],
    });
    if (sourceVpce.length > 0) {
      const entries: Entries = [
        ...S3_REQUEST,
        ['aws:sourcevpce', noneOf(sourceVpce)],
        ['aws:sourceip', absent],
      ];
      if (sourceVpc !== undefined) entries.push(['aws:sourcevpc', oneOf([sourceVpc])]);
      out.push({
        name: 'through another VPC endpoint',
        expected,
        kind: 'network',
        context: entries,
      });
    }
    if (sourceVpc !== undefined) {
      const entries: Entries = [
        ...S3_REQUEST,
        ['aws:sourcevpc', noneOf([sourceVpc])],
        ['aws:sourceip', absent],
      ];
      if (sourceVpce.length > 0) entries.push(['aws:sourcevpce', noneOf(sourceVpce)]);
      out.push({ name: 'from another VPC', expected, kind: 'network', context: entries });
    }
  }
  if (sourceIp.length > 0) {
    const expected = `aws:SourceIp ${sourceIp.map((c) => c.text).join(', ')}`;
    out.push({
      name: `from another address (${outsideAddress(sourceIp).text})`,
      expected,
      kind: 'network',
      context: [
        ...S3_REQUEST,
        ['aws:sourceip', { kind: 'ip', ranges: [outsideAddress(sourceIp)] }],
        ['aws:sourcevpce', absent],
        ['aws:sourcevpc', absent],
      ],
    });
    out.push({
      name: 'through a VPC endpoint',
      expected,
      kind: 'network',
      context: [...S3_REQUEST, ['aws:sourceip', absent]],
    });
  }
  if (denyInsecureTransport) {
    out.push({
      name: 'over plain HTTP',
      expected: 'the Deny of aws:SecureTransport false',
      kind: 'insecure-transport',
      context: [...taskSituation(network), ['aws:securetransport', oneOf(['false'])]],
    });
  }
  return out;
}

/** A documentation address outside every range given, to stand for "another address". */
function outsideAddress(ranges: readonly Cidr[]): Cidr {
  const candidates = ['203.0.113.7', '198.51.100.7', '192.0.2.7', '2001:db8::7', '8.8.8.8'];
  for (const text of candidates) {
    const address = parseCidr(text)!;
    if (!ranges.some((r) => cidrContains(r, address))) return address;
  }
  return parseCidr('::1')!;
}
