/**
 * Reviews waiting for a namespace the watch has not delivered yet: woken when it arrives, bounded in time, in
 * number, and per peer, so that one client's reviews for namespaces that never come cannot use every slot.
 */
export class NamespaceArrivals {
  readonly #waiting = new Map<string, Set<(arrived: boolean) => void>>();
  readonly #byPeer = new Map<string, number>();
  #count = 0;

  constructor(
    private readonly maxWaiting: number,
    private readonly maxPerPeer = maxWaiting,
  ) {}

  get waiting(): number {
    return this.#count;
  }

  /** Resolves true when `name` arrives within `timeoutMs`; false on timeout, or at once when too many reviews wait already. */
  wait(name: string, timeoutMs: number, peer = ''): Promise<boolean> {
    const mine = this.#byPeer.get(peer) ?? 0;
    if (this.#count >= this.maxWaiting || mine >= this.maxPerPeer) return Promise.resolve(false);
    this.#byPeer.set(peer, mine + 1);
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(name);
      if (!waiters) this.#waiting.set(name, (waiters = new Set()));
      const settle = (arrived: boolean): void => {
        clearTimeout(timer);
        waiters.delete(settle);
        if (waiters.size === 0 && this.#waiting.get(name) === waiters) this.#waiting.delete(name);
        this.#count -= 1;
        const left = (this.#byPeer.get(peer) ?? 1) - 1;
        if (left > 0) this.#byPeer.set(peer, left);
        else this.#byPeer.delete(peer);
        resolve(arrived);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      waiters.add(settle);
      this.#count += 1;
    });
  }

  arrived(name: string): void {
    const waiters = this.#waiting.get(name);
    if (!waiters) return;
    for (const settle of [...waiters]) settle(true);
  }
}
