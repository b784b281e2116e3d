import type { AuditReport } from './report.js';
export function renderHtml(report: AuditReport): string {
  return '<!doctype html><pre>' + JSON.stringify(report).replace(/</g, '&lt;') + '</pre>';
}
