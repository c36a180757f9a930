import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the proxy saw it, for a fault rule to decide on. */
export interface ProxiedRequest {
  method: string;
  /** Path without the query, e.g. `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** 1-based count of every request this proxy received. */
  n: number;
  /** What S3 action this is, as far as method and query tell (`UploadPart`, `GetObject`, ...). */
  action: string;
}

/** What to do to one request. */
export type Fault =
  /** Forward it, and reset the client connection after `afterBytes` bytes of the response body. */
  | { kind: 'reset-response'; afterBytes: number }
  /** Reset the client connection after `afterBytes` bytes of the request body arrived. */
  | { kind: 'reset-request'; afterBytes: number }
  /** Forward headers and `afterBytes` body bytes, then send nothing more (the socket stays open). */
  | { kind: 'stall-response'; afterBytes: number }
  /** Forward it after `ms` (a slow network: paces a run without failing anything). */
  | { kind: 'delay'; ms: number }
  /** Take the request (its body is read and dropped) and never answer: the client must time out. */
  | { kind: 'stall' }
  /** Forward headers and `keepBytes` body bytes, then close the connection (a cut body). */
  | { kind: 'truncate'; keepBytes: number }
  /** Answer with an S3 error (e.g. 503 SlowDown) without forwarding. */
  | { kind: 'status'; status: number; code: string };

/** One forwarded request as the server answered it: who signed it and what the server said. */
export interface ServerAnswer {
  action: string;
  /** The access key id the request was signed with (never the secret or the signature). */
  accessKeyId: string | undefined;
  status: number;
}

/** Decides the fault of each request; `undefined` forwards it untouched. */
export type FaultRule = (request: ProxiedRequest) => Fault | undefined;

/** A running fault proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the S3 endpoint for the code under test. */
  endpoint: string;
  /** Requests received, by action (`GetObject: 12`), faulted or not. */
  counts: Map<string, number>;
  /** Every request received (faulted ones included). */
  readonly total: number;
  /** Requests that got a fault, by fault kind. */
  faults: Map<string, number>;
  /** The server's answer to every forwarded request, in order (see `ServerAnswer`). */
  answers: ServerAnswer[];
  /** Sets the fault rule (replacing the previous one); `undefined` forwards everything. */
  setRule(rule: FaultRule | undefined): void;
  /** Forgets the counts. */
  resetCounts(): void;
  /**
   * Goes away for `ms`: every open connection is reset and the port refuses connections (like a
   * server that was killed), then listens again on the same port. Resolves once it is back.
   */
  down(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** The S3 action of a request, from its method and query (enough for counting and rules). */
function actionOf(method: string, path: string, query: URLSearchParams): string {
  const objectPath = path.split('/').filter(Boolean).length > 1;
  if (method === 'PUT') {
    if (query.has('partNumber')) return 'UploadPart';
    if (query.has('tagging')) return 'PutObjectTagging';
    return objectPath ? 'PutObject' : 'CreateBucket';
  }
  if (method === 'POST') {
    if (query.has('uploads')) return 'CreateMultipartUpload';
    if (query.has('uploadId')) return 'CompleteMultipartUpload';
    if (query.has('delete')) return 'DeleteObjects';
    return 'Post';
  }
  if (method === 'DELETE') return query.has('uploadId') ? 'AbortMultipartUpload' : 'Delete';
  if (method === 'HEAD') return objectPath ? 'HeadObject' : 'HeadBucket';
  if (method === 'GET') {
    if (query.get('list-type') === '2') return 'ListObjectsV2';
    if (query.has('uploads')) return 'ListMultipartUploads';
    if (query.has('uploadId')) return 'ListParts';
    return objectPath ? 'GetObject' : 'GetBucket';
  }
  return method;
}

function s3Error(res: ServerResponse, status: number, code: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message><RequestId>fault</RequestId></Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * An HTTP proxy on loopback between the code under test and the S3 server, which forwards
 * every request unchanged (the signature covers the Host header, which it keeps) unless the
 * fault rule says otherwise: reset a connection mid-body (request or response), stall, cut a
 * body short, answer 503 SlowDown, or go away for a while. It counts every request, so a test
 * can bound how many a run sent. Test traffic only: it listens on 127.0.0.1 and forwards to
 * the test server.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const counts = new Map<string, number>();
  const faults = new Map<string, number>();
  const answers: ServerAnswer[] = [];
  const sockets = new Set<Socket>();
  let rule: FaultRule | undefined;
  let total = 0;

  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    total++;
    handleOne(req, res);
  };

  const handleOne = (req: IncomingMessage, res: ServerResponse, delayed = false) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const action = actionOf(method, url.pathname, url.searchParams);
    if (!delayed) bump(counts, action);
    const fault = delayed
      ? undefined
      : rule?.({
          method,
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          n: total,
          action,
        });
    if (fault) bump(faults, fault.kind);
    if (fault?.kind === 'delay') {
      req.pause();
      setTimeout(() => handleOne(req, res, true), fault.ms);
      return;
    }

    if (fault?.kind === 'stall') {
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.once('end', () => s3Error(res, fault.status, fault.code));
      return;
    }

    const headers: OutgoingHttpHeaders = { ...req.headers };
    // Not signed (SigV4 never signs it), and a proxy in between would have to answer it twice.
    delete headers.expect;
    const out = httpRequest({
      host: upstream.hostname,
      port: upstream.port,
      method,
      path: req.url,
      headers,
      agent,
    });
    out.on('error', () => {
      if (!res.headersSent) s3Error(res, 502, 'BadGateway');
      else res.destroy();
    });

    let sent = 0;
    if (fault?.kind === 'reset-request') {
      req.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (sent > fault.afterBytes && !req.socket.destroyed) {
          req.socket.resetAndDestroy();
          out.destroy();
        }
      });
    }
    req.pipe(out);

    out.on('response', (up) => {
      const signedBy = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
      answers.push({ action, accessKeyId: signedBy, status: up.statusCode ?? 0 });
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.headers);
      if (fault === undefined || fault.kind === 'reset-request') {
        up.pipe(res);
        return;
      }
      const limit = fault.kind === 'truncate' ? fault.keepBytes : fault.afterBytes;
      let passed = 0;
      let acted = false;
      const act = () => {
        if (acted) return;
        acted = true;
        up.destroy();
        if (fault.kind === 'reset-response') res.socket?.resetAndDestroy();
        else if (fault.kind === 'truncate') res.socket?.destroy();
        // stall-response: keep the socket open and send nothing more; the client must time out.
      };
      up.on('data', (chunk: Buffer) => {
        if (acted) return;
        const room = limit - passed;
        if (room > 0) res.write(room >= chunk.length ? chunk : chunk.subarray(0, room));
        passed += Math.min(chunk.length, Math.max(room, 0));
        if (passed >= limit) act();
      });
      up.on('end', () => {
        if (!acted) res.end();
      });
      if (limit === 0) act();
    });
  };

  let server: Server = createServer(handle);
  const track = (s: Server) =>
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    get total() {
      return total;
    },
    faults,
    answers,
    setRule(next) {
      rule = next;
    },
    resetCounts() {
      counts.clear();
      faults.clear();
      answers.length = 0;
      total = 0;
    },
    async down(ms) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.resetAndDestroy();
      await closed;
      await new Promise((resolve) => setTimeout(resolve, ms));
      server = createServer(handle);
      track(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      agent.destroy();
    },
  };
}
