/**
 * Parts cannot hold it: resource types and destination names are restricted, ids refuse control
 * characters (see the change-event schema), versions are numbers.
 */
const SEPARATOR = '\u0000';

/**
 * The in-memory map key of a record's identity, from the parts that identify it in order: an
 * optional destination, the resource type, the id and an optional version. Unambiguous, as no part
 * can hold the separator. (The ledger's DynamoDB key is a persisted format of its own: `ledgerKey`.)
 *
 * @example
 * recordKey('contact', 'c-1'); // one record
 * recordKey('contact', 'c-1', 3); // one version of it
 * recordKey('crm', 'contact', 'c-1'); // one record at one destination
 */
export const recordKey = (...parts: readonly [string | number, ...Array<string | number>]): string => parts.join(SEPARATOR);

/**
 * The parts of a {@link recordKey}, as strings.
 *
 * @example
 * splitRecordKey(recordKey('contact', 'c-1')); // ['contact', 'c-1']
 */
export const splitRecordKey = (key: string): string[] => key.split(SEPARATOR);
