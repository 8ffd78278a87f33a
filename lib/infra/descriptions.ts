/**
 * The longest description each resource type takes (characters; names and resource types in the
 * config are ASCII, so characters are bytes). A description built from the config is cut to fit:
 * synth must not fail, nor a deploy be refused, because names are long or many.
 */
export const DescriptionLimit = {
  /** AWS::CloudFormation::Stack and a template's Description. */
  STACK: 1024,
  /** A template output's Description. */
  OUTPUT: 1024,
  /** AWS::IAM::Role Description. */
  ROLE: 1000,
  /** AWS::Lambda::Function Description. */
  FUNCTION: 256,
  /** AWS::Events::Rule Description. */
  RULE: 512,
  /** AWS::CloudWatch::Alarm AlarmDescription. */
  ALARM: 1024,
  /** AWS::Events::Archive Description. */
  ARCHIVE: 512,
} as const;

const ELLIPSIS = '...';

/**
 * `text` if it fits in `limit` characters, else its start and `...` (ASCII: IAM refuses most
 * characters beyond Latin-1).
 *
 * @example
 * boundedDescription('Delivers contact changes to crm', DescriptionLimit.FUNCTION); // unchanged
 * boundedDescription('x'.repeat(300), 256).length; // 256
 */
export const boundedDescription = (text: string, limit: number): string =>
  text.length <= limit ? text : `${text.slice(0, limit - ELLIPSIS.length)}${ELLIPSIS}`;
