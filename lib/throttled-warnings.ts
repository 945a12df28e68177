import type { Logger } from '@nestjs/common';
import { WARNING_LOG_INTERVAL_MS } from './hyperid.constants.js';

/**
 * Warnings that requests can cause (a tampered shared store, a flood of junk tokens at a route in
 * report mode), logged at most once a minute per kind: the first at once, each later line told how
 * many of its kind were held back since the one before. Kinds come from the code, never from a
 * request, so this holds no more entries than the app has routes.
 */
export class ThrottledWarnings {
  private readonly lastLines = new Map<string, { loggedAt: number; heldBack: number }>();

  constructor(private readonly logger: Pick<Logger, 'warn'>) {}

  /** Logs `message(heldBack)` unless a warning of this kind went out less than a minute ago. */
  warn(kind: string, message: (heldBack: number) => string): void {
    const now = Date.now();
    const last = this.lastLines.get(kind);
    if (last && now - last.loggedAt < WARNING_LOG_INTERVAL_MS) {
      last.heldBack += 1;
      return;
    }
    this.logger.warn(message(last?.heldBack ?? 0));
    this.lastLines.set(kind, { loggedAt: now, heldBack: 0 });
  }
}
