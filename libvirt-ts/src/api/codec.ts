// XDR codecs for the types remote_protocol.x builds its messages from. A struct codec is a list of field
// codecs, so each procedure's arguments and return value are declared once, as data, and the same
// declaration both encodes and decodes.
import { XdrDecodeError } from '../xdr/index.js';
import type { XdrReader, XdrWriter } from '../xdr/index.js';
import { uuidFromBytes, uuidToBytes, UUID_BYTES } from './uuid.js';

/** Encodes and decodes one XDR type. Methods (not function properties) so codecs of subtypes compose. */
export interface Codec<T> {
  write(writer: XdrWriter, value: T): void;
  read(reader: XdrReader): T;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

/** `REMOTE_STRING_MAX`: the longest string the daemon sends or accepts. */
export const REMOTE_STRING_MAX = 4194304;

export const int: Codec<number> = {
  write: (writer, value) => void writer.writeInt(value),
  read: (reader) => reader.readInt(),
};

/** `unsigned int`, and also `unsigned char` / `unsigned short`, which rpcgen widens to four bytes. */
export const uint: Codec<number> = {
  write: (writer, value) => void writer.writeUint(value),
  read: (reader) => reader.readUint(),
};

export const hyper: Codec<bigint> = {
  write: (writer, value) => void writer.writeHyper(value),
  read: (reader) => reader.readHyper(),
};

export const uhyper: Codec<bigint> = {
  write: (writer, value) => void writer.writeUhyper(value),
  read: (reader) => reader.readUhyper(),
};

export const double: Codec<number> = {
  write: (writer, value) => void writer.writeDouble(value),
  read: (reader) => reader.readDouble(),
};

/** An `int` libvirt uses as a boolean (autostart, is-active, ...): any non-zero value is true. */
export const intBoolean: Codec<boolean> = {
  write: (writer, value) => void writer.writeInt(value ? 1 : 0),
  read: (reader) => reader.readInt() !== 0,
};

/** `remote_nonnull_string`. */
export const string: Codec<string> = {
  write: (writer, value) => void writer.writeString(value, REMOTE_STRING_MAX),
  read: (reader) => reader.readString(REMOTE_STRING_MAX),
};

/** `remote_uuid`: 16 raw bytes on the wire, the canonical lower-case text form here. */
export const uuid: Codec<string> = {
  write: (writer, value) => void writer.writeFixedOpaque(uuidToBytes(value), UUID_BYTES),
  read: (reader) => uuidFromBytes(reader.readFixedOpaqueView(UUID_BYTES)),
};

/** Encodes nothing: the argument or return value of procedures that have none. */
export const none: Codec<undefined> = {
  write: () => undefined,
  read: () => undefined,
};

/** XDR optional data (`type *name`), such as `remote_string` or `remote_domain`. */
export function optional<T>(codec: Codec<T>): Codec<T | null> {
  return {
    write: (writer, value) => void writer.writeOptional(value, (w, item) => codec.write(w, item)),
    read: (reader) => reader.readOptional((r) => codec.read(r)),
  };
}

/** `remote_string`: a string that may be NULL. */
export const optionalString = optional(string);

/** A variable-length array `type name<max>`. */
export function array<T>(codec: Codec<T>, maxLength: number): Codec<T[]> {
  return {
    write: (writer, items) => void writer.writeArray(items, (w, item) => codec.write(w, item), maxLength),
    read: (reader) => reader.readArray((r) => codec.read(r), maxLength),
  };
}

/** Variable-length opaque data `opaque name<max>`. */
export function opaque(maxLength: number): Codec<Uint8Array> {
  return {
    write: (writer, bytes) => void writer.writeOpaque(bytes, maxLength),
    read: (reader) => reader.readOpaque(maxLength),
  };
}

/** A fixed `char name[length]` holding a NUL-terminated string; rpcgen sends each char as a four-byte int. */
export function charArray(length: number): Codec<string> {
  return {
    write: (writer, value) => {
      const bytes = Buffer.from(value, 'utf8');
      if (bytes.length >= length) throw new RangeError(`'${value}' does not fit in char[${length}]`);
      for (let index = 0; index < length; index++) writer.writeInt(index < bytes.length ? bytes[index]! : 0);
    },
    read: (reader) => {
      const bytes = Buffer.alloc(length);
      for (let index = 0; index < length; index++) {
        const char = reader.readInt();
        if (char < -128 || char > 255)
          throw new XdrDecodeError(`char[${length}] holds ${char}, which is no byte`);
        bytes[index] = char & 0xff;
      }
      const end = bytes.indexOf(0);
      return bytes.toString('utf8', 0, end < 0 ? length : end);
    },
  };
}

/** An XDR struct: the fields in declaration order, which is the order of `fields`' keys. */
export function struct<F extends Record<string, Codec<unknown>>>(
  fields: F,
): Codec<{ [K in keyof F]: CodecValue<F[K]> }> {
  const entries = Object.entries(fields);
  return {
    write: (writer, value) => {
      for (const [name, codec] of entries) codec.write(writer, value[name]);
    },
    read: (reader) => {
      const value: Record<string, unknown> = {};
      for (const [name, codec] of entries) value[name] = codec.read(reader);
      return value as { [K in keyof F]: CodecValue<F[K]> };
    },
  };
}

/** A remote procedure: its number and the codecs of its argument and return structs. */
export interface RemoteProcedure<A, R> {
  readonly procedure: number;
  readonly args: Codec<A>;
  readonly ret: Codec<R>;
}

export function remoteProcedure<A, R>(
  procedure: number,
  args: Codec<A>,
  ret: Codec<R>,
): RemoteProcedure<A, R> {
  return { procedure, args, ret };
}
