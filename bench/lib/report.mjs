// Turns the measured runs into ratios, target verdicts and a markdown report.
import { formatSize } from './options.mjs';

const MiB = 1024 ** 2;

/**
 * Issue 23's targets against the s5cmd pipeline (`s5cmd cat | [codec |] s5cmd pipe`): s3worker's
 * throughput at least `speed`× the pipeline's, and its client CPU seconds (user + system of its
 * one process) at most `cpu`× the pipeline's (every process of it), best runs of each.
 */
const S5CMD_TARGETS = {
  a: { speed: 1.2, cpu: 0.7 },
  b: { speed: 1.2, cpu: 0.8 },
  c: { speed: 1.2, cpu: 0.8 },
  d: { speed: 1.2, cpu: 0.8 },
  e: { speed: 1.2, cpu: 0.8 },
  e1: { speed: 1.2, cpu: 0.8 },
  f: { speed: 1.2, cpu: 0.8 },
  f1: { speed: 1.2, cpu: 0.8 },
};
/** Earlier targets: s3worker's throughput at least this multiple of the AWS CLI's. */
const AWS_TARGETS = { a: 2.0, b: 2.0, c: 2.0 };
/** Issue 23: the transfer layer's peak RSS above the idle process, as a multiple of lib-storage's. */
const UPLOAD_RSS_TARGET = 0.5;
/** Scenarios whose every s3worker run must stay within RSS_LIMIT_BYTES. */
const RSS_SCENARIOS = ['c', 'd', 'e', 'e1', 'f', 'f1'];
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
const cpuRatio = (a, b) =>
  a && b ? Math.round((a.cpuSeconds / b.cpuSeconds) * 100) / 100 : undefined;
const pct = (x) => `${Math.round(Math.abs(x) * 100)}%`;

/**
 * A target row: `value` against `goal`, at least (`atLeast`) or at most; `met` and, in `by`,
 * how far above or below the goal the measured value is, as a share of the goal.
 */
function verdictOf(value, goal, atLeast) {
  if (value === undefined) return { met: undefined };
  const met = atLeast ? value >= goal : value <= goal;
  const off = value / goal - 1;
  return {
    met,
    by: met
      ? `${pct(off)} ${atLeast ? 'above' : 'below'} it`
      : `${pct(off)} ${atLeast ? 'short' : 'over'}`,
  };
}

/** Per GiB of the scenario's work, to two decimals. */
const perGiB = (run) => run.cpuSecondsPerGiB;

/**
 * Computes, per scenario, s3worker's ratio to each peer (best setting against best setting, and
 * default against default), and the verdict on each target.
 */
