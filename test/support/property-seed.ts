// The fast-check seed of the property suites, and how a failure names it.

/** fast-check seed: FC_SEED when set, else a fixed one, so a failure can be replayed. */
export function propertySeed(): number {
  const fromEnv = process.env.FC_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed))
      throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
    return seed;
  }
  return 0x2fa_c0de;
}

/** Runs a fast-check assertion and names the seed (and how to replay it) when it fails. */
export async function withSeedReport(name: string, seed: number, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    console.error(`[${name}] property failed with fast-check seed ${seed}; replay with FC_SEED=${seed}`);
    throw error;
  }
}
