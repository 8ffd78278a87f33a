/**
 * Whether the change at `index` (of `total`) goes via EventBridge when `viaEventBridge` of them do:
 * spread evenly through the stream, the rest straight to the queues.
 *
 * @example
 * [0, 1, 2, 3].map((i) => goesViaEventBridge(i, 4, 2)); // [false, true, false, true]
 */
export const goesViaEventBridge = (index: number, total: number, viaEventBridge: number): boolean =>
  Math.floor(((index + 1) * viaEventBridge) / total) > Math.floor((index * viaEventBridge) / total);
