import { CallHomeError, OnionDeviceError, TorControlError } from '@multiverse/onion';
import type { CallHomeErrorCode, OnionDeviceErrorCode } from '@multiverse/onion';
import { ServiceError } from '../service/service-error.js';
import type { ServiceErrorKind } from '../service/service-error.js';

const ADD_CLIENT_HINT = 'add a device first: `mvctl callhome add-client NAME`';

export function torOffError(): ServiceError {
  return new ServiceError(
    'unavailable',
    'TOR_OFF',
    'hostd runs without tor (MULTIVERSE_TOR=off)',
    'set MULTIVERSE_TOR=own (hostd runs its own tor) or control:PATH|HOST:PORT (an existing tor) and restart hostd',
  );
}

export function torUnavailableError(what: string, cause?: unknown): ServiceError {
  return new ServiceError(
    'unavailable',
    'TOR_UNAVAILABLE',
    `tor is not reachable: ${what}`,
    '`mvctl onion status` shows tor’s state and last error; hostd restarts its own tor by itself, retry in a moment',
    cause === undefined ? undefined : { cause },
  );
}

export function callHomeNoJailError(): ServiceError {
  return new ServiceError(
    'conflict',
    'CALLHOME_NO_JAIL',
    'call-home publishes the SSH jail, and the jail is off (MULTIVERSE_JAIL_LISTEN=off)',
    'set MULTIVERSE_JAIL_LISTEN=HOST:PORT and restart hostd',
  );
}

export function callHomeDamagedError(problem: string): ServiceError {
  return new ServiceError(
    'internal',
    'CALLHOME_STATE_DAMAGED',
    `call-home's saved state cannot be used: ${problem}`,
    'restore <stateDir>/callhome/ from a backup (or remove it to start over with a new address and no clients) and restart hostd',
  );
}

const CALLHOME_RULES: Readonly<Record<CallHomeErrorCode, { kind: ServiceErrorKind; hint: string }>> = {
  CALLHOME_INVALID_OPTIONS: { kind: 'invalid-input', hint: 'see `mvctl callhome --help`' },
  CALLHOME_NO_CLIENTS: {
    kind: 'conflict',
    hint:
      `${ADD_CLIENT_HINT}; or \`mvctl callhome enable --allow-without-client-auth\` (then anyone who learns ` +
      'the address reaches the jail’s login)',
  },
  CALLHOME_CLIENT_EXISTS: {
    kind: 'conflict',
    hint: 'pick another name, or remove the old one first: `mvctl callhome remove-client NAME`',
  },
  CALLHOME_CLIENT_UNKNOWN: {
    kind: 'not-found',
    hint: '`mvctl callhome status` lists the authorized devices',
  },
  CALLHOME_KEY_STORE_FAILED: {
    kind: 'internal',
    hint: 'check <stateDir>/callhome/ (free space, permissions), then retry',
  },
  CALLHOME_KEY_MISMATCH: {
    kind: 'internal',
    hint: 'the stored service key is damaged: restore <stateDir>/callhome/service-key.json from a backup',
  },
  CALLHOME_STATE: { kind: 'conflict', hint: '`mvctl callhome status` shows what call-home is doing' },
  CALLHOME_STOPPED: { kind: 'conflict', hint: 'call-home was disabled meanwhile: `mvctl callhome enable`' },
  CALLHOME_PUBLISH_TIMEOUT: {
    kind: 'unavailable',
    hint: 'tor may still be bootstrapping: `mvctl onion status` shows its progress',
  },
};

const DEVICE_RULES: Readonly<Record<OnionDeviceErrorCode, { kind: ServiceErrorKind; hint: string }>> = {
  ONION_DEVICE_INVALID_OPTIONS: { kind: 'invalid-input', hint: 'see `mvctl onion up --help`' },
  ONION_DEVICE_TOOL_MISSING: {
    kind: 'unavailable',
    hint: 'install Debian’s iproute2, nftables and procps (scripts/setup.sh does)',
  },
  ONION_DEVICE_COMMAND_FAILED: {
    kind: 'upstream',
    hint: 'the message has the command and its error; `mvctl onion down` clears what is left',
  },
  ONION_DEVICE_EXISTS: {
    kind: 'conflict',
    hint: 'take it down first (`mvctl onion down`), or choose another --name',
  },
  ONION_DEVICE_NAMESPACE_MISSING: {
    kind: 'not-found',
    hint: 'create the namespace first (`ip netns add NAME`), or leave --namespace out',
  },
  ONION_DEVICE_TOR_REFUSED: {
    kind: 'upstream',
    hint: '`mvctl onion status` shows tor’s state; its log says why it refused',
  },
};

/** A library failure as the ServiceError front ends show; anything else passes through unchanged. */
export function onionServiceError(error: unknown): Error {
  if (error instanceof ServiceError) return error;
  if (error instanceof CallHomeError) {
    const rule = CALLHOME_RULES[error.code];
    return new ServiceError(rule.kind, error.code, error.message, rule.hint, { cause: error });
  }
  if (error instanceof OnionDeviceError) {
    const rule = DEVICE_RULES[error.code];
    return new ServiceError(rule.kind, error.code, error.message, rule.hint, { cause: error });
  }
  if (error instanceof TorControlError) return torUnavailableError(error.message, error);
  return error instanceof Error ? error : new Error(String(error));
}
