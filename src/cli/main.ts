#!/usr/bin/env -S node --max-semi-space-size=3 --heap-growing-percent=300 --expose-gc
// The small V8 young generation above keeps a long copy's peak RSS low and flat: network chunks
// are collected young instead of piling up in the old generation, whose growth otherwise makes
// a long copy peak higher than a short one. Measured copying 1 GiB and 4 GiB with defaults:
// 3 MB gave 200-208 and 211-213 MiB (flat within 4%); 2 MB 170-180 and 206-209 MiB (the short
// copy ends before the old generation peaks: 1.2x); 4 MB 192-202 and 210-217 MiB; 8 MB 246 MiB
// at 1 GiB; V8's default about 300 MiB at 4 GiB. --expose-gc lets a stage that makes many
// short-lived buffers bound their dead memory (see BufferGarbageLimit: ship-logs). The bench reads these
// flags from this line so it measures what the `s3worker` bin runs.
// --heap-growing-percent=300 lets the old generation grow to 4x what survived the last full
// collection before the next one: a run keeps a heap of about 20 MB that barely grows, and
// V8's own factor set the next limit a few MB above it, so codec runs marked it 60-70 times per
// GiB. Measured with `npm run bench -- --scenario d,f1,rss --size 512MiB` against the same build
// without it: zstd 8.76 -> 7.54 CPU s/GiB, one-frame unzstd 5.24 -> 4.92, copy-through peak RSS
// 198 -> 184 MiB at 1 GiB and 196 -> 190 at 4 GiB; ship-logs 122-126 MiB (119-121 before).
import { enableCompileCache } from 'node:module';

// V8's compiled code of every module (the SDK is most of it) cached on disk, so a start after the
// first skips compiling it: `s3worker --version` 0.28 s → 0.22 s here. The directory is
// NODE_COMPILE_CACHE (the image sets one, warmed when it is built), else under the OS temp dir;
// where neither can be written the cache is simply off. Before the CLI's modules are imported,
// or they would be compiled without it.
enableCompileCache?.();
await import('./cli.js');
