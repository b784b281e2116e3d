/** SPEC 2.4: rule actions, the enforcement override and exempt namespaces. */
import { Ajv } from 'ajv';
import { NEWEST_ISTIO_VERSION, SUPPORTED_ISTIO_VERSIONS } from '../engine/istio-version.js';
import { ACTIONS, RULE_IDS, type Action, type Policy, type RuleId } from '../engine/types.js';
import { fieldOf, problemOf } from '../schema-errors.js';

export { ACTIONS, RULE_IDS, type Action, type RuleId };

export const ENFORCEMENTS = ['enforce', 'warn', 'audit'] as const;
export type Enforcement = (typeof ENFORCEMENTS)[number];

export interface Config {
  rootNamespace: string;
  enforcement: Enforcement;
  rules: Record<RuleId, Action>;
  exemptNamespaces: string[];
  /** Whose semantics to follow: one of SUPPORTED_ISTIO_VERSIONS. */
  istioVersion: string;
  /** Image patterns (`*` matches anything) an istio-proxy must match; empty means any image. */
  proxyImages: string[];
  /** istiod's cluster ID: the value of the topology.istio.io/cluster label it gives every proxy. */
  clusterID: string;
  /** The mesh network of this cluster (istiod's topology.istio.io/network default), if any. */
  network?: string;
}

const DEFAULTS: Config = {
  rootNamespace: 'istio-system',
  enforcement: 'enforce',
  rules: { 'strict-requires-mesh': 'deny', 'mtls-drift': 'warn', 'pod-requires-mesh': 'deny' },
  exemptNamespaces: ['kube-system', 'kube-public', 'kube-node-lease'],
  istioVersion: NEWEST_ISTIO_VERSION,
  proxyImages: [],
  clusterID: 'Kubernetes',
};
export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze(DEFAULTS);

const NAMESPACE_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const CONFIG_SCHEMA = {
  $id: 'https://mtls-guard.dev/config.schema.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    rootNamespace: { type: 'string', pattern: NAMESPACE_NAME, maxLength: 63 },
    enforcement: { enum: [...ENFORCEMENTS] },
    rules: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(RULE_IDS.map((id) => [id, { enum: [...ACTIONS] }])),
    },
    exemptNamespaces: {
      type: 'array',
      items: { type: 'string', pattern: NAMESPACE_NAME, maxLength: 63 },
      uniqueItems: true,
    },
    istioVersion: { enum: [...SUPPORTED_ISTIO_VERSIONS] },
    proxyImages: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 512 }, uniqueItems: true },
    clusterID: { type: 'string', minLength: 1, maxLength: 253 },
    network: { type: 'string', minLength: 1, maxLength: 63 },
  },
} as const;

const validateSchema = new Ajv({ allErrors: true }).compile(CONFIG_SCHEMA);

const CONFIG_PROBLEMS = { pattern: 'must be a Kubernetes namespace name (lowercase letters, digits and -)' };

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/** Validate a parsed config document and fill in defaults. An empty document means the defaults. */
export function parseConfig(document: unknown): ConfigResult {
  if (document === null || document === undefined) return { ok: true, config: structuredClone(DEFAULT_CONFIG) as Config };
  if (!validateSchema(document)) {
    const errors = (validateSchema.errors ?? []).map((e) => `${fieldOf(e, '(top level)')}: ${problemOf(e, CONFIG_PROBLEMS)}`);
    return { ok: false, errors: [...new Set(errors)] };
  }
  const given = document as Partial<Config>;
  return {
    ok: true,
    config: {
      rootNamespace: given.rootNamespace ?? DEFAULT_CONFIG.rootNamespace,
      enforcement: given.enforcement ?? DEFAULT_CONFIG.enforcement,
      rules: { ...DEFAULT_CONFIG.rules, ...given.rules },
      exemptNamespaces: given.exemptNamespaces ?? [...DEFAULT_CONFIG.exemptNamespaces],
      istioVersion: given.istioVersion ?? DEFAULT_CONFIG.istioVersion,
      proxyImages: given.proxyImages ?? [],
      clusterID: given.clusterID ?? DEFAULT_CONFIG.clusterID,
      ...(given.network ? { network: given.network } : {}),
    },
  };
}

/** The action a rule's finding gets: the rule's configured action, with deny lowered by the enforcement override. */
export function actionFor(config: Config, rule: RuleId): Action {
  const action = config.rules[rule];
  if (action === 'deny' && config.enforcement !== 'enforce') return config.enforcement;
  return action;
}

/** Exempt namespaces: the configured list plus the root namespace and the namespace mtls-guard runs in. */
export function exemptNamespaces(config: Config, ownNamespace?: string): ReadonlySet<string> {
  const exempt = new Set(config.exemptNamespaces);
  exempt.add(config.rootNamespace);
  if (ownNamespace) exempt.add(ownNamespace);
  return exempt;
}

/** The engine's policy from a config: actions with the enforcement override applied, and the exempt namespaces. */
export function policyFor(config: Config, ownNamespace?: string): Policy {
  const actions = Object.fromEntries(RULE_IDS.map((rule) => [rule, actionFor(config, rule)])) as Record<RuleId, Action>;
  const policy: Policy = {
    rootNamespace: config.rootNamespace,
    actions,
    exempt: exemptNamespaces(config, ownNamespace),
    istioVersion: config.istioVersion,
    proxyImages: config.proxyImages,
    clusterID: config.clusterID,
  };
  if (config.network) policy.network = config.network;
  return policy;
}
