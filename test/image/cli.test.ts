import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { engine, IMAGE, runImage } from './support/container-engine.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('the image, as `docker run` starts it', () => {
  it('prints the package version through tini', async () => {
    const run = await runImage([], ['--version']);
    expect(run.stderr.trim()).toBe('');
    expect(run.stdout.trim()).toBe(pkg.version);
    expect(run.code).toBe(0);
  });

  it('loads the native CRC32 module of its platform, which the stream-transform and database jobs use', async () => {
    const run = await runImage(
      ['--entrypoint', 'node'],
      [
        '--input-type=module',
        '-e',
        "const m = await import('/opt/s3worker/node_modules/s3worker/dist/transfer/crc32.js'); console.log(m.useNativeCrc32().name);",
      ],
    );
    expect(run.stderr.trim()).toBe('');
    expect(run.stdout.trim()).toBe('native');
    expect(run.code).toBe(0);
  });

  it('keeps its HEALTHCHECK, user 10001 and labels in the built config', async () => {
    const inspect = await engine(['image', 'inspect', IMAGE]);
    expect(inspect.code).toBe(0);
    const [image] = JSON.parse(inspect.stdout) as Array<{
      Config: { Healthcheck?: { Test: string[] }; User: string; Labels: Record<string, string> };
      /** Where podman reports it. */
      Healthcheck?: { Test: string[] };
    }>;
    const config = image!.Config;
    expect((config.Healthcheck ?? image!.Healthcheck)?.Test).toEqual([
      'CMD',
      's3worker',
      'healthcheck',
    ]);
    expect(config.User).toBe('10001:10001');
    expect(config.Labels['org.opencontainers.image.version']).toBe(pkg.version);
  });
});
