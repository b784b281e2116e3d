/** `--kubeconfig` / `--context` of `check` and `audit`: the live cluster's objects, read once, or none. */
import type { LiveSnapshot } from '../state/live-snapshot.js';

export interface LiveFlags {
  kubeconfig?: string;
  context?: string;
  /** Seconds. */
  requestTimeout: number;
}

export const wantsCluster = (flags: LiveFlags): boolean => flags.kubeconfig !== undefined || flags.context !== undefined;

export async function liveSnapshotFor(flags: LiveFlags, rootNamespace: string): Promise<LiveSnapshot | undefined> {
  if (!wantsCluster(flags)) return undefined;
  const { readLiveSnapshot } = await import('../state/live-snapshot.js');
  return readLiveSnapshot({
    ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context !== undefined ? { context: flags.context } : {}),
    rootNamespace,
    requestTimeoutMs: flags.requestTimeout * 1000,
  });
}
