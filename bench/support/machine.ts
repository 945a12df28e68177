import { cpus, platform, release, totalmem, arch } from 'node:os';

/** What the figures were measured on. */
export function describeMachine(): Record<string, string> {
  const cores = cpus();
  return {
    CPU: `${cores[0]?.model.trim() ?? 'unknown'} × ${cores.length}`,
    Memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    OS: `${platform()} ${release()} (${arch()})`,
    Node: process.version,
    Date: new Date().toISOString(),
  };
}
