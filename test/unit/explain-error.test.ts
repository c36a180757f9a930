import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ExitCode, S3WorkerError } from '../../src/errors.js';
import { allowStatement, explainS3Error, iamActionFor } from '../../src/s3/explain-error.js';

function s3Error(name: string, status: number, extra: Record<string, unknown> = {}) {
  return Object.assign(
    new S3ServiceException({
      name,
      $fault: 'client',
      $metadata: { httpStatusCode: status, requestId: 'REQ1' },
      message: `${name} message`,
    }),
    extra,
  );
}

describe('explainS3Error', () => {
  it('names action, bucket and key on AccessDenied and prints the statement that would allow it', () => {
    const e = explainS3Error(s3Error('AccessDenied', 403), {
      action: 'PutObject',
      bucket: 'out',
      key: 'a/b.gz',
    });
    expect(e.code).toBe('ACCESS_DENIED');
    expect(e.exitCode).toBe(ExitCode.AccessDenied);
    expect(e.message).toBe('access denied: s3:PutObject on s3://out/a/b.gz');
    const json = e.hint!.slice(e.hint!.indexOf('{'), e.hint!.lastIndexOf('}') + 1);
    expect(JSON.parse(json)).toEqual({
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: 'arn:aws:s3:::out/a/b.gz',
    });
    expect(e.context).toMatchObject({
      action: 's3:PutObject',
      bucket: 'out',
      key: 'a/b.gz',
      status: 403,
      requestId: 'REQ1',
    });
  });

  it('takes a bodiless 403 (a HEAD) for a denial too', () => {
    const e = explainS3Error(s3Error('Forbidden', 403), {
      action: 'HeadObject',
      bucket: 'in',
      key: 'x',
    });
    expect([e.code, e.message]).toEqual([
      'ACCESS_DENIED',
      'access denied: s3:GetObject on s3://in/x',
    ]);
    expect(
      explainS3Error(s3Error('SignatureDoesNotMatch', 403), { action: 'HeadObject' }).code,
    ).toBe('SIGNATURE_MISMATCH');
  });

  it('gives ListBucket the bucket ARN and an s3:prefix condition', () => {
    expect(allowStatement('ListObjectsV2', 'in', 'logs/')).toEqual({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: 'arn:aws:s3:::in',
      Condition: { StringLike: { 's3:prefix': ['logs/*'] } },
    });
    expect(iamActionFor('AbortMultipartUpload')).toBe('s3:AbortMultipartUpload');
    expect(iamActionFor('s3:GetObject')).toBe('s3:GetObject');
  });

  it.each([
    ['NoSuchBucket', 404, 'NO_SUCH_BUCKET', ExitCode.NoSuchBucket],
    ['PermanentRedirect', 301, 'WRONG_REGION', ExitCode.WrongRegion],
    ['RequestTimeTooSkewed', 403, 'CLOCK_SKEW', ExitCode.ClockSkew],
    ['ExpiredToken', 400, 'CREDENTIALS_EXPIRED', ExitCode.CredentialsRejected],
    ['InvalidAccessKeyId', 403, 'CREDENTIALS_REJECTED', ExitCode.CredentialsRejected],
    ['InvalidTokenId', 403, 'CREDENTIALS_REJECTED', ExitCode.CredentialsRejected],
    ['SignatureDoesNotMatch', 403, 'SIGNATURE_MISMATCH', ExitCode.CredentialsRejected],
    ['NoSuchKey', 404, 'NO_SUCH_KEY', ExitCode.Unexpected],
    ['InternalError', 500, 'S3_ERROR', ExitCode.Unexpected],
  ])('maps %s to its own code and exit code', (name, status, code, exitCode) => {
    const e = explainS3Error(s3Error(name, status), { action: 'GetObject', bucket: 'b', key: 'k' });
    expect([e.code, e.exitCode]).toEqual([code, exitCode]);
    expect(e.message).toContain('b');
    expect(e.hint).toBeTruthy();
  });

  it('tells the bucket region on a redirect when S3 says it', () => {
    const err = s3Error('PermanentRedirect', 301, {
      $response: { headers: { 'x-amz-bucket-region': 'eu-west-1' } },
    });
    expect(explainS3Error(err, { action: 'ListObjectsV2', bucket: 'b' }).hint).toContain(
      '--region eu-west-1',
    );
  });

  it('reads the expected region out of an AuthorizationHeaderMalformed', () => {
    const err = s3Error('AuthorizationHeaderMalformed', 400);
    err.message =
      "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-southeast-2'";
    const e = explainS3Error(err, { action: 'ListObjectsV2', bucket: 'b' });
    expect([e.code, e.exitCode]).toEqual(['WRONG_REGION', ExitCode.WrongRegion]);
    expect(e.hint).toContain('--region ap-southeast-2');
  });

  it.each([
    [
      'ECONNREFUSED',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    ],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND nowhere'), { code: 'ENOTFOUND' })],
    [
      'ECONNREFUSED',
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], ''),
    ],
    ['TIMEOUT', Object.assign(new Error('Socket timed out'), { name: 'TimeoutError' })],
  ])('maps an unreachable endpoint (%s) to ENDPOINT_UNREACHABLE', (shown, err) => {
    const e = explainS3Error(err, { action: 'ListObjectsV2', bucket: 'b' });
    expect(e.code).toBe('ENDPOINT_UNREACHABLE');
    expect(e.exitCode).toBe(ExitCode.EndpointUnreachable);
    expect(e.message).toContain(shown);
  });

  it('maps a credentials provider failure to NO_CREDENTIALS', () => {
    const err = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    const e = explainS3Error(err, { action: 'ListObjectsV2', bucket: 'b' });
    expect([e.code, e.exitCode]).toEqual(['NO_CREDENTIALS', ExitCode.NoCredentials]);
  });

  it('passes an S3WorkerError through unchanged', () => {
    const original = new S3WorkerError('x', { code: 'X' });
    expect(explainS3Error(original, { action: 'GetObject' })).toBe(original);
  });

  it('keeps no echoed key id or string to sign in the cause', () => {
    const err = s3Error('SignatureDoesNotMatch', 403, {
      AWSAccessKeyId: 'AKIAEXAMPLEKEY',
      StringToSign: 'AWS4-HMAC-SHA256 secret-ish',
      SignatureProvided: 'abcdef0123',
    });
    const e = explainS3Error(err, { action: 'GetObject', bucket: 'b', key: 'k' });
    const dump = JSON.stringify({ ...e, cause: { ...(e.cause as object) } });
    expect(dump).not.toContain('AKIAEXAMPLEKEY');
    expect(dump).not.toContain('abcdef0123');
    expect((e.cause as Error).name).toBe('SignatureDoesNotMatch');
  });
});
