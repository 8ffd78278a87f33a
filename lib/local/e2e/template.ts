/**
 * Reading and rewriting the synthesized CloudFormation templates, for deploying them to an emulator
 * that lacks part of CloudFormation (moto creates no nested stacks and has no model for some types).
 * Pure: templates in, templates and findings out; the deploy (lib/local/e2e/deploy.ts) does the I/O.
 */

/** One resource of a template, as `cdk synth` writes it. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly DependsOn?: string | readonly string[];
  readonly Metadata?: Readonly<Record<string, unknown>>;
  readonly [field: string]: unknown;
}

/** A CloudFormation template, as far as this module reads it. */
export interface CfnTemplate {
  readonly Parameters?: Readonly<Record<string, unknown>>;
  readonly Resources: Readonly<Record<string, CfnResource>>;
  readonly Outputs?: Readonly<Record<string, { readonly Value: unknown; readonly [field: string]: unknown }>>;
  readonly [section: string]: unknown;
}

/** A resource left out of what is sent to the emulator, and why. */
export interface LeftOutResource {
  readonly logicalId: string;
  readonly type: string;
  readonly reason: string;
}

/** A template rewritten for an emulator, and what it had to leave out. */
export interface EmulatorTemplate {
  readonly template: CfnTemplate;
  readonly leftOut: readonly LeftOutResource[];
  /** Outputs dropped because their value refers to a resource left out. */
  readonly droppedOutputs: readonly string[];
}

/** CloudFormation's pseudo parameters: a `Ref` to one of them names no resource. */
const isPseudo = (name: string): boolean => name.startsWith('AWS::');

/**
 * Every logical id a value refers to: `Ref`, `Fn::GetAtt` (both forms) and the `${Name}` /
 * `${Name.Attr}` of `Fn::Sub`, anywhere inside it. Pseudo parameters are left out.
 *
 * @example
 * referencesOf({ 'Fn::GetAtt': ['crmQueue', 'Arn'] }); // Set { 'crmQueue' }
 */
export const referencesOf = (value: unknown): Set<string> => {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, inner] of Object.entries(node)) {
      if (key === 'Ref' && typeof inner === 'string') {
        if (!isPseudo(inner)) found.add(inner);
      } else if (key === 'Fn::GetAtt') {
        const target = Array.isArray(inner) ? inner[0] : typeof inner === 'string' ? inner.split('.')[0] : undefined;
        if (typeof target === 'string') found.add(target);
        if (Array.isArray(inner)) visit(inner.slice(1));
      } else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        if (typeof text === 'string') {
          const variables = Array.isArray(inner) && typeof inner[1] === 'object' && inner[1] !== null ? Object.keys(inner[1] as object) : [];
          for (const match of text.matchAll(/\$\{([^!}][^}]*)\}/g)) {
            const name = match[1]!.split('.')[0]!;
            if (!isPseudo(name) && !variables.includes(name)) found.add(name);
          }
        }
        if (Array.isArray(inner)) visit(inner[1]);
      } else {
        visit(inner);
      }
    }
  };
  visit(value);
  return found;
};

const dependsOnOf = (resource: CfnResource): string[] =>
  resource.DependsOn === undefined ? [] : typeof resource.DependsOn === 'string' ? [resource.DependsOn] : [...resource.DependsOn];

/**
 * The template without the resources whose type the emulator cannot create (`unsupported`: type →
 * reason) and without every resource that refers to one of those (transitively: it could not be
 * created either), each listed with its reason; `DependsOn` entries on them are dropped, and so are
 * the outputs that refer to them. The input is not changed.
 *
 * @example
 * const { template, leftOut } = leaveOutUnsupported(nested, new Map([['AWS::CloudWatch::Alarm', 'moto has no CloudFormation model for it']]));
 * leftOut[0]; // { logicalId: 'crmAlarmsLagAboveSlo…', type: 'AWS::CloudWatch::Alarm', reason: 'moto has no CloudFormation model for it' }
 */
