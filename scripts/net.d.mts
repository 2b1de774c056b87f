/** A TCP port free on 127.0.0.1 now, below the kernel's ephemeral range (see net.mjs). */
export function freePort(): Promise<number>;
