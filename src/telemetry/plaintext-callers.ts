/**
 * Plaintext inbound traffic seen by Istio's telemetry: which source workloads reached which destination workload
 * without mutual TLS. STRICT on the destination would cut those sources off. Pure data: no I/O, no clock.
 *
 * An unidentified source: the reporting proxy (the destination's sidecar, or ztunnel for an ambient pod) labels
 * `source_workload` and `source_workload_namespace` "unknown" when it has no peer metadata for the client
 * (istio/proxy istio_stats.cc populatePeerInfo). A client without a sidecar sends no metadata exchange headers
 * and no certificate, so unless the sidecar looks peers up by IP (PEER_METADATA_DISCOVERY, or ISTIO_META_ENABLE_HBONE
 * as in the ambient profile: pkg/bootstrap/config.go) or ztunnel knows the address, its traffic arrives "unknown".
 * Those are exactly the callers STRICT cuts off, so they are kept, counted per destination, never dropped.
 */

/** A workload as Istio's telemetry names it (see src/engine/istio-workload-name.ts). */
export interface TelemetryWorkload {
  namespace: string;
  name: string;
}

/** How much plaintext traffic, over the window: HTTP/gRPC requests and TCP connections opened. */
export interface TrafficCount {
  requests: number;
  connections: number;
}

/** One row of telemetry: plaintext traffic from a source (undefined: unidentified) to a destination. */
export interface PlaintextObservation extends TrafficCount {
  source: TelemetryWorkload | undefined;
  destination: TelemetryWorkload;
}

export interface PlaintextCaller extends TrafficCount {
  source: TelemetryWorkload;
}

/** The plaintext callers of one destination workload. */
export interface PlaintextCallers {
  destination: TelemetryWorkload;
  /** Identified sources, the busiest first (requests + connections), then by namespace and name. */
  sources: readonly PlaintextCaller[];
  /** Traffic from sources the proxy could not name; absent when there was none. */
  unidentified?: TrafficCount;
}

/** The value Istio's proxies and ztunnel put in a label they have nothing for. */
export const UNKNOWN = 'unknown';

/** A workload from a pair of telemetry labels; undefined when either is missing, empty or "unknown". */
export function telemetryWorkload(namespace: string | undefined, name: string | undefined): TelemetryWorkload | undefined {
  if (!namespace || !name || namespace === UNKNOWN || name === UNKNOWN) return undefined;
  return { namespace, name };
}

interface Builder {
  destination: TelemetryWorkload;
  sources: Map<string, PlaintextCaller>;
  unidentified?: TrafficCount;
}

const key = (workload: TelemetryWorkload) => `${workload.namespace}\u0000${workload.name}`;

/** Plaintext inbound traffic over one window, indexed by destination workload. */
export class PlaintextTraffic {
  private constructor(
    /** The window the counts cover, in seconds. */
    readonly windowSeconds: number,
    private readonly byDestination: ReadonlyMap<string, PlaintextCallers>,
  ) {}

  /** Rows for the same (source, destination) pair are added up; rows with no traffic are left out. */
  static from(observations: Iterable<PlaintextObservation>, windowSeconds: number): PlaintextTraffic {
    const builders = new Map<string, Builder>();
    for (const row of observations) {
      if (!(row.requests > 0) && !(row.connections > 0)) continue;
      const destinationKey = key(row.destination);
      let builder = builders.get(destinationKey);
      if (!builder) {
        builder = { destination: { ...row.destination }, sources: new Map() };
        builders.set(destinationKey, builder);
      }
      if (row.source) {
        const sourceKey = key(row.source);
        const caller = builder.sources.get(sourceKey) ?? { source: { ...row.source }, requests: 0, connections: 0 };
        builder.sources.set(sourceKey, add(caller, row));
      } else {
        builder.unidentified = add(builder.unidentified ?? { requests: 0, connections: 0 }, row);
      }
    }
    const byDestination = new Map<string, PlaintextCallers>();
    for (const [destinationKey, builder] of builders) {
      const callers: PlaintextCallers = { destination: builder.destination, sources: [...builder.sources.values()].sort(busiestFirst) };
      if (builder.unidentified) callers.unidentified = builder.unidentified;
      byDestination.set(destinationKey, callers);
    }
    return new PlaintextTraffic(windowSeconds, byDestination);
  }

  /** The plaintext callers of a destination, or undefined when none was seen in the window. */
  callersOf(destination: TelemetryWorkload): PlaintextCallers | undefined {
    return this.byDestination.get(key(destination));
  }

  /** Every destination that received plaintext traffic in the window. */
  destinations(): IterableIterator<PlaintextCallers> {
    return this.byDestination.values();
  }

  get size(): number {
    return this.byDestination.size;
  }
}

function add<T extends TrafficCount>(total: T, more: TrafficCount): T {
  const requests = total.requests + Math.max(0, more.requests || 0);
  const connections = total.connections + Math.max(0, more.connections || 0);
  return { ...total, requests, connections };
}

function busiestFirst(a: PlaintextCaller, b: PlaintextCaller): number {
  const traffic = b.requests + b.connections - (a.requests + a.connections);
  return traffic || compare(a.source.namespace, b.source.namespace) || compare(a.source.name, b.source.name);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
