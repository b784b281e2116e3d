/** `mtls-guard audit`'s core: a whole state judged at once, through the same posture the webhook keeps current. */
import type { Policy } from '../engine/types.js';
import { buildReport, type ReportInputs } from './build-report.js';
import { MeshPosture, type AuditedState } from './posture.js';
import type { AuditReport } from './report.js';

export function auditState(state: AuditedState, policy: Policy, source: string, callers?: ReportInputs['callers']): AuditReport {
  const posture = new MeshPosture(state, policy);
  posture.settle();
  return buildReport({ state, policy, posture, source, ...(callers ? { callers } : {}) });
}
