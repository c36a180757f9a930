import { CORE_IMAGE, containerEngine, engine, IMAGE } from './container-engine.js';

/**
 * The container tests need the images built (`npm run image`, then `npm run image -- --target
 * core`): a missing one fails the run at once, saying how to build it, never a skipped test.
 */
export default async function setup(): Promise<void> {
  const e = containerEngine();
  for (const image of [IMAGE, CORE_IMAGE]) {
    const found = await engine(['image', 'inspect', '--format', '{{.Id}}', image], {
      timeoutMs: 60_000,
    }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
    if (found.code !== 0) {
      throw new Error(
        `the image ${image} is not there for ${e.name}: build it with \`npm run image\`${image === CORE_IMAGE ? ' -- --target core' : ''} (see docs/testing.md)`,
      );
    }
  }
  console.error(`[image tests] ${e.name}: ${IMAGE}, ${CORE_IMAGE}`);
}
