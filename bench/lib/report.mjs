// Turns the measured runs into ratios, target verdicts and a markdown report.
import { formatSize } from './options.mjs';

const MiB = 1024 ** 2;

/** The issues' targets: s3worker's throughput as a multiple of each peer's. */
const PEER_TARGETS = {
  a: { s5cmd: 1.0, aws: 2.0 },
  b: { s5cmd: 0.8, aws: 2.0 },
  c: { s5cmd: 1.2, aws: 2.0 },
  d: { s5cmd: 1.2 },
  e: { s5cmd: 1.0 },
  f: { s5cmd: 1.0 },
};
/** s3worker's client CPU seconds at most this multiple of the s5cmd pipeline's (best runs). */
const CPU_TARGETS = { c: 1.0, d: 1.0 };
/** Scenarios whose every s3worker run must stay within RSS_LIMIT_BYTES. */
const RSS_SCENARIOS = ['c', 'd', 'e', 'f'];
const RSS_LIMIT_BYTES = 256 * MiB;
const RSS_FLAT_RATIO = 1.1;

const ok = (run) => run && !run.error && typeof run.throughput === 'number';

/** The tool's run with the highest throughput (over its variants), if any succeeded. */
function best(entry, tool) {
  return entry.runs
    .filter((r) => r.tool === tool && ok(r))
    .sort((x, y) => y.throughput - x.throughput)[0];
}

function find(entry, tool, variant) {
  const run = entry.runs.find((r) => r.tool === tool && r.variant === variant);
  return ok(run) ? run : undefined;
}

const ratio = (a, b) =>
  a && b ? Math.round((a.throughput / b.throughput) * 100) / 100 : undefined;

/**
 * Computes, per scenario, s3worker's ratio to each peer (best setting against best setting, and
 * default against default), and the verdict on each target.
 */
