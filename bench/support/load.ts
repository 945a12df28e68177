import autocannon from 'autocannon';

/** Throughput and latency of one load run. */
export interface LoadFigures {
  /** Mean requests per second. */
  rps: number;
  /** Median latency, in milliseconds. */
  p50: number;
  /** 99th-percentile latency, in milliseconds. */
  p99: number;
  /** Responses that were not 2xx, plus connection errors and timeouts: must be 0. */
  failures: number;
  requests: number;
  /** The server's CPU time per request, in microseconds, when the run could read it. */
  cpuMicrosPerRequest?: number;
}

/** Options of one load run against a local server. */
export interface LoadRun {
  url: string;
  /** Bearer tokens to cycle through, one per request (every connection walks the whole list). */
  tokens?: string[];
  /** Instead of `tokens`: called for every request, e.g. to send a token never seen before each time. */
  nextToken?: () => string;
  /**
   * Reads the CPU time the server has used so far, in microseconds: read before and after the run,
   * it gives the server's CPU per request, a figure that other load on the machine barely moves.
   */
  serverCpuMicros?: () => Promise<number>;
  connections: number;
  durationSeconds: number;
}

/** Runs autocannon once. */
export async function runLoad({
  url,
  tokens,
  nextToken,
  serverCpuMicros,
  connections,
  durationSeconds,
}: LoadRun): Promise<LoadFigures> {
  const requests = nextToken
    ? [
        {
          method: 'GET' as const,
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${nextToken()}` },
          }),
        },
      ]
    : tokens?.map((token) => ({
        method: 'GET' as const,
        headers: { authorization: `Bearer ${token}` },
      }));
  const cpuBefore = await serverCpuMicros?.();
  const result = await autocannon({ url, connections, duration: durationSeconds, requests });
  const cpuAfter = await serverCpuMicros?.();
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
    cpuMicrosPerRequest:
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / Math.max(1, result.requests.total),
  };
}

/**
 * Compares variants fairly on a noisy machine: a warm-up run of each, then `rounds` rounds in
 * which the variants take turns (ABAB…, the order flipped every round), and the figures of the
 * timed runs pooled per variant (req/s: total requests / total time; p50/p99: the median of the
 * rounds; server CPU per request: total CPU / total requests).
 */
export async function compareInterleaved(
  variants: Record<string, Omit<LoadRun, 'durationSeconds'>>,
  options: { warmupSeconds: number; roundSeconds: number; rounds: number },
): Promise<Record<string, LoadFigures>> {
  const names = Object.keys(variants);
  for (const name of names) await runLoad({ ...variants[name], durationSeconds: options.warmupSeconds });
  const runs: Record<string, LoadFigures[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < options.rounds; round += 1) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      runs[name].push(await runLoad({ ...variants[name], durationSeconds: options.roundSeconds }));
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return Object.fromEntries(
    names.map((name) => {
      const list = runs[name];
      const requests = list.reduce((sum, run) => sum + run.requests, 0);
      const cpuMicros = list.every((run) => run.cpuMicrosPerRequest !== undefined)
        ? list.reduce((sum, run) => sum + (run.cpuMicrosPerRequest ?? 0) * run.requests, 0)
        : undefined;
      return [
        name,
        {
          rps: requests / (options.roundSeconds * list.length),
          p50: median(list.map((run) => run.p50)),
          p99: median(list.map((run) => run.p99)),
          failures: list.reduce((sum, run) => sum + run.failures, 0),
          requests,
          cpuMicrosPerRequest: cpuMicros === undefined ? undefined : cpuMicros / Math.max(1, requests),
        },
      ];
    }),
  );
}
