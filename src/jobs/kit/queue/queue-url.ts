/** An SQS queue, parsed from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`). */
export interface QueueAddress {
  /** The queue URL as given; every SQS request names it. */
  url: string;
  /** Scheme and host of the URL: where requests go (AWS, a VPC endpoint name, ElasticMQ). */
  origin: string;
  /** The 12-digit account id (any path segment for other SQS-compatible servers). */
  account: string;
  /** The queue name (`.fifo` included for FIFO queues). */
  name: string;
  /** The region named by an AWS host (`sqs.eu-west-1.amazonaws.com`), else undefined. */
  region: string | undefined;
  /** `aws`, `aws-cn` or `aws-us-gov`, from the host and region. */
  partition: string;
  /** The queue's ARN for IAM statements; region `*` when the host names none. */
  arn: string;
}

const AWS_HOST = /^sqs(?:-fips)?\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?|api\.aws)$/;
const LEGACY_AWS_HOST = /^([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?$/;

/**
 * Parses an SQS queue URL; returns a message instead when the text is not one. Region and
 * partition come from the host for AWS URLs; other hosts (ElasticMQ, a proxy) give no region and
 * an ARN with region `*`.
 */
export function parseQueueUrl(text: string): QueueAddress | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${JSON.stringify(text.slice(0, 80))} (expected https://sqs.<region>.amazonaws.com/<account>/<queue>)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `must be an http(s) queue URL, got ${url.protocol}// (expected https://sqs.<region>.amazonaws.com/<account>/<queue>)`;
  }
  if (url.search !== '' || url.hash !== '') return 'must not carry a query or a fragment';
  const segments = url.pathname.split('/').filter(Boolean);
  if (segments.length !== 2) {
    return `path must be /<account>/<queue>, got ${JSON.stringify(url.pathname)}`;
  }
  const [account, name] = segments as [string, string];
  if (!/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(name)) {
    return `queue name ${JSON.stringify(name)} must be 1 to 80 letters, digits, - or _ (and .fifo for a FIFO queue)`;
  }
  const host = url.hostname;
  const aws = AWS_HOST.exec(host);
  const legacy = aws ? undefined : LEGACY_AWS_HOST.exec(host);
  const region = aws?.[1] ?? legacy?.[1];
  const china = host.endsWith('.com.cn');
  const partition = china ? 'aws-cn' : region?.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return {
    url: text,
    origin: url.origin,
    account,
    name,
    region,
    partition,
    arn: `arn:${partition}:sqs:${region ?? '*'}:${account}:${name}`,
  };
}
