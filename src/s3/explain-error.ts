import { type ErrorContext, ExitCode, type ExitCodeValue, S3WorkerError } from '../errors.js';
import { networkCode, type SdkErrorLike, sanitizeSdkError } from './sdk-error.js';

/** What the failed call was doing. `action` is the IAM action (`s3:GetObject`) or the API name (`GetObject`). */
export interface S3ErrorContext {
  action: string;
  bucket?: string;
  key?: string;
}

/** IAM action each S3 API call is authorized by (multipart parts ride on s3:PutObject). */
const IAM_ACTION: Record<string, string> = {
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  GetObjectAttributes: 's3:GetObject',
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  CopyObject: 's3:PutObject',
  UploadPartCopy: 's3:PutObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
  ListMultipartUploads: 's3:ListBucketMultipartUploads',
  DeleteObject: 's3:DeleteObject',
  DeleteObjects: 's3:DeleteObject',
  ListObjects: 's3:ListBucket',
  ListObjectsV2: 's3:ListBucket',
  HeadBucket: 's3:ListBucket',
  ListObjectVersions: 's3:ListBucketVersions',
  GetObjectTagging: 's3:GetObjectTagging',
  PutObjectTagging: 's3:PutObjectTagging',
  GetBucketLocation: 's3:GetBucketLocation',
};

const BUCKET_ACTIONS = new Set([
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:ListBucketMultipartUploads',
  's3:GetBucketLocation',
]);

/** The IAM action for an API name or an IAM action (`GetObject` → `s3:GetObject`). */
export function iamActionFor(action: string): string {
  if (action.includes(':')) return action;
  return IAM_ACTION[action.replace(/Command$/, '')] ?? `s3:${action.replace(/Command$/, '')}`;
}

/**
 * The least IAM policy statement that allows `action` on `bucket`/`key`: the object ARN for
 * object actions, the bucket ARN for bucket actions (with an `s3:prefix` condition when a key
 * prefix is given for ListBucket).
 */
export function allowStatement(
  action: string,
  bucket = '*',
  key?: string,
): Record<string, unknown> {
  const iam = iamActionFor(action);
  if (BUCKET_ACTIONS.has(iam)) {
    return {
      Effect: 'Allow',
      Action: iam,
      Resource: `arn:aws:s3:::${bucket}`,
      ...(iam === 's3:ListBucket' && key
        ? { Condition: { StringLike: { 's3:prefix': [`${key}*`] } } }
        : {}),
    };
  }
  return { Effect: 'Allow', Action: iam, Resource: `arn:aws:s3:::${bucket}/${key ?? '*'}` };
}

/** Codes S3 answers with 403 that are about the credentials or the clock, not the policy. */
const CREDENTIAL_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'InvalidTokenId',
  'RequestTimeTooSkewed',
  'RequestExpired',
  'ExpiredToken',
  'ExpiredTokenException',
  'TokenRefreshRequired',
]);

/**
 * Turns what an S3 call threw into an S3WorkerError whose message says what failed (action,
 * bucket, key) and whose hint says what to do, with its own `code` and the process exit code
 * from `ExitCode`. An S3WorkerError passes through unchanged. The original error is kept as
 * `cause` minus the fields S3 echoes back on signature errors (access key id, string to sign).
 */
