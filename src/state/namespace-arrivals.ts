/** Reviews waiting for a namespace the watch has not delivered yet: woken when it arrives, bounded in number and time. */
export class NamespaceArrivals {
  readonly #waiting = new Map<string, Set<(arrived: boolean) => void>>();
  #count = 0;

  constructor(private readonly maxWaiting: number) {}

  get waiting(): number {
    return this.#count;
  }

  /** Resolves true when `name` arrives within `timeoutMs`; false on timeout, or at once when too many reviews wait already. */
  wait(name: string, timeoutMs: number): Promise<boolean> {
    if (this.#count >= this.maxWaiting) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.#waiting.get(name);
      if (!waiters) this.#waiting.set(name, (waiters = new Set()));
      const settle = (arrived: boolean): void => {
        clearTimeout(timer);
        waiters.delete(settle);
        if (waiters.size === 0 && this.#waiting.get(name) === waiters) this.#waiting.delete(name);
        this.#count -= 1;
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
