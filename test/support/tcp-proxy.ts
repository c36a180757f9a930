import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A TCP proxy in front of a test server, to cut or slow the connection without touching the server. */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1 (stays the same across `stop`/`start`). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Stops listening and cuts every open connection: the server looks unreachable. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Delays every chunk sent towards the server by `ms` (0: no delay): a slow server. */
  setDelay(ms: number): void;
  /** Connections accepted so far. */
  readonly connections: number;
}

/**
 * Starts a TCP proxy on a free port of 127.0.0.1 forwarding to `target` (an http URL's host and
 * port). Shared test servers are never stopped by a test; a test stops its own proxy instead.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  let delay = 0;
  let connections = 0;
  const handle = (client: Socket) => {
    connections++;
    const upstream = connect(Number(targetPort), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    // Chunks towards the server go one at a time, each after the delay, in order.
    let chain = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      if (delay === 0) {
        upstream.write(chunk);
        return;
      }
      client.pause();
      chain = chain.then(async () => {
        await sleep(delay);
        upstream.write(chunk);
        client.resume();
      });
    });
    client.on('end', () => void chain.then(() => upstream.end()));
  };
  let server: Server = createServer(handle);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const port = await listen(0);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    setDelay(ms: number) {
      delay = ms;
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    async start() {
      server = createServer(handle);
      await listen(port);
    },
  };
}
