import { Duration } from 'aws-cdk-lib';
import { Archive, type EventPattern, type IEventBus, Match } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import type { PipelineConfig } from '../config/pipeline-config.ts';
import { boundedDescription, DescriptionLimit } from './descriptions.ts';

/**
 * The archive's name, the source to replay from: at most 48 characters, EventBridge's limit (a
 * pipeline name has at most 30). Defined here, not with the other names in `lib/config/resources.ts`:
 * only the stack names it, and a change there would change every consumer bundle.
 *
 * @example
 * eventArchiveName({ name: 'sync-pipeline' }); // 'sync-pipeline-changes-archive'
 */
export const eventArchiveName = (config: Pick<PipelineConfig, 'name'>): string => `${config.name}-changes-archive`;

/** Props of {@link ChangeArchive}. */
export interface ChangeArchiveProps {
  /** Its `eventBus` settings: the retention. */
  readonly config: PipelineConfig;
  /** The bus the change events arrive on. */
  readonly eventBus: IEventBus;
  /**
   * Whether the bus is the pipeline's own, holding nothing but change events, or one the user
   * brought, which may carry other traffic too.
   */
  readonly ownBus: boolean;
}

/**
 * What the archive keeps. On the pipeline's own bus, everything: every event there is a change
 * event, a change of a resource type no destination takes today stays replayable for a destination
 * added later (the rules pick again at replay), and an archive without a pattern is also what moto
 * 5.2.1 can deploy (its CloudFormation model fails on an `EventPattern` object). On a bus the user
 * brought, the change events only (a `detail.resourceType`, of any type, for the same reason): the
 * other traffic there is not the pipeline's to keep.
 *
 * @example
 * archivedEvents(true); // {}: every event on the bus
 * archivedEvents(false); // { detail: { resourceType: [{ exists: true }] } }
 */
export const archivedEvents = (ownBus: boolean): EventPattern => (ownBus ? {} : { detail: { resourceType: Match.exists() } });

/**
 * The EventBridge archive of the change events on the bus (`eventBus.archive` in the config), kept
 * `eventBus.archiveRetentionDays` days, named `<name>-changes-archive`, so they can be replayed to
 * the rules (`aws events start-replay`) after a destination lost data or a bad deploy. Replayed
 * events are not archived again (EventBridge leaves them out), and reach the queues like new ones:
 * the consumers skip what a destination already has (invariant I1), so a replay is safe to repeat.
 * Encrypted with an AWS-owned key.
 *
 * @example
 * const { archive } = new ChangeArchive(pipeline, 'EventArchive', { config, eventBus, ownBus: true });
 * new CfnOutput(stack, 'EventArchiveName', { value: archive.archiveName });
 */
export class ChangeArchive extends Construct {
  public readonly archive: Archive;

  public constructor(scope: Construct, id: string, props: ChangeArchiveProps) {
    super(scope, id);
    const { config } = props;
    const days = config.eventBus.archiveRetentionDays;
    this.archive = new Archive(this, 'Archive', {
      sourceEventBus: props.eventBus,
      archiveName: eventArchiveName(config),
      description: boundedDescription(
        `${props.ownBus ? `Every event on the bus of ${config.name}` : `Every change event (detail.resourceType) for ${config.name} on this bus`}, kept ${days} day${days === 1 ? '' : 's'} for replay`,
        DescriptionLimit.ARCHIVE,
      ),
      eventPattern: archivedEvents(props.ownBus),
      retention: Duration.days(days),
    });
  }
}