export function summarize(results) {
  const targets = [];
  for (const entry of results.scenarios) {
    const goals = PEER_TARGETS[entry.id];
    if (!goals) continue;
    entry.ratios = {};
    const mine = best(entry, 's3worker');
    for (const [peer, goal] of Object.entries(goals)) {
      const theirs = best(entry, peer);
      const bestRatio = ratio(mine, theirs);
      const defaultRatio = ratio(find(entry, 's3worker', 'default'), find(entry, peer, 'default'));
      entry.ratios[peer] = { best: bestRatio, default: defaultRatio };
      targets.push({
        target: `(${entry.id}) s3worker ≥ ${goal.toFixed(1)}× ${peer === 'aws' ? 'AWS CLI' : peer}`,
        measured:
          bestRatio === undefined
            ? 'not measured'
            : `${bestRatio}× (best ${mine.throughput} vs ${theirs.throughput} ${entry.unit}; ` +
              `defaults ${defaultRatio ?? 'n/a'}×)`,
        met: bestRatio === undefined ? undefined : bestRatio >= goal,
      });
    }
    const cpuGoal = CPU_TARGETS[entry.id];
    if (cpuGoal !== undefined) {
      const theirs = best(entry, 's5cmd');
      const cpuRatio =
        mine && theirs ? Math.round((mine.cpuSeconds / theirs.cpuSeconds) * 100) / 100 : undefined;
      targets.push({
        target: `(${entry.id}) s3worker CPU s ≤ ${cpuGoal.toFixed(1)}× the s5cmd pipeline's`,
        measured:
          cpuRatio === undefined
            ? 'not measured'
            : `${cpuRatio}× (${mine.cpuSeconds} vs ${theirs.cpuSeconds} CPU s, best runs)`,
        met: cpuRatio === undefined ? undefined : cpuRatio <= cpuGoal,
      });
    }
    const bound = entry.runs.find((r) => r.tool === 'local' && ok(r));
    if (bound && mine) {
      targets.push({
        target: `(${entry.id}) physical bound: ${bound.setting}`,
        measured: `${bound.throughput} MB/s; s3worker best ${mine.throughput} MB/s = ${Math.round((mine.throughput / bound.throughput) * 100)}% of it`,
        met: 'info',
      });
    }
  }
  const codecRuns = results.scenarios
    .filter((e) => RSS_SCENARIOS.includes(e.id))
    .flatMap((e) => e.runs.filter((r) => r.tool === 's3worker' && ok(r)).map((r) => [e.id, r]));
  if (codecRuns.length > 0) {
    const peak = Math.max(...codecRuns.map(([, r]) => r.peakRssBytes));
    targets.push({
      target: `(${[...new Set(codecRuns.map(([id]) => id))].join(', ')}) every s3worker run's peak RSS ≤ 256 MiB`,
      measured: `${codecRuns.map(([id, r]) => `${id} ${r.variant} ${mib(r.peakRssBytes)}`).join(', ')} MiB`,
      met: peak <= RSS_LIMIT_BYTES,
    });
  }

  const upload = results.scenarios.find((e) => e.id === 'u');
  if (upload) {
    const mine = find(upload, 's3worker', 'transfer');
    const theirs = find(upload, 'lib-storage', 'Upload');
    const speed = ratio(mine, theirs);
    targets.push({
      target: "(u) transfer layer ≥ 1.0× lib-storage's Upload",
      measured:
        speed === undefined
          ? 'not measured'
          : `${speed}× (${mine.throughput} vs ${theirs.throughput} ${upload.unit})`,
      met: speed === undefined ? undefined : speed >= 1,
    });
    // Peak RSS of the uploading process, and above the floor: the same process with the same
    // modules loaded, reading nothing.
    const floor = find(upload, 'floor', 'idle');
    const rss = mine && theirs ? mine.peakRssBytes / theirs.peakRssBytes : undefined;
    const mib = (bytes) => `${bytes >= 0 ? '+' : '−'}${formatSize(Math.abs(bytes))}`;
    targets.push({
      target: "(u) transfer layer peak RSS ≤ 0.5× lib-storage's",
      measured:
        rss === undefined
          ? 'not measured'
          : `${rss.toFixed(2)}× (${formatSize(mine.peakRssBytes)} vs ${formatSize(theirs.peakRssBytes)})` +
            (floor
              ? `; above the ${formatSize(floor.peakRssBytes)} of the same process idle ` +
                `(modules loaded): ${mib(mine.peakRssBytes - floor.peakRssBytes)} vs ` +
                `${mib(theirs.peakRssBytes - floor.peakRssBytes)}`
              : ''),
      met: rss === undefined ? undefined : rss <= 0.5,
    });
  }

  const queue = results.scenarios.find((e) => e.id === 'q');
  if (queue) {
    const listing = find(queue, 's3worker', 'listing');
    const one = find(queue, 's3worker', 'queue ×1');
    const r = ratio(one, listing);
    targets.push({
      target: '(q) queue mode with 1 worker ≥ 0.8× listing mode',
      measured:
        r === undefined
          ? 'not measured'
          : `${r}× (${one.throughput} vs ${listing.throughput} objects/s; ` +
            queue.runs
              .filter((x) => ok(x) && x.variant.startsWith('queue'))
              .map((x) => `${x.variant}: ${x.throughput}`)
              .join(', ') +
            ')',
      met: r === undefined ? undefined : r >= 0.8,
    });
  }

  const rssRuns = results.scenarios
    .filter((e) => e.id === 'rss')
    .map((e) => ({ bytes: e.work.bytes, run: e.runs.find((r) => ok(r)) }))
    .filter((x) => x.run);
  const copy = results.scenarios.find((e) => e.id === 'a');
  const copyDefault = copy && find(copy, 's3worker', 'default');
  const smallest =
    rssRuns[0] ?? (copyDefault ? { bytes: copy.work.bytes, run: copyDefault } : undefined);
  if (smallest) {
    targets.push({
      target: '(a) s3worker peak RSS with defaults ≤ 256 MiB',
      measured: rssRuns
        .map((x) => `${formatSize(x.run.peakRssBytes)} at ${formatSize(x.bytes)}`)
        .concat(
          rssRuns.length === 0
            ? [`${formatSize(smallest.run.peakRssBytes)} at ${formatSize(smallest.bytes)}`]
            : [],
        )
        .join(', '),
      met: (rssRuns.length > 0 ? rssRuns : [smallest]).every(
        (x) => x.run.peakRssBytes <= RSS_LIMIT_BYTES,
      ),
    });
  }
  if (rssRuns.length >= 2) {
    const peaks = rssRuns.map((x) => x.run.peakRssBytes);
    const spread = Math.max(...peaks) / Math.min(...peaks);
    targets.push({
      target: `(a) peak RSS flat within 10% from ${formatSize(rssRuns[0].bytes)} to ${formatSize(rssRuns.at(-1).bytes)}`,
      measured: `largest / smallest = ${spread.toFixed(2)}`,
      met: spread <= RSS_FLAT_RATIO,
    });
  }
  return { targets };
}

const cell = (v) => (v === undefined || v === null ? '–' : String(v));
const mib = (bytes) => (bytes ? (bytes / MiB).toFixed(0) : '–');
const TOOL_LABEL = {
  s3worker: 's3worker',
  s5cmd: 's5cmd',
  aws: 'AWS CLI',
  'lib-storage': 'lib-storage',
  local: 'C tool alone',
};
const verdict = (met) =>
  met === 'info' ? '–' : met === undefined ? 'not measured' : met ? 'yes' : '**no**';

