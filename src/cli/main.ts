#!/usr/bin/env -S node --max-semi-space-size=3 --expose-gc
// The small V8 young generation above keeps a long copy's peak RSS low and flat: network chunks
// are collected young instead of piling up in the old generation, whose growth otherwise makes
// a long copy peak higher than a short one. Measured copying 1 GiB and 4 GiB with defaults:
// 3 MB gave 200-208 and 211-213 MiB (flat within 4%); 2 MB 170-180 and 206-209 MiB (the short
// copy ends before the old generation peaks: 1.2x); 4 MB 192-202 and 210-217 MiB; 8 MB 246 MiB
// at 1 GiB; V8's default about 300 MiB at 4 GiB. --expose-gc lets a stage that makes many
// short-lived buffers bound their dead memory (see BufferGarbageLimit: ship-logs). The bench reads these
// flags from this line so it measures what the `s3worker` bin runs.
import { enableCompileCache } from 'node:module';

// V8's compiled code of every module (the SDK is most of it) cached on disk, so a start after the
// first skips compiling it: `s3worker --version` 0.28 s → 0.22 s here. The directory is
// NODE_COMPILE_CACHE (the image sets one, warmed when it is built), else under the OS temp dir;
// where neither can be written the cache is simply off. Before the CLI's modules are imported,
// or they would be compiled without it.
enableCompileCache?.();
await import('./cli.js');
