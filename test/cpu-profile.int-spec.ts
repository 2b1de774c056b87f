import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cpuShares } from '../scripts/cpu-profile.mjs';

/** A V8 CPU profile (the .cpuprofile format) from call stacks given outermost first, one sample each ms. */
function profileOf(stacks: Array<Array<[name: string, url: string]>>): object {
  const nodes = [{ id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] as number[] }];
  const samples = stacks.map((stack) => {
    let parent = nodes[0];
    for (const [functionName, url] of stack) {
      let child = parent.children
        .map((id) => nodes[id - 1])
        .find((node) => node.callFrame.functionName === functionName && node.callFrame.url === url);
      if (!child) {
        child = { id: nodes.length + 1, callFrame: { functionName, url }, children: [] };
        nodes.push(child);
        parent.children.push(child.id);
      }
      parent = child;
    }
    return parent.id;
  });
  return { nodes, startTime: 0, endTime: stacks.length * 1000, samples, timeDeltas: samples.map(() => 1000) };
}

const ROUTER = ['next', 'file:///app/node_modules/router/index.js'] as [string, string];
const HELMET = ['internalNext', 'file:///app/node_modules/helmet/index.mjs'] as [string, string];
const HTTP = ['parserOnIncoming', 'node:_http_server'] as [string, string];
const EDGE = ['step', 'file:///app/dist/http/edge.js'] as [string, string];
const CHECKS = ['requireJsonBody', 'file:///app/dist/http/request-checks.js'] as [string, string];

describe('the bench profile table (scripts/cpu-profile.mjs)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'cpu-profile-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const sharesOf = (stacks: Parameters<typeof profileOf>[0], from?: number, to?: number) => {
    const file = path.join(dir, `${Math.random()}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profileOf(stacks)));
    return Object.fromEntries(
      cpuShares(file, from, to).map(({ part, own, share }) => [part, { own, share }]),
    );
  };

  it("charges the router's dispatch to the middleware calling next(), and what runs past it to its own part", () => {
    const shares = sharesOf([
      // helmet calling next(): the router's frames belong to helmet
      [HTTP, ROUTER, HELMET, ROUTER],
      // a later middleware reached through helmet's next(): body-parser's own frames are body-parser's
      [HTTP, ROUTER, HELMET, ROUTER, ['read', 'file:///app/node_modules/body-parser/lib/read.js']],
      // Nest answering: Node's write, not the router that dispatched to Nest
      [
        HTTP,
        ROUTER,
        ['handle', 'file:///app/node_modules/@nestjs/core/router/router-proxy.js'],
        ['end', 'node:_http_outgoing'],
      ],
      // the rate limit's counter sent through ioredis: the Redis client's, wherever it is called from
      [
        ['canActivate', 'file:///app/dist/enrollment/student-rate-limit.guard.js'],
        ['sendCommand', 'file:///app/node_modules/ioredis/built/Redis.js'],
      ],
      [['(garbage collector)', '']],
      [['(idle)', '']],
    ]);
    expect(shares).toEqual({
      'helmet headers': { own: true, share: 0.2 },
      'body-parser': { own: false, share: 0.2 },
      'Node HTTP, sockets, streams': { own: false, share: 0.2 },
      'Redis client (ioredis: every command, sent and answered)': { own: true, share: 0.2 },
      'garbage collection': { own: false, share: 0.2 },
    });
  });

  it("charges the edge's dispatch like the router's: body-parser's frames stay body-parser's", () => {
    const parser = ['read', 'file:///app/node_modules/body-parser/lib/read.js'] as [string, string];
    const shares = sharesOf([
      [HTTP, ROUTER, EDGE, CHECKS, EDGE, parser],
      [HTTP, ROUTER, EDGE, CHECKS],
    ]);
    expect(shares).toEqual({
      'body-parser': { own: false, share: 0.5 },
      '415 and operator-page checks': { own: true, share: 0.5 },
    });
  });

  it('counts only the samples inside the window (microseconds of the monotonic clock)', () => {
    const gc: Array<[string, string]> = [['(garbage collector)', '']];
    const shares = sharesOf([gc, gc, [HTTP], [HTTP]], 2500, 4000);
    expect(shares).toEqual({ 'Node HTTP, sockets, streams': { own: false, share: 1 } });
  });
});
