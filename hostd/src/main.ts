#!/usr/bin/env node
import { readConfig } from './config.js';
import { HostDaemon } from './daemon.js';
import { createLogger } from './log.js';

const config = readConfig();
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

await daemon.start();
logger.info('hostd started', { pid: process.pid, libvirt: config.libvirtUri, run_dir: config.runDir });
