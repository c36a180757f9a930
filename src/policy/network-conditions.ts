import { ConfigError, type ConfigIssue } from '../errors.js';
import { type Cidr, parseCidr } from './cidr.js';
import type { PolicyCondition } from './policy-document.js';

/**
 * Where the task's S3 requests come from, as `s3worker policy` is told with `--source-vpce`,
 * `--source-vpc` and `--source-ip`: the generated policy allows S3 only from there, and
 * `--check` evaluates a policy's network conditions as a request from there would.
 */
export interface NetworkConditions {
  /** Gateway or interface VPC endpoints for S3 (`vpce-...`); a request through any one of them. */
  sourceVpce?: readonly string[] | undefined;
  /** The VPC the task runs in (`vpc-...`); requests through any S3 endpoint of that VPC. */
  sourceVpc?: string | undefined;
  /** Public address ranges the requests come from (NAT gateway, task public IP). */
  sourceIp?: readonly string[] | undefined;
}

/** {@link NetworkConditions} after {@link checkNetworkConditions}: ranges parsed. */
export interface CheckedNetworkConditions {
  sourceVpce: string[];
  sourceVpc: string | undefined;
  sourceIp: Cidr[];
}

const VPCE = /^vpce-[0-9a-f]{8}([0-9a-f]{9})?$/;
const VPC = /^vpc-[0-9a-f]{8}([0-9a-f]{9})?$/;

/**
 * Validates the ids and ranges, and refuses `--source-ip` with `--source-vpce`/`--source-vpc`:
 * a request through a VPC endpoint carries no `aws:SourceIp`, and one over the internet no
 * `aws:SourceVpc(e)`, so a policy requiring both would allow nothing.
 *
 * @throws ConfigError naming each bad value.
 */
export function checkNetworkConditions(network: NetworkConditions = {}): CheckedNetworkConditions {
  const issues: ConfigIssue[] = [];
  const sourceVpce = [...new Set(network.sourceVpce ?? [])];
  for (const id of sourceVpce) {
    if (!VPCE.test(id))
      issues.push({ path: '--source-vpce', message: `${id} is not a VPC endpoint id (vpce-...)` });
  }
  const sourceVpc = network.sourceVpc;
  if (sourceVpc !== undefined && !VPC.test(sourceVpc))
    issues.push({ path: '--source-vpc', message: `${sourceVpc} is not a VPC id (vpc-...)` });
  const sourceIp: Cidr[] = [];
  for (const text of network.sourceIp ?? []) {
    const cidr = parseCidr(text);
    if (cidr) sourceIp.push(cidr);
    else
      issues.push({
        path: '--source-ip',
        message: `${text} is not an IP address range (e.g. 203.0.113.0/24 or 2001:db8::/32)`,
      });
  }
  if (sourceIp.length > 0 && (sourceVpce.length > 0 || sourceVpc !== undefined)) {
    issues.push({
      path: '--source-ip',
      message:
        'cannot be combined with --source-vpce or --source-vpc: requests through a VPC endpoint carry no aws:SourceIp, so no request could meet both',
    });
  }
  if (issues.length > 0) {
    throw new ConfigError(issues, {
      hint: 'give --source-vpce/--source-vpc for traffic through a VPC endpoint, --source-ip for traffic over the internet',
    });
  }
  return { sourceVpce, sourceVpc, sourceIp: dedupe(sourceIp) };
}

/** Whether any network condition is set. */
export function hasNetworkConditions(network: CheckedNetworkConditions): boolean {
  return (
    network.sourceVpce.length > 0 || network.sourceVpc !== undefined || network.sourceIp.length > 0
  );
}

/**
 * The condition block every S3 Allow statement gets: `StringEquals` on `aws:SourceVpce` /
 * `aws:SourceVpc`, `IpAddress` on `aws:SourceIp`. Undefined when none is set.
 */
export function networkCondition(network: CheckedNetworkConditions): PolicyCondition | undefined {
  const condition: PolicyCondition = {};
  const equals: Record<string, string | string[]> = {};
  if (network.sourceVpce.length > 0) equals['aws:SourceVpce'] = network.sourceVpce;
  if (network.sourceVpc !== undefined) equals['aws:SourceVpc'] = network.sourceVpc;
  if (Object.keys(equals).length > 0) condition.StringEquals = equals;
  if (network.sourceIp.length > 0)
    condition.IpAddress = { 'aws:SourceIp': network.sourceIp.map((c) => c.text) };
  return Object.keys(condition).length > 0 ? condition : undefined;
}

/**
 * What each condition set means for the task, one paragraph each: when it holds and when it
 * locks the task out. `--explain` prints them; docs/policy.md says the same.
 */
export function networkConditionNotes(network: CheckedNetworkConditions): string[] {
  const notes: string[] = [];
  if (network.sourceVpce.length > 0) {
    notes.push(
      `aws:SourceVpce ${network.sourceVpce.join(', ')}: S3 requests are allowed only through ${network.sourceVpce.length === 1 ? 'this VPC endpoint' : 'these VPC endpoints'}. Holds when the task's subnets route S3 through it (a gateway endpoint in their route tables, or an interface endpoint the client resolves to). Locks the task out when it runs in another VPC or subnet, when S3 goes through a NAT gateway or a public IP instead, and for an S3 endpoint override (MinIO).`,
    );
  }
  if (network.sourceVpc !== undefined) {
    notes.push(
      `aws:SourceVpc ${network.sourceVpc}: S3 requests are allowed only through a VPC endpoint of this VPC. Holds for a task in this VPC whose S3 traffic takes any of its endpoints. Locks the task out when S3 goes through a NAT gateway or a public IP (the key is then absent), or when the task runs in another VPC.`,
    );
  }
  if (network.sourceIp.length > 0) {
    notes.push(
      `aws:SourceIp ${network.sourceIp.map((c) => c.text).join(', ')}: S3 requests are allowed only from these public addresses. Holds when the task reaches S3 over the internet from them (its NAT gateway's Elastic IP, or its own public IP). Warning: it does not apply to traffic through a VPC endpoint — such requests carry no aws:SourceIp, so adding an S3 gateway endpoint to the VPC later locks the task out; use --source-vpce there.`,
    );
  }
  if (hasNetworkConditions(network)) {
    notes.push(
      "KMS statements get no network condition: S3 calls KMS on the task's behalf (SSE-KMS), and those calls carry none of these keys, so the condition would refuse every encrypted upload.",
    );
  }
  return notes;
}

function dedupe(cidrs: Cidr[]): Cidr[] {
  const seen = new Map(cidrs.map((c) => [c.text, c]));
  return [...seen.values()];
}
