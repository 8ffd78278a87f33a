import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A TCP socket this process listens on, as the kernel reports it. */
export interface ListeningSocket {
  /** Dotted IPv4 (`127.0.0.1`, `0.0.0.0`) or the full IPv6 form (`0000:…:0000` for `::`). */
  readonly address: string;
  readonly port: number;
}

/** TCP state LISTEN in /proc/net/tcp{,6}. */
const LISTEN = '0A';

/** The inodes of the sockets this process holds open. */
const ownSocketInodes = (): Set<string> =>
  new Set(
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        return match === null ? [] : [match[1]!];
      } catch {
        return []; // the fd closed while listing
      }
    }),
  );

/** /proc/net/tcp writes each 32-bit word of an address in host (little-endian) byte order. */
const wordBytes = (hex: string): string[] => (hex.match(/../g) ?? []).reverse();

const decodeAddress = (hex: string): string => {
  if (hex.length === 8) return wordBytes(hex).map((byte) => Number.parseInt(byte, 16)).join('.');
  const bytes = (hex.match(/.{8}/g) ?? []).flatMap(wordBytes);
  return (bytes.join('').match(/.{4}/g) ?? []).join(':');
};

/**
 * Every TCP socket this process is listening on, read from the kernel (Linux /proc), whatever
 * library opened it: the check cannot miss a server that does not report its own address.
 *
 * @example
 * listeningSockets(); // [{ address: '127.0.0.1', port: 43121 }, …]
 */
export const listeningSockets = (): ListeningSocket[] => {
  const inodes = ownSocketInodes();
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
    readFileSync(table, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields.length > 9 && fields[3] === LISTEN && inodes.has(fields[9]!))
      .map((fields) => {
        const [address = '', port = '0'] = fields[1]!.split(':');
        return { address: decodeAddress(address), port: Number.parseInt(port, 16) };
      }),
  );
};