export function explainS3Error(err: unknown, context: S3ErrorContext): S3WorkerError {
  if (err instanceof S3WorkerError) return err;
  const e = (err ?? {}) as SdkErrorLike;
  const code = e.Code ?? e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const iam = iamActionFor(context.action);
  const target = describeTarget(context);
  const ctx: ErrorContext = {
    action: iam,
    ...(context.bucket ? { bucket: context.bucket } : {}),
    ...(context.key !== undefined ? { key: context.key } : {}),
    ...(status ? { status } : {}),
    ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}),
  };
  const make = (message: string, errorCode: string, exitCode: ExitCodeValue, hint: string) =>
    new S3WorkerError(message, {
      code: errorCode,
      exitCode,
      cause: sanitizeSdkError(err),
      context: ctx,
      hint,
    });

  if (code === 'CredentialsProviderError' || code === 'ProviderError') {
    return make(
      `no AWS credentials for ${iam} on ${target}: ${firstLine(e.message)}`,
      'NO_CREDENTIALS',
      ExitCode.NoCredentials,
      'on ECS give the task definition a taskRoleArn; locally pass -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY [-e AWS_SESSION_TOKEN], or --credentials profile --profile <name>',
    );
  }
  // A HEAD's 403 has no body, hence no code: the SDK names it after the status.
  if (
    code === 'AccessDenied' ||
    code === 'AllAccessDisabled' ||
    (status === 403 && !CREDENTIAL_CODES.has(code))
  ) {
    const statement = allowStatement(iam, context.bucket, keyForPolicy(iam, context.key));
    return make(
      `access denied: ${iam} on ${target}`,
      'ACCESS_DENIED',
      ExitCode.AccessDenied,
      `the credentials are valid but their policy does not allow this; add to the task role's policy:\n${JSON.stringify(statement, null, 2)}\n(\`s3worker policy <job>\` prints the whole least-privilege policy)`,
    );
  }
  if (code === 'NoSuchBucket') {
    return make(
      `bucket ${context.bucket ?? '(unknown)'} does not exist (${iam})`,
      'NO_SUCH_BUCKET',
      ExitCode.NoSuchBucket,
      'check the bucket name in the config and the endpoint/region it lives in',
    );
  }
  if (
    code === 'PermanentRedirect' ||
    code === 'IllegalLocationConstraintException' ||
    (code === 'AuthorizationHeaderMalformed' && /region/i.test(e.message ?? '')) ||
    status === 301
  ) {
    const region =
      e.$response?.headers?.['x-amz-bucket-region'] ??
      e.Region ??
      /expecting '([a-z0-9-]+)'/.exec(e.message ?? '')?.[1];
    return make(
      `bucket ${context.bucket ?? '(unknown)'} is in ${region ? `region ${region}` : 'another region'}, not the client's (${iam})`,
      'WRONG_REGION',
      ExitCode.WrongRegion,
      region
        ? `run with --region ${region} (or AWS_REGION=${region})`
        : "set --region (or AWS_REGION) to the bucket's region",
    );
  }
  if (code === 'RequestTimeTooSkewed' || code === 'RequestExpired') {
    return make(
      `the local clock is too far from the S3 server's for ${iam} on ${target}`,
      'CLOCK_SKEW',
      ExitCode.ClockSkew,
      'synchronise the clock (NTP / chrony) of the host running the task',
    );
  }
  if (
    code === 'ExpiredToken' ||
    code === 'ExpiredTokenException' ||
    code === 'TokenRefreshRequired'
  ) {
    return make(
      `the temporary credentials have expired (${iam} on ${target}) and could not be refreshed`,
      'CREDENTIALS_EXPIRED',
      ExitCode.CredentialsRejected,
      'check the credentials source still hands out fresh credentials (the ECS container endpoint, or renew AWS_SESSION_TOKEN)',
    );
  }
  if (code === 'InvalidAccessKeyId' || code === 'InvalidToken' || code === 'InvalidTokenId') {
    return make(
      `the S3 endpoint does not know these credentials (${code}) for ${iam} on ${target}`,
      'CREDENTIALS_REJECTED',
      ExitCode.CredentialsRejected,
      'the access key id or session token is wrong, expired or meant for another endpoint; check AWS_ACCESS_KEY_ID / AWS_SESSION_TOKEN or the task role',
    );
  }
  if (code === 'SignatureDoesNotMatch') {
    return make(
      `the S3 endpoint rejected the request signature for ${iam} on ${target}`,
      'SIGNATURE_MISMATCH',
      ExitCode.CredentialsRejected,
      'the secret access key does not match the access key id (check AWS_SECRET_ACCESS_KEY), or a proxy rewrote the request',
    );
  }
  const netCode = networkCode(err);
  if (netCode) {
    return make(
      `cannot reach the S3 endpoint (${netCode}) for ${iam} on ${target}`,
      'ENDPOINT_UNREACHABLE',
      ExitCode.EndpointUnreachable,
      "check --endpoint / AWS_ENDPOINT_URL_S3, DNS, and that the task's network (security group, NAT or VPC endpoint) reaches S3",
    );
  }
  if (code === 'NoSuchKey' || (status === 404 && code === 'NotFound')) {
    return make(
      `object ${target} does not exist (${iam})`,
      'NO_SUCH_KEY',
      ExitCode.Unexpected,
      'check the key; it may have been deleted since it was listed',
    );
  }
  return make(
    `${iam} on ${target} failed: ${code}${status ? ` (HTTP ${status})` : ''}: ${firstLine(e.message)}`,
    'S3_ERROR',
    ExitCode.Unexpected,
    'see the cause; if it persists, report it with the request id',
  );
}

function describeTarget(context: S3ErrorContext): string {
  if (!context.bucket) return 'the service';
  return `s3://${context.bucket}/${context.key ?? ''}`;
}

/** ListBucket's key is a prefix; object actions use the key itself. */
function keyForPolicy(iam: string, key: string | undefined): string | undefined {
  if (key === undefined || key === '') return BUCKET_ACTIONS.has(iam) ? undefined : '*';
  return key;
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0] ?? '';
}
