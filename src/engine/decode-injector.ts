/**
 * Istio's injector objects as slim facts: a MutatingWebhookConfiguration reduced to the webhooks that inject
 * sidecars into pods, and an istio-sidecar-injector ConfigMap reduced to what injectRequired reads.
 */
import { parse as parseYaml } from 'yaml';
import { attempt, field, FieldError, isObject, list, optionalString, quote, stringMap, type Decoded, type Obj } from './decode.js';
import { revisionOfConfigMap, type InjectorConfig, type InjectorWebhook, type InjectorWebhookConfiguration } from './injector.js';
import { REVISION_LABEL } from './istio-labels.js';
import { selectorError, type LabelSelector, type SelectorRequirement } from './label-selector.js';

export const TAG_LABEL = 'istio.io/tag';
/** Istio names every injector webhook <prefix>sidecar-injector.istio.io (the chart's "core" template). */
export const INJECTOR_WEBHOOK_SUFFIX = 'sidecar-injector.istio.io';

export function isMutatingWebhookConfiguration(apiVersion: string, kind: string): boolean {
  return kind === 'MutatingWebhookConfiguration' && apiVersion.startsWith('admissionregistration.k8s.io/');
}

export function isConfigMap(apiVersion: string, kind: string): boolean {
  return kind === 'ConfigMap' && apiVersion === 'v1';
}

function strings(parent: Obj | undefined, key: string, path: string): string[] {
  const value = parent?.[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new FieldError(`${path}.${key} must be a list of strings`);
  return value as string[];
}

/** `strict`: refuse what apimachinery refuses (the API server validates webhook selectors; Istio skips bad ones). */
function labelSelector(value: unknown, path: string, strict = true): LabelSelector {
  if (!isObject(value)) throw new FieldError(`${path} must be an object`);
  const selector: LabelSelector = {};
  const matchLabels = stringMap(value, 'matchLabels', path);
  if (Object.keys(matchLabels).length > 0) selector.matchLabels = matchLabels;
  const expressions: SelectorRequirement[] = list(value, 'matchExpressions', path).map((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const key = optionalString(e, 'key', at);
    const operator = optionalString(e, 'operator', at);
    if (!key) throw new FieldError(`${at}.key must be set`);
    if (!operator) throw new FieldError(`${at}.operator must be set`);
    const requirement: SelectorRequirement = { key, operator };
    const values = strings(e, 'values', at);
    if (values.length > 0) requirement.values = values;
    return requirement;
  });
  if (expressions.length > 0) selector.matchExpressions = expressions;
  const error = strict ? selectorError(selector) : undefined;
  if (error) throw new FieldError(`${path}: ${error}`);
  return selector;
}

function optionalSelector(parent: Obj, key: string, path: string): LabelSelector | undefined {
  const value = parent[key];
  return value === undefined || value === null ? undefined : labelSelector(value, `${path}.${key}`);
}

/** apiserver rules.Matcher for a Pod CREATE: operation, group, version, resource (with "*" and "*∕*"), scope. */
function rulesCallForPodCreate(webhook: Obj, path: string): boolean {
  return list(webhook, 'rules', path).some((rule, i) => {
    const at = `${path}.rules[${i}]`;
    const any = (values: string[], wanted: string): boolean => values.includes('*') || values.includes(wanted);
    const resources = strings(rule, 'resources', at).some((r) => {
      const [resource, sub = ''] = r.split('/');
      return (resource === '*' || resource === 'pods') && (sub === '*' || sub === '');
    });
    const scope = optionalString(rule, 'scope', at) ?? '*';
    return (
      any(strings(rule, 'operations', at), 'CREATE') &&
      any(strings(rule, 'apiGroups', at), '') &&
      any(strings(rule, 'apiVersions', at), 'v1') &&
      resources &&
      scope !== 'Cluster'
    );
  });
}

/**
 * The injector webhooks of a MutatingWebhookConfiguration (named *sidecar-injector.istio.io and called for Pod
 * CREATE), or undefined when it has none: then it is not Istio's injector.
 */
export function decodeInjectorWebhooks(object: unknown): Decoded<InjectorWebhookConfiguration | undefined> {
  return attempt(() => {
    const root = object as Obj;
    const metadata = field(root, 'metadata', '') ?? {};
    const name = optionalString(metadata, 'name', 'metadata');
    if (!name) throw new FieldError('metadata.name must be set');
    const labels = stringMap(metadata, 'labels', 'metadata');
    const webhooks: InjectorWebhook[] = [];
    list(root, 'webhooks', '').forEach((hook, i) => {
      const path = `webhooks[${i}]`;
      const hookName = optionalString(hook, 'name', path);
      if (!hookName?.endsWith(INJECTOR_WEBHOOK_SUFFIX) || !rulesCallForPodCreate(hook, path)) return;
      const webhook: InjectorWebhook = { name: hookName };
      const namespaceSelector = optionalSelector(hook, 'namespaceSelector', path);
      const objectSelector = optionalSelector(hook, 'objectSelector', path);
      if (namespaceSelector) webhook.namespaceSelector = namespaceSelector;
      if (objectSelector) webhook.objectSelector = objectSelector;
      const service = field(field(hook, 'clientConfig', path) ?? {}, 'service', `${path}.clientConfig`);
      const serviceNamespace = optionalString(service, 'namespace', `${path}.clientConfig.service`);
      if (serviceNamespace) webhook.serviceNamespace = serviceNamespace;
      webhooks.push(webhook);
    });
    if (webhooks.length === 0) return undefined;
    const configuration: InjectorWebhookConfiguration = { name, revision: labels[REVISION_LABEL] || 'default', webhooks };
    const tag = labels[TAG_LABEL];
    if (tag) configuration.tag = tag;
    return configuration;
  });
}

function selectors(config: Obj, key: string): LabelSelector[] {
  const value = config[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldError(`data.config: ${key} must be a list of label selectors`);
  return value.map((entry, i) => labelSelector(entry, `data.config: ${key}[${i}]`, false));
}

/**
 * An istio-sidecar-injector ConfigMap (or istio-sidecar-injector-<revision>): policy and the never/always
 * selectors from its `config` document, as inject.UnmarshalConfig reads them. Other ConfigMaps give undefined.
 */
export function decodeInjectorConfig(object: unknown): Decoded<InjectorConfig | undefined> {
  return attempt(() => {
    const root = object as Obj;
    const metadata = field(root, 'metadata', '') ?? {};
    const name = optionalString(metadata, 'name', 'metadata');
    const namespace = optionalString(metadata, 'namespace', 'metadata') ?? '';
    if (!name || revisionOfConfigMap(name) === undefined) return undefined;
    const text = stringMap(root, 'data', '')['config'];
    if (text === undefined) return undefined;
    let document: unknown;
    try {
      document = parseYaml(text, { maxAliasCount: 100 });
    } catch (error) {
      throw new FieldError(`data.config is not YAML: ${(error as Error).message.split('\n')[0]}`);
    }
    const config: Obj = isObject(document) ? document : {};
    const policy = config['policy'];
    if (policy !== undefined && policy !== null && typeof policy !== 'string') {
      throw new FieldError(`data.config: policy must be a string (got ${quote(policy)})`);
    }
    return {
      namespace,
      name,
      policy: policy ?? '',
      neverInjectSelector: selectors(config, 'neverInjectSelector'),
      alwaysInjectSelector: selectors(config, 'alwaysInjectSelector'),
    };
  });
}
