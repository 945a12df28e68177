import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A message a bench worker sends its parent. */
export interface WorkerReply {
  id?: number;
  type: string;
  [field: string]: unknown;
}

/**
 * A bench process forked from the runner (the app under test, the fake HyperID, the memory
 * probe), so the load generator never shares an event loop with what it measures.
 */
export class BenchWorker {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: WorkerReply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    /** What the worker reported when it became ready (e.g. its URL). */
    readonly ready: WorkerReply,
  ) {
    child.on('message', (reply: WorkerReply) => {
      if (reply.id === undefined) return;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Forks `script` (a compiled .js URL) and waits for its `{ type: 'ready' }` message. */
  static async start(script: URL, args: string[] = [], execArgv: string[] = []): Promise<BenchWorker> {
    const child = fork(script, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<WorkerReply>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${script.pathname} exited early with code ${code}`)));
      const onMessage = (message: WorkerReply) => {
        if (message.type !== 'ready') return;
        child.off('message', onMessage);
        resolve(message);
      };
      child.on('message', onMessage);
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    return new BenchWorker(child, ready);
  }

  /** Sends `message` and resolves with the worker's answer to it. */
  request(message: { type: string; [field: string]: unknown }): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ ...message, id });
    });
  }

  /** Ends the worker and waits until it is gone. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** Inside a worker: answers the parent's requests with `handle`, and reports ready. */
export function serveParent(
  ready: Omit<WorkerReply, 'type'>,
  handle: (message: WorkerReply) => Promise<Omit<WorkerReply, 'type' | 'id'>>,
): void {
  if (!process.send) throw new Error('a bench worker must be started with fork()');
  // Never outlive the runner, even when it crashes.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: WorkerReply) => {
    void handle(message).then((reply) => process.send?.({ ...reply, type: message.type, id: message.id }));
  });
  process.send({ ...ready, type: 'ready' });
}
