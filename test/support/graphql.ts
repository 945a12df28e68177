/** @nestjs/apollo 14 serves Express through @as-integrations/express5, and exits the process without it. */
export async function requireExpressIntegration(): Promise<void> {
  const name = '@as-integrations/express5';
  try {
    await import(name);
  } catch {
    throw new Error(`${name} is not installed: @nestjs/apollo 14 needs it to serve GraphQL on Express`);
  }
}
