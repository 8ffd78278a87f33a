import { Duration, Validations } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IRole, Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { DestinationConfig, PipelineConfig } from '../config/pipeline-config.ts';
import { PROBE_EVENT } from '../config/probe-event.ts';
import { probeRuleName } from '../config/resources.ts';
import { boundedDescription, DescriptionLimit } from './descriptions.ts';

/** Props of {@link EventSourceSwitch}. */
export interface EventSourceSwitchProps {
  /** The consumer's role. */
  readonly role: IRole;
  /** The ARN of the consumer's own event source mapping (`SqsEventSource.eventSourceMappingArn`). */
  readonly eventSourceMappingArn: string;
}

/**
 * Lets a consumer disable and enable its own event source mapping, and no other: its circuit breaker
 * disables the mapping, so changes wait in the queue instead of spending their receives, and the
 * probe enables it again.
 *
 * A policy of its own rather than a statement on the role's default policy: the mapping depends on
 * the function, and the function on its role's default policy, so the mapping's ARN there would be a
 * dependency cycle. Nothing depends on this policy; until it exists the consumer cannot switch, which
 * only matters once a breaker opens.
 *
 * @example
 * const eventSource = new SqsEventSource(queue);
 * consumer.addEventSource(eventSource);
 * new EventSourceSwitch(this, 'EventSourceSwitch', { role, eventSourceMappingArn: eventSource.eventSourceMappingArn });
 */
export class EventSourceSwitch extends Construct {
  public readonly policy: Policy;

  public constructor(scope: Construct, id: string, props: EventSourceSwitchProps) {
    super(scope, id);
    this.policy = new Policy(this, 'Policy', {
      roles: [props.role],
      statements: [
        new PolicyStatement({
          actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
          resources: [props.eventSourceMappingArn],
        }),
        // ListEventSourceMappings has no resource-level permission (IAM accepts only "*"). The
        // consumer calls it with its own function name and queue ARN to learn its mapping's UUID,
        // which it cannot be given (the mapping depends on the function); it reveals only mapping
        // settings and changes nothing.
        new PolicyStatement({ actions: ['lambda:ListEventSourceMappings'], resources: ['*'] }),
      ],
    });
    Validations.of(this.policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'lambda:ListEventSourceMappings supports no resource-level permission; it is read-only, and the actions that change a mapping are allowed on the consumer\'s own mapping only',
    });
  }
}

/**
 * How often the probe runs on AWS: every `ceil(probeIntervalSeconds / 60)` minutes, since a
 * schedule's finest rate is one minute (locally the probe runs every probeIntervalSeconds).
 *
 * @example
 * probeIntervalMinutes({ breaker: { ...breaker, probeIntervalSeconds: 150 } }); // 3
 */
export const probeIntervalMinutes = (destination: Pick<DestinationConfig, 'breaker'>): number =>
  Math.ceil(destination.breaker.probeIntervalSeconds / 60);

/** Props of {@link BreakerProbe}. */
export interface BreakerProbeProps {
  readonly config: PipelineConfig;
  readonly destination: DestinationConfig;
  /** The destination's consumer function: the probe invokes it with {@link PROBE_EVENT}. */
  readonly consumer: IFunction;
}

/**
 * The scheduled probe of one destination's circuit breaker: an EventBridge rule
 * `<name>-<destination>-probe` on the default bus invoking the consumer with {@link PROBE_EVENT}
 * every `ceil(breaker.probeIntervalSeconds / 60)` minutes. While the breaker is open, the consumer
 * tries the destination once and, when it answers, enables its event source mapping again; while it
 * is closed, a probe only reports the breaker's state.
 *
 * @example
 * new BreakerProbe(this, 'BreakerProbe', { config, destination, consumer });
 */
export class BreakerProbe extends Construct {
  public readonly rule: Rule;

  public constructor(scope: Construct, id: string, props: BreakerProbeProps) {
    super(scope, id);
    const { config, destination, consumer } = props;
    const interval = Duration.minutes(probeIntervalMinutes(destination));

    this.rule = new Rule(this, 'Rule', {
      ruleName: probeRuleName(config, destination),
      description: boundedDescription(`Probes ${destination.name} while its circuit breaker is open`, DescriptionLimit.RULE),
      schedule: Schedule.rate(interval),
      targets: [
        new LambdaFunction(consumer, {
          event: RuleTargetInput.fromObject(PROBE_EVENT),
          // A probe the next one has replaced is worth nothing.
          maxEventAge: interval,
        }),
      ],
    });

    // The probe is the function's only asynchronous invocation. Lambda would retry a failed one a
    // minute and three minutes later, off the schedule; the next scheduled probe is the retry.
    consumer.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: interval });
  }
}
