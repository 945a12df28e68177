import { AUTH_REALM } from '../hyperid.constants.js';

/**
 * An RFC 7235 quoted-string: backslash and double quote escaped, control and non-ASCII
 * characters dropped, so no value can break out of the header or split it.
 */
function quoted(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '');
  return `"${printable.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

/** A `WWW-Authenticate` Bearer challenge (RFC 6750 §3) with the module's realm first. */
export function bearerChallenge(params: Readonly<Record<string, string>> = {}): string {
  const parts = [`realm=${quoted(AUTH_REALM)}`];
  for (const [name, value] of Object.entries(params)) parts.push(`${name}=${quoted(value)}`);
  return `Bearer ${parts.join(', ')}`;
}
