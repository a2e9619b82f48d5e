/**
 * A TCP proxy on a free loopback port that a test can cut and heal: the network between a node
 * and a server, under the test's control. `cut()` destroys every open connection (both sides see
 * the socket close at once, as after a link failure) and refuses new ones until `heal()`.
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** `nats://127.0.0.1:PORT` style: the proxy's address for a client. */
  url(scheme: string): string;
  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void;
  /** Accepts and forwards connections again. */
  heal(): void;
  /** Connections forwarded now. */
  open(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    cut() {
      cut = true;
      dropAll();
    },
    heal() {
      cut = false;
    },
    open: () => pairs.size,
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}
