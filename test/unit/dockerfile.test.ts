import { readFileSync } from 'node:fs';
import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import { ValidationSeverity, validate } from 'dockerfile-utils';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const text = readFileSync(new URL('Dockerfile', root), 'utf8');
const dockerfile = DockerfileParser.parse(text);

const ALL_ERRORS = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

/** Instructions grouped by build stage (each FROM starts one), with ARG defaults resolved in FROM. */
function stages(): { name: string | undefined; image: string; instructions: Instruction[] }[] {
  const args = new Map(
    dockerfile
      .getInitialARGs()
      .map((a) => [a.getProperty()?.getName(), a.getProperty()?.getValue()]),
  );
  const out: { name: string | undefined; image: string; instructions: Instruction[] }[] = [];
  for (const ins of dockerfile.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const image = (ins.getArguments()[0]?.getValue() ?? '').replace(
        /\$\{(\w+)\}/g,
        (_, n: string) => args.get(n) ?? '',
      );
      const as = ins.getArguments()[2]?.getValue();
      out.push({ name: as, image, instructions: [] });
    } else {
      out.at(-1)?.instructions.push(ins);
    }
  }
  return out;
}

function json(ins: Instruction): string[] {
  return (ins as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
}

/** The words of a RUN, with `&&` chains split into commands. */
function runCommands(ins: Instruction[]): string[][] {
  return ins
    .filter((i) => i.getKeyword() === 'RUN')
    .flatMap((i) => (i.getArgumentsContent() ?? '').replace(/\\\n/g, ' ').split('&&'))
    .map((c) => c.trim().split(/\s+/));
}

describe('Dockerfile', () => {
  const all = stages();
  const stage = (name: string) => {
    const found = all.find((s) => s.name === name);
    if (found === undefined) throw new Error(`no stage ${name}`);
    return found;
  };
  // The image is `core` (FROM scratch, the files rootfs laid out at /rootfs) plus `default`.
  const core = stage('core');
  const runtime = { instructions: [...core.instructions, ...all.at(-1)!.instructions] };
  const last = (keyword: string) =>
    runtime.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
  const copies = (ins: Instruction[]) =>
    ins.filter((i) => i.getKeyword() === 'COPY').map((c) => c.toString().replace(/\s+/g, ' '));
  const aptInstall = (ins: Instruction[]) =>
    runCommands(ins).find((c) => c[0] === 'apt-get' && c[1] === 'install');

  it('passes the linter (dockerfile-utils, every rule an error)', () => {
    expect(validate(text, ALL_ERRORS)).toEqual([]);
  });

  it('has a linter that does find problems (a broken copy fails)', () => {
    const broken = `${text}\nhealthcheck --interval=abc CMD true\nWORKDIR relative\n`;
    expect(validate(broken, ALL_ERRORS).length).toBeGreaterThanOrEqual(2);
  });

  it('builds on the Node.js 24 slim image, named so docker and podman resolve it alike', () => {
    expect(all.map((s) => [s.name, s.image])).toEqual([
      ['build', expect.stringMatching(/^docker\.io\/library\/node:24(\.\d+)*-[a-z]+-slim$/)],
      ['rootfs', all[0]!.image],
      ['clients', 'rootfs'],
      ['core', 'scratch'],
      ['default', 'core'],
    ]);
  });

  it('compiles in the build stage and copies only the installed package into the runtime', () => {
    expect(runCommands(stage('build').instructions)).toContainEqual(['npm', 'run', 'build']);
    expect(copies(core.instructions)).toEqual([
      'COPY --from=rootfs /rootfs /',
      'COPY --from=build /opt/s3worker /opt/s3worker',
    ]);
    expect(copies(stage('default').instructions)).toEqual(['COPY --from=clients /out /']);
  });

  it('installs production dependencies only, pinned by the lockfile (scripts/install-package.mjs)', () => {
    expect(runCommands(all[0]!.instructions)).toContainEqual([
      'node',
      'scripts/install-package.mjs',
      '/tmp/s3worker-*.tgz',
      '/opt/s3worker',
    ]);
    const script = readFileSync(new URL('scripts/install-package.mjs', root), 'utf8');
    expect(script).toMatch(/\['ci', '--omit=dev'/);
  });

  it('lays out the runtime from tini and the PostgreSQL 15, 17 and 18 and MariaDB clients, without recommends', () => {
    expect(aptInstall(stage('rootfs').instructions)).toEqual(
      expect.arrayContaining(['--no-install-recommends', 'ca-certificates', 'tini']),
    );
    expect(runCommands(stage('rootfs').instructions)).toContainEqual([
      'image-files.sh',
      'runtime',
      '/rootfs',
      '/native',
    ]);
    // The libraries of the package's native modules, which the build stage copies aside.
    expect(copies(stage('rootfs').instructions)).toContain('COPY --from=build /native /native');
    expect(aptInstall(stage('clients').instructions)).toEqual(
      expect.arrayContaining([
        '--no-install-recommends',
        'postgresql-client-15',
        'postgresql-client-17',
        'postgresql-client-18',
        'mariadb-client',
      ]),
    );
    expect(runCommands(stage('clients').instructions)).toContainEqual([
      'image-files.sh',
      'clients',
      '/rootfs',
      '/out',
    ]);
  });

  it('installs nothing in the image itself (no apt-get, npm or npx there), and starts each client once', () => {
    const commands = runCommands(runtime.instructions).map((c) => c[0]);
    for (const tool of ['apt-get', 'npm', 'npx', 'corepack']) expect(commands).not.toContain(tool);
    const check = stage('default')
      .instructions.filter((i) => i.getKeyword() === 'RUN')
      .map((i) => (i.getArgumentsContent() ?? '').replace(/\\\n/g, ' '));
    expect(check.join(' ')).toMatch(
      /for tool in \/usr\/lib\/postgresql\/\*\/bin\/\* \/usr\/bin\/mariadb \/usr\/bin\/mariadb-dump; do\s+"\$tool" --version/,
    );
  });

  it('runs as a non-root numeric user', () => {
    const user = last('USER')?.getArgumentsContent();
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(runCommands(stage('rootfs').instructions)).toContainEqual(
      expect.arrayContaining(['useradd', '--uid', '10001']),
    );
  });

  it('starts s3worker (the package bin) under an init, in exec form', () => {
    const entry = json(last('ENTRYPOINT')!);
    expect(entry[0]).toBe('tini');
    expect(entry.at(-1)).toBe('s3worker');
    expect(runCommands(runtime.instructions)).toContainEqual([
      'ln',
      '-s',
      '/opt/s3worker/node_modules/.bin/s3worker',
      '/usr/local/bin/s3worker',
    ]);
  });

  it('checks health with `s3worker healthcheck`', () => {
    const hc = last('HEALTHCHECK')!;
    const cmd = (hc.getArgumentsContent() ?? '').replace(/\\\n/g, ' ').replace(/^.*?CMD\s+/s, '');
    expect(JSON.parse(cmd)).toEqual(['s3worker', 'healthcheck']);
  });

  /** Name/value pairs of a stage's ENV or LABEL instructions. */
  function properties(ins: Instruction[], keyword: 'ENV' | 'LABEL'): Record<string, string> {
    return Object.fromEntries(
      ins
        .filter((i) => i.getKeyword() === keyword)
        .flatMap((i) =>
          (
            i as unknown as { getProperties(): { getName(): string; getValue(): string }[] }
          ).getProperties(),
        )
        .map((p) => [p.getName(), p.getValue()]),
    );
  }

  /** The runtime stage's ENV variables. */
  const runtimeEnv = () => properties(runtime.instructions, 'ENV');

  it('keeps its only writable path in S3WORKER_TMPDIR, a volume owned by the user', () => {
    const env = runtimeEnv();
    expect(env.S3WORKER_TMPDIR).toBe('/tmp/s3worker');
    expect(env.TMPDIR).toBe('/tmp/s3worker');
    expect(json(last('VOLUME')!)).toEqual(['/tmp/s3worker']);
    expect(runCommands(runtime.instructions)).toContainEqual([
      'chown',
      '10001:10001',
      '/tmp/s3worker',
    ]);
  });

  it('warms the compile cache when it is built, outside the writable volume', () => {
    const dir = runtimeEnv().NODE_COMPILE_CACHE;
    expect(dir).toMatch(/^\/opt\/s3worker\//);
    const warm = runCommands(runtime.instructions).findIndex((c) => c[0] === 's3worker');
    expect(warm).toBeGreaterThanOrEqual(0);
    expect(runCommands(runtime.instructions)).toContainEqual(['chmod', '-R', 'a+rX', dir]);
  });

  it('labels the image with the source, version and revision `npm run image` passes in', () => {
    const labels = properties(core.instructions, 'LABEL');
    const script = readFileSync(new URL('scripts/build-image.sh', root), 'utf8');
    for (const [label, arg] of [
      ['source', 'S3WORKER_SOURCE'],
      ['version', 'S3WORKER_VERSION'],
      ['revision', 'S3WORKER_REVISION'],
    ]) {
      expect(labels[`org.opencontainers.image.${label}`]).toBe(`\${${arg}}`);
      expect(script).toContain(`--build-arg "${arg}=`);
    }
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(new URL('.dockerignore', root), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  // Docker's semantics: a pattern matches a path or any of its parent folders; the last pattern
  // that matches wins, and `!` re-includes.
  const ignored = (path: string) => {
    const parts = path.split('/');
    const selfAndParents = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let out = false;
    for (const p of patterns) {
      const negated = p.startsWith('!');
      const glob = negated ? p.slice(1) : p;
      if (selfAndParents.some((q) => picomatch.isMatch(q, glob, { dot: true }))) out = !negated;
    }
    return out;
  };

  it.each([
    '.env',
    '.git/config',
    'node_modules/pino/index.js',
    'dist/index.js',
    'test/unit/x.test.ts',
    'src/a.test.ts',
    'bench/run.mjs',
    'scripts/build-image.sh',
    'scripts/image-base.sh',
  ])('keeps %s out of the build context', (path) => expect(ignored(path)).toBe(true));

  it.each([
    'package.json',
    'package-lock.json',
    'tsconfig.build.json',
    'src/index.ts',
    'src/cli/main.ts',
    'scripts/install-package.mjs',
    'scripts/image-files.sh',
    'README.md',
  ])('sends %s', (path) => expect(ignored(path)).toBe(false));
});

describe('examples/custom-job/Dockerfile', () => {
  const example = readFileSync(new URL('examples/custom-job/Dockerfile', root), 'utf8');
  const parsed = DockerfileParser.parse(example);

  it('passes the linter', () => {
    expect(validate(example, ALL_ERRORS)).toEqual([]);
  });

  it('builds FROM the s3worker image and runs the job by environment, keeping its entrypoint', () => {
    const froms = parsed.getFROMs().map((f) => f.getImageName());
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile build argument
    expect(froms.at(-1)).toBe('${S3WORKER_IMAGE}');
    const last = parsed
      .getInstructions()
      .slice(parsed.getInstructions().findLastIndex((i) => i.getKeyword() === 'FROM'));
    expect(last.some((i) => i.getKeyword() === 'ENTRYPOINT')).toBe(false);
    expect(last.some((i) => i.getKeyword() === 'USER')).toBe(false);
    const env = last
      .filter((i) => i.getKeyword() === 'ENV')
      .flatMap((i) =>
        (i as unknown as { getProperties(): { getName(): string }[] }).getProperties(),
      )
      .map((p) => p.getName());
    expect(env).toEqual(['S3WORKER_HANDLER', 'S3WORKER_JOB']);
  });
});
