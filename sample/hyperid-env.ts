/**
 * `HYPERID_API_URL`, or undefined when it is unset or blank: `HYPERID_API_URL=` left in a `.env`
 * file or a deployment manifest means "not configured", not "an empty URL".
 */
export function hyperIdApiUrl(): string | undefined {
  const value = process.env.HYPERID_API_URL?.trim();
  return value ? value : undefined;
}

/** Whether the sample runs as a production deployment would. */
export function isProduction(): boolean {
  return process.env.NODE_ENV?.trim().toLowerCase() === 'production';
}

/**
 * Why the sample refuses to start. The embedded fake HyperID accepts anyone holding a demo token,
 * so falling back to it in production would let strangers through every guarded route.
 */
export const MISSING_API_URL_IN_PRODUCTION =
  'HYPERID_API_URL is not set (or blank) and NODE_ENV is production: refusing to start. ' +
  'Without it the sample would run its embedded fake HyperID, which accepts public demo tokens. ' +
  'Set HYPERID_API_URL to your HyperID API, e.g. HYPERID_API_URL=https://api.hypersecureid.com.';
