import type { Logger } from 'pino';
import { formatDuration } from '../config/duration-schema.js';
import { formatSize } from '../config/size-schema.js';
import type { ProgressSnapshot, ProgressTracker } from './progress-tracker.js';

export interface ProgressDisplayOptions {
  tracker: ProgressTracker;
  log: Logger;
  /** Where the live bar goes; default `process.stderr`. */
  stream?: NodeJS.WriteStream;
  /** Draw a live bar (stderr is a terminal) instead of logging JSON progress lines. */
  tty: boolean;
  /** Milliseconds between JSON progress lines and `onTick` calls. */
  intervalMs: number;
  /** Called on every interval with the latest snapshot (the status file update). */
  onTick?: (snapshot: ProgressSnapshot) => void;
}

/** How often the live bar is redrawn: smooth enough to read, cheap enough to ignore. */
const BAR_REDRAW_MS = 250;
const BAR_WIDTH = 20;

/**
 * Shows progress while a job runs: on a terminal a single-line bar on stderr (objects, bytes,
 * MB/s, ETA) redrawn in place; otherwise a `progress` JSON log line every `intervalMs`.
 * Timers are unref'd so they never keep a finished process alive. `stop()` clears the bar.
 */
export function startProgressDisplay(options: ProgressDisplayOptions): { stop(): void } {
  const stream = options.stream ?? process.stderr;
  const timers: NodeJS.Timeout[] = [];
  const tick = setInterval(() => {
    const snap = options.tracker.snapshot();
    if (!options.tty) options.log.info(progressFields(snap), 'progress');
    options.onTick?.(snap);
  }, options.intervalMs);
  timers.push(tick);
  if (options.tty) {
    const draw = setInterval(() => {
      // Cursor back to column 0 after drawing: a log line printed meanwhile overwrites the bar
      // instead of being appended to it, and the next redraw happens below that line.
      stream.write(`\r\x1b[2K${renderBar(options.tracker.snapshot())}\r`);
    }, BAR_REDRAW_MS);
    timers.push(draw);
  }
  for (const t of timers) t.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearInterval(t);
      if (options.tty) stream.write('\r\x1b[2K');
    },
  };
}

/** The fields of a JSON progress line. */
export function progressFields(snap: ProgressSnapshot): Record<string, unknown> {
  return {
    objects: snap.objects,
    bytesIn: snap.bytesIn,
    bytesOut: snap.bytesOut,
    bytesTotal: snap.bytesTotal,
    elapsedMs: snap.elapsedMs,
    mbPerSecond: Number(snap.mbPerSecond.toFixed(2)),
    ...(snap.etaMs === undefined ? {} : { etaMs: snap.etaMs }),
    ...snap.sections,
  };
}

/** One line: `[#####---------------] 12/100 objects · 1.2 GiB · 45.3 MB/s · ETA 1m20s`. */
export function renderBar(snap: ProgressSnapshot): string {
  const { total, done, skipped, failed } = snap.objects;
  const finished = done + skipped + failed;
  const fraction =
    snap.bytesTotal > 0 ? snap.bytesIn / snap.bytesTotal : total > 0 ? finished / total : 0;
  const filled = Math.round(Math.min(1, fraction) * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const parts = [
    `${finished}${total > 0 ? `/${total}` : ''} objects`,
    formatSize(snap.bytesIn),
    `${snap.mbPerSecond.toFixed(1)} MB/s`,
  ];
  if (failed > 0) parts.push(`${failed} failed`);
  if (snap.etaMs !== undefined)
    parts.push(`ETA ${formatDuration(Math.round(snap.etaMs / 1000) * 1000)}`);
  return `${bar} ${parts.join(' · ')}`;
}
