export { AuditLog, AUDIT_RESULTS, HOSTD_ACTOR } from './audit-log.js';
export type {
  AuditActor,
  AuditAnchor,
  AuditEntry,
  AuditListOptions,
  AuditProblem,
  AuditRecord,
  AuditResult,
  AuditVerification,
} from './audit-log.js';
export { GENESIS_HASH, canonicalJson, chainHash, canonicalRow } from './audit-chain.js';
