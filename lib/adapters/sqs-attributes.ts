import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { MessageAttribute } from '../core/dead-letter.ts';

/**
 * Message attributes in the SDK's shape (binary as bytes) from Lambda's (binary as base64).
 *
 * @example
 * toSqsMessageAttributes({ correlationId: { dataType: 'String', stringValue: 'c-1' } }); // { correlationId: { DataType: 'String', StringValue: 'c-1' } }
 */
export const toSqsMessageAttributes = (attributes: Readonly<Record<string, MessageAttribute>>): Record<string, MessageAttributeValue> =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      {
        DataType: value.dataType,
        ...(value.stringValue === undefined ? {} : { StringValue: value.stringValue }),
        ...(value.binaryValue === undefined ? {} : { BinaryValue: Buffer.from(value.binaryValue, 'base64') }),
      },
    ]),
  );

/**
 * Message attributes in Lambda's shape from the SDK's (a received message's `MessageAttributes`).
 *
 * @example
 * fromSqsMessageAttributes(message.MessageAttributes); // { correlationId: { dataType: 'String', stringValue: 'c-1' } }
 */
export const fromSqsMessageAttributes = (attributes: Readonly<Record<string, MessageAttributeValue>> | undefined): Record<string, MessageAttribute> =>
  Object.fromEntries(
    Object.entries(attributes ?? {}).map(([name, value]) => [
      name,
      {
        dataType: value.DataType ?? 'String',
        ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
        ...(value.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      },
    ]),
  );
