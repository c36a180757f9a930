// Log-like text for the gzip scenario: access-log lines with varied fields, so gzip sees the
// redundancy of real logs (repeated words, different numbers and ids), not a repeated block.

/** Distinct lines in the pool; picked at random, so gzip's 32 KiB window rarely sees a repeat. */
const POOL_SIZE = 1 << 16;

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
const SERVICES = ['api-gateway', 'orders', 'billing', 'search', 'auth', 'inventory'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const PATHS = [
  '/api/v1/orders',
  '/api/v1/users',
  '/api/v2/search',
  '/healthz',
  '/api/v1/cart/items',
  '/static/app.js',
  '/api/v1/invoices',
];
const STATUSES = [200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 503];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'curl/8.5.0',
  'aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#24.1.0',
  'Go-http-client/1.1',
];

/** A small, seeded PRNG (mulberry32): the same text on every run, fast. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makePool(random) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const hex = (n) =>
    Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  const start = Date.UTC(2026, 10, 27, 0, 0, 0);
  const pool = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const ts = new Date(start + Math.floor(random() * 86_400_000)).toISOString();
    const ip = `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;
    const line =
      `${ts} ${pick(LEVELS)} ${pick(SERVICES)}[${1000 + Math.floor(random() * 9000)}]: ` +
      `${pick(METHODS)} ${pick(PATHS)}/${Math.floor(random() * 100000)} status=${pick(STATUSES)} ` +
      `bytes=${Math.floor(random() * 50000)} dur_ms=${(random() * 900).toFixed(1)} ` +
      `req_id=${hex(16)} ip=${ip} ua="${pick(AGENTS)}"\n`;
    pool.push(Buffer.from(line, 'utf8'));
  }
  return pool;
}

/**
 * Returns `fill(chunk)`, which fills each chunk it is given with the next bytes of one endless
 * stream of log lines (lines continue across chunks). Call it on chunks in order.
 */
export function createLogTextFiller(seed = 4) {
  const random = prng(seed);
  const pool = makePool(random);
  let carry = Buffer.alloc(0);
  return (chunk) => {
    let at = carry.copy(chunk, 0);
    carry = carry.subarray(Math.min(carry.length, chunk.length));
    while (at < chunk.length) {
      const line = pool[Math.floor(random() * POOL_SIZE)];
      const copied = line.copy(chunk, at);
      at += copied;
      if (copied < line.length) carry = line.subarray(copied);
    }
  };
}
