import { type Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { DOMAIN_EVENT_SOURCE_PREFIX } from '../workflows';

export interface WorkflowEventsProps {
  /** How long the archive keeps events for replay (config `workflowEvents.archiveDays`). */
  readonly archiveRetention: Duration;
}

/**
 * The domain event bus: the processors put one normalized event per processed delivery on it
 * (`source` `webhooks.{provider}`), for workflows to subscribe with their own rules. A custom bus
 * owned by this stack and named after it, with an archive of those events so they can be replayed
 * onto the bus.
 */
export class WorkflowEvents extends Construct {
  public readonly bus: events.EventBus;
  public readonly archive: events.Archive;

  constructor(scope: Construct, id: string, props: WorkflowEventsProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: `${Stack.of(this).stackName}-workflow-events`,
      description: 'Normalized webhook domain events (source webhooks.{provider}) for workflows',
    });
    this.archive = this.bus.archive('Archive', {
      description: 'Domain events of the webhook processors, kept for replay onto the bus',
      eventPattern: { source: events.Match.prefix(DOMAIN_EVENT_SOURCE_PREFIX) },
      retention: props.archiveRetention,
    });
  }
}
