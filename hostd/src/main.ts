#!/usr/bin/env node
import { ConfigError, readConfig } from './config.js';
import type { HostdConfig } from './config.js';
import { HostDaemon } from './daemon.js';
import { createLogger } from './log.js';

let config: HostdConfig;
try {
  config = readConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`hostd: ${error.code}: ${error.message}\n`);
  process.exit(2);
}
const logger = createLogger('hostd', { minLevel: config.logLevel });
const daemon = new HostDaemon(config, logger);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    daemon.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('stop failed', { error: (error as Error).message });
        process.exit(1);
      },
    );
  });
}

try {
  await daemon.start();
} catch (error) {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') throw error;
  // Known start failures (state database, API socket) carry a code and a message that says what to do.
  logger.error('hostd cannot start', { code, error: (error as Error).message });
  await daemon.stop();
  process.exit(1);
}
logger.info('hostd started', { pid: process.pid, libvirt: config.libvirtUri, run_dir: config.runDir });
