import { jest } from '@jest/globals';
import type { LoggerService, LogLevel } from '@nestjs/common';

/** One line any logger, console method or stream write produced. */
export interface CapturedLine {
  source: string;
  text: string;
}

/** One call of a {@link CapturingLogger} method. */
export interface LogEntry {
  level: LogLevel;
  /** The message, as text. */
  message: string;
  /** The last argument, where Nest's Logger puts the context (e.g. 'HyperIdModule'). */
  context: unknown;
  /** The message and every other argument, as text. */
  text: string;
}

/**
 * A LoggerService that keeps every line (message, context and any extra arguments), so that a
 * suite can check what was logged and that no token was. With a `sink`, it also adds each line to
 * it, next to what {@link captureProcessOutput} records.
 */
export class CapturingLogger implements LoggerService {
  readonly entries: LogEntry[] = [];

  constructor(private readonly sink?: CapturedLine[]) {}

  /** Every line as `<level> <text>`, oldest first. */
  get lines(): string[] {
    return this.entries.map((entry) => `${entry.level} ${entry.text}`);
  }

  /** Lines that contain `secret`. */
  linesContaining(secret: string): string[] {
    return this.lines.filter((line) => line.includes(secret));
  }

  log(message: unknown, ...rest: unknown[]) {
    this.keep('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.keep('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.keep('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.keep('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.keep('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.keep('fatal', message, rest);
  }

  private keep(level: LogLevel, message: unknown, rest: unknown[]) {
    const text = [message, ...rest].map(stringify).join(' | ');
    this.entries.push({ level, message: stringify(message), context: rest.at(-1), text });
    this.sink?.push({ source: `logger.${level}`, text });
  }
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Records every write to process.stdout / process.stderr and every console call (still passing
 * them on), so that output bypassing Nest's logger is inspected too. Returns a restore function.
 */
export function captureProcessOutput(sink: CapturedLine[]): () => void {
  const spies: { mockRestore(): void }[] = [];
  for (const [name, stream] of [
    ['stdout', process.stdout],
    ['stderr', process.stderr],
  ] as const) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    spies.push(
      jest.spyOn(stream, 'write').mockImplementation((...args: unknown[]) => {
        const [chunk] = args;
        sink.push({ source: name, text: Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk) });
        return write(...args);
      }),
    );
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console) as (...args: unknown[]) => void;
    spies.push(
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        sink.push({ source: `console.${method}`, text: args.map(stringify).join(' ') });
        original(...args);
      }),
    );
  }
  return () => spies.forEach((spy) => spy.mockRestore());
}
