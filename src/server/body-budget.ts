/**
 * Bytes of request bodies held in memory, shared fairly between peer addresses. A peer may hold at most
 * `perPeer` bytes; when all peers together would pass `total`, the peer holding the most gives way (its
 * largest body is aborted) as long as it holds more than the one asking. So connections from one address can
 * never make bodies from another, smaller user fail.
 */
export interface BodyHold {
  readonly peer: string;
  readonly bytes: number;
}

interface Hold extends BodyHold {
  bytes: number;
  released: boolean;
  /** Still arriving: only such a body can give way (one already read is being parsed; its memory stays held). */
  arriving: boolean;
  readonly abort: () => void;
}

interface PeerUsage {
  bytes: number;
  holds: Set<Hold>;
}

export class BodyBudget {
  readonly total: number;
  readonly perPeer: number;
  #used = 0;
  readonly #peers = new Map<string, PeerUsage>();

  constructor(total: number, perPeer: number) {
    this.total = total;
    this.perPeer = perPeer;
  }

  get used(): number {
    return this.#used;
  }

  usedBy(peer: string): number {
    return this.#peers.get(peer)?.bytes ?? 0;
  }

  /** A new body from `peer`; `abort` is called if it must give way to a smaller peer. */
  open(peer: string, abort: () => void): BodyHold {
    const hold: Hold = { peer, bytes: 0, released: false, arriving: true, abort };
    let usage = this.#peers.get(peer);
    if (!usage) {
      usage = { bytes: 0, holds: new Set() };
      this.#peers.set(peer, usage);
    }
    usage.holds.add(hold);
    return hold;
  }

  /** Hold `bytes` more for this body; false when its peer is over its share (refuse the body). */
  grow(body: BodyHold, bytes: number): boolean {
    const hold = body as Hold;
    if (hold.released) return false;
    const usage = this.#peers.get(hold.peer) as PeerUsage;
    if (usage.bytes + bytes > this.perPeer) return false;
    while (this.#used + bytes > this.total) {
      const victim = this.#largestOther(hold.peer);
      if (!victim || victim.bytes <= usage.bytes + bytes) return false;
      let largest: Hold | undefined;
      for (const candidate of victim.holds) if (candidate.arriving && (!largest || candidate.bytes > largest.bytes)) largest = candidate;
      if (!largest) return false;
      this.release(largest);
      largest.abort();
    }
    hold.bytes += bytes;
    usage.bytes += bytes;
    this.#used += bytes;
    return true;
  }

  /** The whole body has arrived: its bytes stay held until release(), and it no longer gives way to others. */
  arrived(body: BodyHold): void {
    (body as Hold).arriving = false;
  }

  /** The body is parsed, refused or gone: its bytes are free again. Idempotent. */
  release(body: BodyHold): void {
    const hold = body as Hold;
    if (hold.released) return;
    hold.released = true;
    const usage = this.#peers.get(hold.peer);
    if (!usage) return;
    usage.bytes -= hold.bytes;
    this.#used -= hold.bytes;
    usage.holds.delete(hold);
    if (usage.holds.size === 0) this.#peers.delete(hold.peer);
  }

  /** The other peer holding the most that still has a body arriving. */
  #largestOther(peer: string): PeerUsage | undefined {
    let largest: PeerUsage | undefined;
    for (const [name, usage] of this.#peers) {
      if (name === peer || usage.bytes === 0 || (largest && usage.bytes <= largest.bytes)) continue;
      if ([...usage.holds].some((h) => h.arriving)) largest = usage;
    }
    return largest;
  }
}