export function summarize(results) {
  const targets = [];
  for (const entry of results.scenarios) {
    const goals = S5CMD_TARGETS[entry.id];
    const awsGoal = AWS_TARGETS[entry.id];
    if (!goals && awsGoal === undefined) continue;
    entry.ratios = {};
    const mine = best(entry, 's3worker');
    const mineDefault = find(entry, 's3worker', 'default');
    for (const [peer, goal] of [
      ...(goals ? [['s5cmd', goals.speed]] : []),
      ...(awsGoal !== undefined ? [['aws', awsGoal]] : []),
    ]) {
      const theirs = best(entry, peer);
      const bestRatio = ratio(mine, theirs);
      const defaultRatio = ratio(mineDefault, find(entry, peer, 'default'));
      entry.ratios[peer] = { best: bestRatio, default: defaultRatio };
      const name = peer === 'aws' ? 'the AWS CLI' : 'the s5cmd pipeline';
      targets.push({
        target: `(${entry.id}) s3worker's speed ≥ ${goal.toFixed(1)}× ${name}'s`,
        measured:
          bestRatio === undefined
            ? 'not measured'
            : `${bestRatio}× (best ${mine.throughput} vs ${theirs.throughput} ${entry.unit}; ` +
              `defaults ${defaultRatio ?? 'n/a'}×; ${goal.toFixed(1)}× is ` +
              `${Math.round(theirs.throughput * goal * 10) / 10} ${entry.unit})`,
        ...verdictOf(bestRatio, goal, true),
      });
    }
    if (goals) {
      const theirs = best(entry, 's5cmd');
      const r = cpuRatio(mine, theirs);
      const defaults = cpuRatio(mineDefault, find(entry, 's5cmd', 'default'));
      entry.ratios.s5cmdCpu = { best: r, default: defaults };
      targets.push({
        target: `(${entry.id}) s3worker's CPU ≤ ${goals.cpu.toFixed(1)}× the s5cmd pipeline's`,
        measured:
          r === undefined
            ? 'not measured'
            : `${r}× (${perGiB(mine)} vs ${perGiB(theirs)} CPU s/GiB, best runs; defaults ` +
              `${defaults ?? 'n/a'}×; ${goals.cpu.toFixed(1)}× is ` +
              `${Math.round(perGiB(theirs) * goals.cpu * 100) / 100} CPU s/GiB)`,
        ...verdictOf(r, goals.cpu, false),
      });
    }
    const floor = find(entry, 'local', 'floor');
    if (floor) {
      const s5 = best(entry, 's5cmd');
      const times = (run) => `${perGiB(run)} (${(perGiB(run) / perGiB(floor)).toFixed(2)}×)`;
      targets.push({
        target: `(${entry.id}) CPU floor: ${floor.setting}`,
        measured:
          `${perGiB(floor)} CPU s/GiB` +
          (mine ? `; s3worker best ${times(mine)}` : '') +
          (s5 ? `; s5cmd pipeline best ${times(s5)}` : ''),
        met: 'info',
      });
    }
    const bound = find(entry, 'local', 'bound') ?? (floor?.alsoBound ? floor : undefined);
    if (bound && mine) {
      targets.push({
        target: `(${entry.id}) physical bound: ${bound.setting.replace(' (also the bound)', '')}`,
        measured: `${bound.throughput} MB/s; s3worker best ${mine.throughput} MB/s = ${Math.round((mine.throughput / bound.throughput) * 100)}% of it`,
        met: 'info',
      });
    }
    const ceiling = find(entry, 'warp', 'put');
    if (ceiling && mine) {
      targets.push({
        target: `(${entry.id}) s3worker's copy-through against warp's PUT ceiling (no target)`,
        measured:
          `${ratio(mine, ceiling)}× (best ${mine.throughput} vs warp ${ceiling.throughput} MB/s; ` +
          `warp ${perGiB(ceiling)} CPU s/GiB)`,
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
      ...verdictOf(speed, 1, true),
    });
    // Peak RSS of the uploading process above the floor: the same process with the same modules
    // loaded, reading nothing.
    const floor = find(upload, 'floor', 'idle');
    const above = (run) => run.peakRssBytes - floor.peakRssBytes;
    const r =
      mine && theirs && floor ? Math.round((above(mine) / above(theirs)) * 100) / 100 : undefined;
    const signed = (bytes) => `${bytes >= 0 ? '+' : '−'}${formatSize(Math.abs(bytes))}`;
    targets.push({
      target: `(u) transfer layer's peak RSS above the idle process ≤ ${UPLOAD_RSS_TARGET}× lib-storage's`,
      measured:
        r === undefined
          ? 'not measured'
          : `${r}× (${signed(above(mine))} vs ${signed(above(theirs))} above the ` +
            `${formatSize(floor.peakRssBytes)} of the same process idle, modules loaded; whole ` +
            `peaks ${(mine.peakRssBytes / theirs.peakRssBytes).toFixed(2)}×: ` +
            `${formatSize(mine.peakRssBytes)} vs ${formatSize(theirs.peakRssBytes)})`,
      ...verdictOf(r, UPLOAD_RSS_TARGET, false),
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
      ...verdictOf(r, 0.8, true),
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
  floor: 'idle process',
  local: 'C tool alone',
  warp: 'warp (PUT ceiling)',
};
const verdict = ({ met, by }) =>
  met === 'info'
    ? '–'
    : met === undefined
      ? 'not measured'
      : `${met ? 'yes' : '**no**'}${by ? `, ${by}` : ''}`;

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
    `| tool | setting | wall s | ${entry.unit} | × s5cmd best | × AWS CLI best | CPU s | CPU s/GiB | MinIO CPU s | cores busy | peak RSS MiB | check |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const run of entry.runs) {
    const setting = run.setting ?? run.variant;
    if (!ok(run)) {
      lines.push(
        `| ${TOOL_LABEL[run.tool]} | ${setting} | – | – | – | – | – | – | – | – | – | ${failure(run)} |`,
      );
      continue;
    }
    lines.push(
      `| ${TOOL_LABEL[run.tool]} | ${setting} | ${run.wallSeconds.toFixed(1)} | ${run.throughput} | ` +
        `${cell(ratio(run, peerBest.s5cmd))} | ${cell(ratio(run, peerBest.aws))} | ` +
        `${run.cpuSeconds.toFixed(1)} | ${run.cpuSecondsPerGiB} | ${serverCells(run)} | ${mib(run.rssSumBytes)} | ok |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * MinIO's CPU seconds during the run, and the cores the run kept busy: the client's and MinIO's
 * CPU seconds over the wall seconds (2.0 on 2 cores: nothing left for anyone). "–" when MinIO's
 * process was not found.
 */
function serverCells(run) {
  if (run.serverCpuSeconds === undefined) return '– | –';
  const busy = (run.cpuSeconds + run.serverCpuSeconds) / run.wallSeconds;
  return `${run.serverCpuSeconds.toFixed(1)} | ${busy.toFixed(2)}`;
}

/** One table for the RSS runs, a row per object size. */
function rssTable(entries) {
  if (entries.length === 0) return [];
  const lines = [
    `### (rss) ${entries[0].title}`,
    '',
    '| object size | wall s | MB/s | CPU s | CPU s/GiB | MinIO CPU s | cores busy | peak RSS MiB | check |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const entry of entries) {
    const run = entry.runs[0];
    lines.push(
      ok(run)
        ? `| ${formatSize(entry.work.bytes)} | ${run.wallSeconds.toFixed(1)} | ${run.throughput} | ` +
            `${run.cpuSeconds.toFixed(1)} | ${run.cpuSecondsPerGiB} | ${serverCells(run)} | ${mib(run.peakRssBytes)} | ok |`
        : `| ${formatSize(entry.work.bytes)} | – | – | – | – | – | – | – | ${failure(run)} |`,
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
      `s3worker at ${results.tools.s3worker}. Peers: s5cmd ${results.tools.s5cmd}, ` +
      `${results.tools.warp ? `${results.tools.warp}, ` : ''}${results.tools.aws.split(' ')[0]} ` +
      `(${results.tools.aws.split(' ').slice(1, 3).join(', ')}), ${results.tools.gzip}` +
      `${results.tools.zstd ? `, ${results.tools.zstd}` : ''}${results.tools.pigz ? `, ${results.tools.pigz}` : ''}; ` +
      `measured with ${results.tools.time}.`,
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...results.summary.targets.map((t) => `| ${t.target} | ${t.measured} | ${verdict(t)} |`),
    '',
    ...results.scenarios.filter((e) => e.id !== 'rss').map((e) => scenarioTable(e)),
    ...rssTable(results.scenarios.filter((e) => e.id === 'rss')),
    'Wall seconds from the first process started to the last one finished (download and upload ' +
      'added up in (b)); MB = 10^6 bytes, MB/s = MB of source data per wall second (of text in ' +
      '(c)–(f1), whichever side is compressed); CPU s = user + system seconds of every process of ' +
      'the pipeline (s5cmd or aws and the C tool between them), not MinIO; CPU s/GiB = CPU s per ' +
      'GiB (2^30 bytes) of the same source data; MinIO CPU s = user + system seconds of the local ' +
      'MinIO process during the run (it shares the cores); cores busy = (CPU s + MinIO CPU s) / ' +
      `wall s, out of the machine's ${results.machine.nproc} (at the core count, the run was bound by CPU, whoever spent it); ` +
      'warp: MB/s and CPU s/GiB of what it PUT, its MB/s ' +
      "the average it reports. Peak RSS = the sum of the peaks of the pipeline's processes. " +
      '"× s5cmd best" divides the row\'s throughput by the best s5cmd setting\'s. Targets compare ' +
      "s3worker's best run with the peer's best (by throughput), CPU of the same runs; \"yes, 8% " +
      'above it" / "no, 12% short" = how far the measured ratio is from the target, as a share of ' +
      'the target. Every output was checked before it counted (size, and SHA-256 of samples or ' +
      'of everything; see latest.json).',
    '',
    'Settings:',
    '',
    ...Object.entries(results.settings).flatMap(([tool, s]) => [
      s.bound
        ? `- ${TOOL_LABEL[tool]} (on a local copy of the source, output discarded): physical ` +
          `bound, the fastest C tool on every core it uses: ${s.bound}; CPU floor, the ` +
          `pipeline's C tool on one thread: ${s.floor ?? 'not run'}`
        : s.ceiling
          ? `- ${TOOL_LABEL[tool]}: ${s.ceiling}`
          : `- ${TOOL_LABEL[tool]}: default = ${s.default}; tuned = ${s.tuned}`,
    ]),
    '',
  ];
  return out.join('\n');
}
