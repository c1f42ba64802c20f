export { VmEngine } from './vm-engine.js';
export type { CreatedVm, StartedVm, VmEngineOptions } from './vm-engine.js';
export { ReadyWaitError, waitForReadyLine } from './ready-watch.js';
export type { ReadyWaitFailure } from './ready-watch.js';
export { ensureGuestImage } from './guest-image.js';