/** A short reason for a run without numbers, for a table cell. */
function failure(run) {
  if (!run?.error) return 'not run';
  const lines = run.error.split('\n');
  const reason = lines[0] === 'command failed:' ? (lines[1] ?? '') : lines[0];
  return `failed: ${reason.slice(0, 160).replaceAll('|', '/')}`;
}

function scenarioTable(entry) {
  const peerBest = { s5cmd: best(entry, 's5cmd'), aws: best(entry, 'aws') };
  const lines = [
    `### (${entry.id}) ${entry.title}: ${entry.source}`,
    '',
    `| tool | setting | wall s | ${entry.unit} | × s5cmd best | × AWS CLI best | CPU s | CPU s/GB | peak RSS MiB | check |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const run of entry.runs) {
    const setting = run.setting ?? run.variant;
    if (!ok(run)) {
      lines.push(
        `| ${TOOL_LABEL[run.tool]} | ${setting} | – | – | – | – | – | – | – | ${failure(run)} |`,
      );
      continue;
    }
    lines.push(
      `| ${TOOL_LABEL[run.tool]} | ${setting} | ${run.wallSeconds.toFixed(1)} | ${run.throughput} | ` +
        `${cell(ratio(run, peerBest.s5cmd))} | ${cell(ratio(run, peerBest.aws))} | ` +
        `${run.cpuSeconds.toFixed(1)} | ${run.cpuSecondsPerGB} | ${mib(run.rssSumBytes)} | ok |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** One table for the RSS runs, a row per object size. */
function rssTable(entries) {
  if (entries.length === 0) return [];
  const lines = [
    `### (rss) ${entries[0].title}`,
    '',
    '| object size | wall s | MB/s | CPU s | CPU s/GB | peak RSS MiB | check |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const entry of entries) {
    const run = entry.runs[0];
    lines.push(
      ok(run)
        ? `| ${formatSize(entry.work.bytes)} | ${run.wallSeconds.toFixed(1)} | ${run.throughput} | ` +
            `${run.cpuSeconds.toFixed(1)} | ${run.cpuSecondsPerGB} | ${mib(run.peakRssBytes)} | ok |`
        : `| ${formatSize(entry.work.bytes)} | – | – | – | – | – | ${failure(run)} |`,
    );
  }
  return [...lines, ''];
}

/** Renders the results as markdown: machine, targets, one table per scenario, settings. */
export function renderMarkdown(results) {
  const m = results.machine;
  const out = [
    `## Benchmark results (${results.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `Command: \`${results.command}\`. Machine: ${m.nproc} cores (${m.cpuModel}), ` +
      `${formatSize(m.memoryBytes)} memory, Node.js ${m.node}; MinIO ${m.minio} on 127.0.0.1, ` +
      `on the same cores as the clients; load average at start ${m.loadAverageAtStart.join(' / ')}. ` +
      `s3worker at ${results.tools.s3worker}. Peers: s5cmd ${results.tools.s5cmd}, ${results.tools.aws.split(' ')[0]} ` +
      `(${results.tools.aws.split(' ').slice(1, 3).join(', ')}), ${results.tools.gzip}` +
      `${results.tools.zstd ? `, ${results.tools.zstd}` : ''}${results.tools.pigz ? `, ${results.tools.pigz}` : ''}; ` +
      `measured with ${results.tools.time}.`,
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...results.summary.targets.map((t) => `| ${t.target} | ${t.measured} | ${verdict(t.met)} |`),
    '',
    ...results.scenarios.filter((e) => e.id !== 'rss').map((e) => scenarioTable(e)),
    ...rssTable(results.scenarios.filter((e) => e.id === 'rss')),
    'Wall seconds from the first process started to the last one finished (download and upload ' +
      'added up in (b)); MB = 10^6 bytes, GB = 10^9 bytes of source data; CPU s = user + system ' +
      'seconds of every process of the pipeline (s5cmd or aws and the C tool between them), not MinIO; ' +
      'peak RSS = the sum of the peaks of the pipeline\'s processes. "× s5cmd best" divides the ' +
      "row's throughput by the best s5cmd setting's. Every output was checked before it counted " +
      '(size, and SHA-256 of samples or of everything; see latest.json).',
    '',
    'Settings:',
    '',
    ...Object.entries(results.settings).flatMap(([tool, s]) => [
      s.bound
        ? `- ${TOOL_LABEL[tool]} (physical bound, on a local copy of the source, output discarded): ${s.bound}`
        : `- ${TOOL_LABEL[tool]}: default = ${s.default}; tuned = ${s.tuned}`,
    ]),
    '',
  ];
  return out.join('\n');
}
