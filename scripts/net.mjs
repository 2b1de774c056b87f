// Shared by the demo, the benchmark, the fault runs and the tests.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The first port the kernel hands to outgoing connections. A port from listen(0) lies in that range, so in
 * the moment between finding it free and a child process binding it, any of the thousands of client sockets
 * a test run opens may take it (EADDRINUSE, a failed start). Ports below the range are never handed out.
 */
function ephemeralLow() {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 now, below the ephemeral range, picked at random so that concurrent test files
 * and runs rarely try the same one.
 */
export async function freePort() {
  const high = Math.min(ephemeralLow(), 65536);
  const low = Math.max(1024, Math.min(10_000, high - 5000));
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}
