/**
 * The webhook's connections, by peer address: how many each peer may hold (fairly, when all together reach
 * the limit), counted as they are accepted (before any TLS handshake); a deadline for a connection's first
 * request (a client that completes the handshake and sends nothing is closed); and whether a response is on
 * its way or has ended the connection, so that a client error is answered only where HTTP can still be
 * written, and never a second time.
 */
import type { Server, Socket } from 'node:net';

export interface ConnectionLimits {
  /** Connections one peer address may hold. */
  perPeer: number;
  /** Connections all peers may hold; past it, a peer below its fair share (total / peers) is still let in. */
  total: number;
  /** A new connection must start a request within this time. */
  firstRequestMs: number;
  /** New connections a peer may open in a burst, and per second after it: each costs a TLS handshake. */
  burst?: number;
  perSecond?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface SocketState {
  firstRequest?: NodeJS.Timeout;
  responding: boolean;
  /** Its last answer said Connection: close: nothing more is answered on it. */
  finished: boolean;
}

export type ConnectionRefusal = 'peer-limit' | 'total-limit' | 'rate-limit' | 'silent';

export class ConnectionGuard {
  readonly #limits: ConnectionLimits;
  readonly #sockets = new WeakMap<Socket, SocketState>();
  readonly #peers = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();
  #open = 0;

  constructor(limits: ConnectionLimits, private readonly onRefused: (peer: string, why: ConnectionRefusal) => void) {
    this.#limits = limits;
  }

  /** Count and limit `server`'s connections by peer as they are accepted. */
  admitOn(server: Server, event: 'connection'): void {
    server.on(event, (socket: Socket) => this.#admit(socket));
  }

  /** Watch the connections that carry HTTP: 'connection' for plain HTTP, 'secureConnection' for TLS. */
  watchOn(server: Server, event: 'connection' | 'secureConnection'): void {
    server.on(event, (socket: Socket) => this.#watch(socket));
  }

  get open(): number {
    return this.#open;
  }

  connectionsOf(peer: string): number {
    return this.#peers.get(peer) ?? 0;
  }

  requestStarted(socket: Socket): void {
    const state = this.#sockets.get(socket);
    if (!state) return;
    if (state.firstRequest) {
      clearTimeout(state.firstRequest);
      state.firstRequest = undefined;
    }
    state.finished = false;
  }

  responseStarted(socket: Socket): void {
    const state = this.#sockets.get(socket);
    if (state) state.responding = true;
  }

  responseEnded(socket: Socket, closing: boolean): void {
    const state = this.#sockets.get(socket);
    if (!state) return;
    state.responding = false;
    state.finished = closing;
  }

  /** May nothing more be written on this connection (a response is being written, or the last one closed it)? */
  answered(socket: Socket): boolean {
    const state = this.#sockets.get(socket);
    return state !== undefined && (state.responding || state.finished);
  }

  #admit(socket: Socket): void {
    const peer = socket.remoteAddress ?? 'unknown';
    const refusal = this.#refusal(peer);
    if (refusal) {
      this.onRefused(peer, refusal);
      socket.destroy();
      return;
    }
    this.#open += 1;
    this.#peers.set(peer, this.connectionsOf(peer) + 1);
    socket.once('close', () => {
      this.#open -= 1;
      const left = this.connectionsOf(peer) - 1;
      if (left > 0) this.#peers.set(peer, left);
      else this.#peers.delete(peer);
    });
  }

  #watch(socket: Socket): void {
    const state: SocketState = { responding: false, finished: false };
    state.firstRequest = setTimeout(() => {
      this.onRefused(socket.remoteAddress ?? 'unknown', 'silent');
      socket.destroy();
    }, this.#limits.firstRequestMs);
    state.firstRequest.unref();
    this.#sockets.set(socket, state);
    socket.once('close', () => {
      if (state.firstRequest) clearTimeout(state.firstRequest);
    });
  }

  /** Take one new-connection token from the peer's bucket; false when it is empty. */
  #take(peer: string): boolean {
    const { burst, perSecond } = this.#limits;
    if (burst === undefined || perSecond === undefined) return true;
    const now = performance.now();
    const bucket = this.#buckets.get(peer) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    // Full buckets of peers without connections are forgotten, so the map stays as small as the set of clients.
    if (this.#buckets.size > 10_000) for (const [name, b] of this.#buckets) if (b.tokens >= burst && !this.#peers.has(name)) this.#buckets.delete(name);
    this.#buckets.set(peer, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #refusal(peer: string): ConnectionRefusal | undefined {
    if (!this.#take(peer)) return 'rate-limit';
    const held = this.connectionsOf(peer);
    if (held >= this.#limits.perPeer) return 'peer-limit';
    if (this.#open >= this.#limits.total) {
      const peers = this.#peers.size + (held === 0 ? 1 : 0);
      if (held >= this.#limits.total / peers) return 'total-limit';
    }
    return undefined;
  }
}