export const leaveOutUnsupported = (input: CfnTemplate, unsupported: ReadonlyMap<string, string>): EmulatorTemplate => {
  const leftOut = new Map<string, LeftOutResource>();
  for (const [logicalId, resource] of Object.entries(input.Resources)) {
    const reason = unsupported.get(resource.Type);
    if (reason !== undefined) leftOut.set(logicalId, { logicalId, type: resource.Type, reason });
  }
  // A resource whose properties refer to one left out cannot be created: leave it out too, until nothing changes.
  let grew = leftOut.size > 0;
  while (grew) {
    grew = false;
    for (const [logicalId, resource] of Object.entries(input.Resources)) {
      if (leftOut.has(logicalId)) continue;
      const missing = [...referencesOf(resource.Properties ?? {})].find((ref) => leftOut.has(ref));
      if (missing === undefined) continue;
      leftOut.set(logicalId, { logicalId, type: resource.Type, reason: `refers to ${missing} (${leftOut.get(missing)!.type}), which is left out` });
      grew = true;
    }
  }
  const resources: Record<string, CfnResource> = {};
  for (const [logicalId, resource] of Object.entries(input.Resources)) {
    if (leftOut.has(logicalId)) continue;
    const dependsOn = dependsOnOf(resource);
    const kept = dependsOn.filter((id) => !leftOut.has(id));
    if (kept.length === dependsOn.length) {
      resources[logicalId] = resource;
    } else {
      const { DependsOn: _dropped, ...rest } = resource;
      resources[logicalId] = kept.length === 0 ? (rest as CfnResource) : { ...rest, DependsOn: kept };
    }
  }
  const outputs: Record<string, { readonly Value: unknown }> = {};
  const droppedOutputs: string[] = [];
  for (const [name, output] of Object.entries(input.Outputs ?? {})) {
    if ([...referencesOf(output)].some((ref) => leftOut.has(ref))) droppedOutputs.push(name);
    else outputs[name] = output;
  }
  const template: CfnTemplate = { ...input, Resources: resources, ...(input.Outputs === undefined ? {} : { Outputs: outputs }) };
  return { template, leftOut: [...leftOut.values()], droppedOutputs };
};

/** A nested stack of the root template: its resource, the template file CDK wrote, and its parameters. */
export interface NestedStackRef {
  /** Logical id of the `AWS::CloudFormation::Stack` resource in the root template. */
  readonly logicalId: string;
  /** The nested template's file in the cloud assembly (`aws:asset:path`). */
  readonly templateFile: string;
  /** The construct path (`aws:cdk:path`), e.g. `sync-pipeline/Pipeline/crm.NestedStack/crm.NestedStackResource`. */
  readonly path: string;
  /** Parameter name → the root template's value for it (a Ref or GetAtt of a root resource, mostly). */
  readonly parameters: Readonly<Record<string, unknown>>;
}

/**
 * The root template's nested stacks, in template order.
 *
 * @throws {Error} naming the resource when one carries no `aws:asset:path` (not a CDK nested stack)
 * @example
 * nestedStacksOf(root).map((stack) => stack.templateFile); // ['spe2ePipelinecrmCC62C6E1.nested.template.json', …]
 */
export const nestedStacksOf = (root: CfnTemplate): NestedStackRef[] =>
  Object.entries(root.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::CloudFormation::Stack')
    .map(([logicalId, resource]) => {
      const templateFile = resource.Metadata?.['aws:asset:path'];
      if (typeof templateFile !== 'string') throw new Error(`Expected the nested stack ${logicalId} to carry Metadata "aws:asset:path", got ${JSON.stringify(templateFile)}`);
      const path = resource.Metadata?.['aws:cdk:path'];
      const parameters = (resource.Properties?.['Parameters'] ?? {}) as Record<string, unknown>;
      return { logicalId, templateFile, path: typeof path === 'string' ? path : logicalId, parameters };
    });

/**
 * What a value resolves against: for a logical id, its `Ref` value, and its attributes. Both return
 * undefined for what they do not know.
 */
export interface ValueResolver {
  ref(logicalId: string): string | undefined;
  getAtt(logicalId: string, attribute: string): string | undefined;
}

/** Raised when a template value refers to something the resolver does not know. */
export class UnresolvedValueError extends Error {
  public constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnresolvedValueError';
  }
}

