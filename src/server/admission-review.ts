/**
 * admission.k8s.io/v1 AdmissionReview: validating the request (a JSON Schema, errors naming the field)
 * and building the response. Pure functions.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { Operation } from '../engine/types.js';
import { fieldOf, problemOf } from '../schema-errors.js';
import type { Finding } from '../engine/findings.js';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  operation: Operation;
  namespace?: string;
  name?: string;
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  dryRun?: boolean;
}

const OBJECT_OR_NULL = { anyOf: [{ type: 'object' }, { type: 'null' }] };

export const ADMISSION_REVIEW_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { const: 'admission.k8s.io/v1' },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 256 },
        kind: {
          type: 'object',
          required: ['group', 'version', 'kind'],
          properties: {
            group: { type: 'string', maxLength: 253 },
            version: { type: 'string', maxLength: 63 },
            kind: { type: 'string', minLength: 1, maxLength: 63 },
          },
        },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        namespace: { type: 'string', maxLength: 63 },
        name: { type: 'string', maxLength: 253 },
        object: OBJECT_OR_NULL,
        oldObject: OBJECT_OR_NULL,
        dryRun: { type: 'boolean' },
      },
      if: { required: ['operation'], properties: { operation: { enum: ['CREATE', 'UPDATE'] } } },
      then: { required: ['object'], properties: { object: { type: 'object' } } },
      else: {
        if: { required: ['operation'], properties: { operation: { const: 'DELETE' } } },
        then: { required: ['oldObject'], properties: { oldObject: { type: 'object' } } },
      },
    },
  },
} as const;

/** The compiled schema: Fastify's route validation and handleReview both use this one. */
export const validateAdmissionReview = new Ajv({ allErrors: false, strict: false }).compile(ADMISSION_REVIEW_SCHEMA);

/** The first error that says what is wrong (an `if` only says which branch failed). */
export function describeSchemaErrors(errors: readonly ErrorObject[] | null | undefined): string {
  const error = errors?.find((e) => e.keyword !== 'if') ?? errors?.[0];
  return error ? `${fieldOf(error, 'body')} ${problemOf(error)}` : 'not an AdmissionReview';
}

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; error: string };

/** Validate a decoded body as an AdmissionReview and return its request. */
export function parseAdmissionReview(body: unknown): ParsedReview {
  if (!validateAdmissionReview(body)) return { ok: false, error: describeSchemaErrors(validateAdmissionReview.errors) };
  return { ok: true, request: (body as { request: AdmissionRequest }).request };
}

/** The fields of an admission.k8s.io/v1 AdmissionRequest: all an AdmissionReview carries that matters. */
const REQUEST_FIELDS = [
  'uid', 'kind', 'resource', 'subResource', 'requestKind', 'requestResource', 'requestSubResource',
  'name', 'namespace', 'operation', 'userInfo', 'object', 'oldObject', 'dryRun', 'options',
] as const;

/** A valid AdmissionReview without fields the API server never sends (whatever a client may have added). */
export function admissionEnvelope(review: { apiVersion: string; kind: string; request: Record<string, unknown> }): unknown {
  const request: Record<string, unknown> = {};
  for (const field of REQUEST_FIELDS) if (field in review.request) request[field] = review.request[field];
  return { apiVersion: review.apiVersion, kind: review.kind, request };
}

/** The apiVersion a GroupVersionKind names, to fill objects that arrive without TypeMeta. */
export function apiVersionOf(gvk: GroupVersionKind): string {
  return gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** Kubernetes drops admission warnings past 4096 characters in all. */
const WARNINGS_BUDGET = 4096;
const AUDIT_VALUE_LIMIT = 1024;

/** Longer denial messages are cut: an answer stays small whatever the object under review holds. */
const MESSAGE_LIMIT = 16 * 1024;

export function review(response: AdmissionResponse): AdmissionReviewResponse {
  if (response.status && response.status.message.length > MESSAGE_LIMIT) {
    response.status = { ...response.status, message: `${response.status.message.slice(0, MESSAGE_LIMIT)}…` };
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** The AdmissionReview answering `uid` for these findings: denials joined into one 403 message, warnings, audit annotations. */
export function respond(uid: string, findings: readonly Finding[]): AdmissionReviewResponse {
  const denials = findings.filter((f) => f.action === 'deny');
  const response: AdmissionResponse = { uid, allowed: denials.length === 0 };
  if (denials.length > 0) {
    response.status = { code: 403, reason: 'Forbidden', message: denials.map((f) => `[${f.rule}] ${f.message}`).join('\n') };
  }
  const warnings: string[] = [];
  let budget = WARNINGS_BUDGET;
  for (const finding of findings) {
    if (finding.action !== 'warn' || finding.message.length > budget) continue;
    warnings.push(finding.message);
    budget -= finding.message.length;
  }
  if (warnings.length > 0) response.warnings = warnings;
  const audits = findings.filter((f) => f.action === 'audit');
  if (audits.length > 0) {
    response.auditAnnotations = Object.fromEntries(audits.map((f) => [f.rule, f.message.slice(0, AUDIT_VALUE_LIMIT)]));
  }
  return review(response);
}

/** A denial that asks the client to retry: used before the cluster state has synced. */
export function respondRetry(uid: string, message: string): AdmissionReviewResponse {
  return review({ uid, allowed: false, status: { code: 503, reason: 'ServiceUnavailable', message } });
}
