/** Bytes as mebibytes, one decimal. */
export const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
