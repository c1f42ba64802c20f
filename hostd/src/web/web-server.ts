import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { HostService } from '../service/index.js';
import type { RateLimit } from './client-rate-limiter.js';
import { createWebApp } from './web-app.js';

export interface WebServerOptions {
  readonly service: HostService;
  readonly logger: Logger;
  readonly unsealRateLimit?: RateLimit;
}

/** A slow client may not hold a connection open: headers within 10 s, a whole request within 30 s. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** The web listener (MULTIVERSE_WEB_LISTEN): plain HTTP, meant for loopback or an onion service in front. */
export class WebServer {
  readonly #server: Server;
  readonly #logger: Logger;

  constructor(options: WebServerOptions) {
    this.#logger = options.logger;
    this.#server = createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      createWebApp(options),
    );
  }

  async listen(address: { readonly host: string; readonly port: number }): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const bound = this.#server.address() as AddressInfo;
    this.#logger.info('web UI listening', {
      address: `http://${formatHost(bound.address)}:${bound.port}/unseal`,
    });
    return bound;
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
