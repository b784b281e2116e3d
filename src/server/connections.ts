/**
 * The webhook's connections, by peer address: how many each peer may hold (fairly, when all together reach
 * the limit), a deadline for a connection's first request (a client that completes the handshake and sends
 * nothing is closed), and whether a response is on its way (so a client error is answered only where HTTP
 * can still be written).
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Connections one peer address may hold. */
  perPeer: number;
  /** Connections all peers may hold; past it, a peer below its fair share (total / peers) is still let in. */
  total: number;
  /** A new connection must start a request within this time. */
  firstRequestMs: number;
}

interface SocketState {
  peer: string;
  firstRequest?: NodeJS.Timeout;
  responding: boolean;
}

export type ConnectionRefusal = 'peer-limit' | 'total-limit' | 'silent';

export class ConnectionGuard {
  readonly #limits: ConnectionLimits;
  readonly #sockets = new WeakMap<Socket, SocketState>();
  readonly #peers = new Map<string, number>();
  #open = 0;

  constructor(limits: ConnectionLimits, private readonly onRefused: (peer: string, why: ConnectionRefusal) => void) {
    this.#limits = limits;
  }

  /** Watch `server`'s connections: `event` is 'connection' for plain HTTP, 'secureConnection' for TLS. */
  attach(server: Server, event: 'connection' | 'secureConnection'): void {
    server.on(event, (socket: Socket) => this.#accept(socket));
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
  }

  responseStarted(socket: Socket, started: boolean): void {
    const state = this.#sockets.get(socket);
    if (state) state.responding = started;
  }

  /** Is a response being written on this connection (so no other HTTP may be written into it)? */
  responding(socket: Socket): boolean {
    return this.#sockets.get(socket)?.responding === true;
  }

  #accept(socket: Socket): void {
    const peer = socket.remoteAddress ?? 'unknown';
    const refusal = this.#refusal(peer);
    if (refusal) {
      this.onRefused(peer, refusal);
      socket.destroy();
      return;
    }
    const state: SocketState = { peer, responding: false };
    state.firstRequest = setTimeout(() => {
      this.onRefused(peer, 'silent');
      socket.destroy();
    }, this.#limits.firstRequestMs);
    state.firstRequest.unref();
    this.#sockets.set(socket, state);
    this.#open += 1;
    this.#peers.set(peer, this.connectionsOf(peer) + 1);
    socket.once('close', () => {
      if (state.firstRequest) clearTimeout(state.firstRequest);
      this.#open -= 1;
      const left = this.connectionsOf(peer) - 1;
      if (left > 0) this.#peers.set(peer, left);
      else this.#peers.delete(peer);
    });
  }

  #refusal(peer: string): ConnectionRefusal | undefined {
    const held = this.connectionsOf(peer);
    if (held >= this.#limits.perPeer) return 'peer-limit';
    if (this.#open >= this.#limits.total) {
      const peers = this.#peers.size + (held === 0 ? 1 : 0);
      if (held >= this.#limits.total / peers) return 'total-limit';
    }
    return undefined;
  }
}