/**
 * A template value as the string CloudFormation would make of it: a string as is, `Ref`,
 * `Fn::GetAtt`, `Fn::Join` and `Fn::Sub` resolved with `resolver` (pseudo parameters through
 * `ref('AWS::Region')` etc.). `where` names the value in the error.
 *
 * @throws {UnresolvedValueError} for a reference the resolver does not know, or an intrinsic this does not evaluate
 * @example
 * resolveValue({ Ref: 'crmQueue' }, resolver, 'SYNC_QUEUE_URL'); // 'http://127.0.0.1:5000/123456789012/spe2e-crm'
 */
export const resolveValue = (value: unknown, resolver: ValueResolver, where: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const fail = (what: string): never => {
    throw new UnresolvedValueError(`Cannot resolve ${where}: ${what}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(`unexpected value ${JSON.stringify(value)}`);
  const [key, inner] = Object.entries(value)[0] ?? [];
  if (key === 'Ref' && typeof inner === 'string') return resolver.ref(inner) ?? fail(`no value for Ref ${inner}`);
  if (key === 'Fn::GetAtt') {
    const [logicalId, attribute] = Array.isArray(inner) ? inner : typeof inner === 'string' ? [inner.slice(0, inner.indexOf('.')), inner.slice(inner.indexOf('.') + 1)] : [];
    if (typeof logicalId !== 'string' || typeof attribute !== 'string') return fail(`malformed Fn::GetAtt ${JSON.stringify(inner)}`);
    return resolver.getAtt(logicalId, attribute) ?? fail(`no value for Fn::GetAtt ${logicalId}.${attribute}`);
  }
  if (key === 'Fn::Join' && Array.isArray(inner) && typeof inner[0] === 'string' && Array.isArray(inner[1])) {
    return (inner[1] as unknown[]).map((part) => resolveValue(part, resolver, where)).join(inner[0]);
  }
  if (key === 'Fn::Sub') {
    const [text, variables = {}] = Array.isArray(inner) ? inner : [inner];
    if (typeof text !== 'string') return fail(`malformed Fn::Sub ${JSON.stringify(inner)}`);
    return text.replace(/\$\{([^!}][^}]*)\}/g, (_match, name: string) => {
      const own = (variables as Record<string, unknown>)[name];
      if (own !== undefined) return resolveValue(own, resolver, where);
      const dot = name.indexOf('.');
      return dot === -1 ? resolveValue({ Ref: name }, resolver, where) : resolveValue({ 'Fn::GetAtt': [name.slice(0, dot), name.slice(dot + 1)] }, resolver, where);
    });
  }
  return fail(`unsupported intrinsic ${key ?? '(empty object)'}`);
};

/**
 * The parameters a nested stack receives, resolved against the root stack's deployed resources.
 *
 * @throws {UnresolvedValueError} naming the stack and parameter
 * @example
 * resolveParameters(nestedStacksOf(root)[0], rootResolver); // { referencetospe2ePipelineLedgerTable…Ref: 'spe2e-ledger', … }
 */
export const resolveParameters = (stack: NestedStackRef, resolver: ValueResolver): Record<string, string> =>
  Object.fromEntries(Object.entries(stack.parameters).map(([name, value]) => [name, resolveValue(value, resolver, `parameter ${name} of ${stack.logicalId}`)]));

/** The environment an ARN is built in. */
export interface ArnEnvironment {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/**
 * The `Fn::GetAtt` value CloudFormation gives for the attributes this pipeline's templates use, from
 * the resource's type and its physical id (its `Ref` value); undefined for any other.
 *
 * @example
 * attributeFromPhysicalId('AWS::DynamoDB::Table', 'Arn', 'spe2e-ledger', env); // 'arn:aws:dynamodb:us-east-1:123456789012:table/spe2e-ledger'
 * attributeFromPhysicalId('AWS::SQS::Queue', 'Arn', 'http://127.0.0.1:5000/123456789012/spe2e-crm', env); // 'arn:aws:sqs:us-east-1:123456789012:spe2e-crm'
 */
export const attributeFromPhysicalId = (type: string, attribute: string, physicalId: string, env: ArnEnvironment): string | undefined => {
  const arn = (service: string, resource: string) => `arn:${env.partition}:${service}:${env.region}:${env.account}:${resource}`;
  if (attribute === 'Arn') {
    if (type === 'AWS::DynamoDB::Table') return arn('dynamodb', `table/${physicalId}`);
    if (type === 'AWS::Events::EventBus') return physicalId.startsWith('arn:') ? physicalId : arn('events', `event-bus/${physicalId}`);
    if (type === 'AWS::SQS::Queue') return arn('sqs', physicalId.slice(physicalId.lastIndexOf('/') + 1));
    if (type === 'AWS::SNS::Topic') return physicalId;
  }
  if (type === 'AWS::Events::EventBus' && attribute === 'Name') return physicalId.startsWith('arn:') ? physicalId.slice(physicalId.lastIndexOf('/') + 1) : physicalId;
  if (type === 'AWS::SQS::Queue' && attribute === 'QueueName') return physicalId.slice(physicalId.lastIndexOf('/') + 1);
  return undefined;
};

/**
 * A resolver over one stack: `physicalIds` (logical id → the deployed resource's physical id, its
 * Ref value), the template for the resource types, parameter values, and the pseudo parameters.
 *
 * @example
 * const resolver = stackResolver(template, { physicalIds, parameters, env });
 * resolveValue({ 'Fn::GetAtt': ['crmQueue', 'Arn'] }, resolver, 'SYNC_QUEUE_ARN');
 */
export const stackResolver = (
  template: CfnTemplate,
  known: { readonly physicalIds: ReadonlyMap<string, string>; readonly parameters?: Readonly<Record<string, string>>; readonly env: ArnEnvironment; readonly urlSuffix?: string },
): ValueResolver => {
  const pseudo: Record<string, string> = {
    'AWS::Region': known.env.region,
    'AWS::AccountId': known.env.account,
    'AWS::Partition': known.env.partition,
    'AWS::URLSuffix': known.urlSuffix ?? 'amazonaws.com',
  };
  return {
    ref: (name) => pseudo[name] ?? known.parameters?.[name] ?? known.physicalIds.get(name),
    getAtt: (logicalId, attribute) => {
      const type = template.Resources[logicalId]?.Type;
      const physicalId = known.physicalIds.get(logicalId);
      return type === undefined || physicalId === undefined ? undefined : attributeFromPhysicalId(type, attribute, physicalId, known.env);
    },
  };
};

/** A Lambda function of a template: where its code is in the cloud assembly and what it is given. */
export interface TemplateFunction {
  readonly logicalId: string;
  /** The asset directory in the cloud assembly (`aws:asset:path`), e.g. `asset.18e6…`. */
  readonly assetPath: string;
  /** `index.handler` → file `index`, export `handler`. */
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memorySize: number;
  /** As the template has them: strings or intrinsics to resolve. */
  readonly environment: Readonly<Record<string, unknown>>;
}

/**
 * Every `AWS::Lambda::Function` of a template that CDK bundled from an asset.
 *
 * @throws {Error} naming the function when it has no asset path or no handler
 * @example
 * functionsOf(crmTemplate)[0].assetPath; // 'asset.18e6d994…'
 */
export const functionsOf = (template: CfnTemplate): TemplateFunction[] =>
  Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const assetPath = resource.Metadata?.['aws:asset:path'];
      const handler = resource.Properties?.['Handler'];
      if (typeof assetPath !== 'string') throw new Error(`Expected the function ${logicalId} to carry Metadata "aws:asset:path" (bundled by CDK), got ${JSON.stringify(assetPath)}`);
      if (typeof handler !== 'string') throw new Error(`Expected the function ${logicalId} to have a Handler, got ${JSON.stringify(handler)}`);
      const environment = ((resource.Properties?.['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
      return {
        logicalId,
        assetPath,
        handler,
        timeoutSeconds: Number(resource.Properties?.['Timeout'] ?? 3),
        memorySize: Number(resource.Properties?.['MemorySize'] ?? 128),
        environment,
      };
    });

/**
 * A function's environment with every value resolved.
 *
 * @throws {UnresolvedValueError} naming the function and variable
 * @example
 * resolveEnvironment(fn, resolver).SYNC_QUEUE_URL; // 'https://sqs.us-east-1.amazonaws.com/123456789012/spe2e-crm'
 */
export const resolveEnvironment = (fn: TemplateFunction, resolver: ValueResolver): Record<string, string> =>
  Object.fromEntries(Object.entries(fn.environment).map(([name, value]) => [name, resolveValue(value, resolver, `${name} of ${fn.logicalId}`)]));

/** The resources of a template of one type, in template order. */
export const resourcesOfType = (template: CfnTemplate, type: string): Array<[string, CfnResource]> =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/**
 * A resource's physical id (its `Ref` value) as its template declares it, for the named resources
 * the pipeline's root stack holds (the config gives each its name); undefined for any other.
 *
 * @example
 * declaredPhysicalId({ Type: 'AWS::SNS::Topic', Properties: { TopicName: 'spe2e-alarms' } }, env); // 'arn:aws:sns:us-east-1:123456789012:spe2e-alarms'
 */
export const declaredPhysicalId = (resource: CfnResource, env: ArnEnvironment): string | undefined => {
  const name = (field: string): string | undefined => {
    const value = resource.Properties?.[field];
    return typeof value === 'string' ? value : undefined;
  };
  if (resource.Type === 'AWS::DynamoDB::Table') return name('TableName');
  if (resource.Type === 'AWS::Events::EventBus') return name('Name');
  if (resource.Type === 'AWS::SNS::Topic') {
    const topic = name('TopicName');
    return topic === undefined ? undefined : `arn:${env.partition}:sns:${env.region}:${env.account}:${topic}`;
  }
  return undefined;
};

/**
 * The bundle file and export a function's `Handler` names in its asset directory: `index.handler`
 * → `index.mjs` (the consumer's ESM bundle), else `index.js` or `index.cjs`, whichever `exists`.
 *
 * @throws {Error} naming the function and the files looked for when none exists
 * @example
 * handlerModuleOf(fn, 'cdk.out/asset.18e6…', existsSync); // { file: 'cdk.out/asset.18e6…/index.mjs', exportName: 'handler' }
 */
export const handlerModuleOf = (fn: Pick<TemplateFunction, 'logicalId' | 'handler'>, assetDir: string, exists: (path: string) => boolean): { file: string; exportName: string } => {
  const dot = fn.handler.lastIndexOf('.');
  if (dot <= 0) throw new Error(`Expected the Handler of ${fn.logicalId} to be <file>.<export>, got ${JSON.stringify(fn.handler)}`);
  const candidates = ['.mjs', '.js', '.cjs'].map((extension) => `${assetDir}/${fn.handler.slice(0, dot)}${extension}`);
  const file = candidates.find(exists);
  if (file === undefined) throw new Error(`The bundle of ${fn.logicalId} is not in its asset: none of ${candidates.join(', ')} exists`);
  return { file, exportName: fn.handler.slice(dot + 1) };
};
