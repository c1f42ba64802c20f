// virTypedParameter on the wire: `remote_typed_param`, a field name and a union discriminated by
// virTypedParameterType. 64-bit values are bigints so nothing is rounded.
import { XdrDecodeError } from '../xdr/index.js';
import type { XdrReader, XdrWriter } from '../xdr/index.js';
import { TypedParameterType } from '../generated/enums.js';
import type { Codec } from './codec.js';
import { REMOTE_STRING_MAX } from './codec.js';

export type TypedParameter =
  | { readonly field: string; readonly type: 'int'; readonly value: number }
  | { readonly field: string; readonly type: 'uint'; readonly value: number }
  | { readonly field: string; readonly type: 'llong'; readonly value: bigint }
  | { readonly field: string; readonly type: 'ullong'; readonly value: bigint }
  | { readonly field: string; readonly type: 'double'; readonly value: number }
  | { readonly field: string; readonly type: 'boolean'; readonly value: boolean }
  | { readonly field: string; readonly type: 'string'; readonly value: string };

export type TypedParameterValue = TypedParameter['value'];

/** `VIR_TYPED_PARAM_FIELD_LENGTH`: field names are at most 79 bytes plus a NUL in libvirt's structs. */
export const TYPED_PARAM_FIELD_LENGTH = 80;

function writeTypedParameter(writer: XdrWriter, param: TypedParameter): void {
  if (typeof param.field !== 'string' || param.field.length === 0) {
    throw new RangeError('a typed parameter needs a non-empty field name');
  }
  if (Buffer.byteLength(param.field) >= TYPED_PARAM_FIELD_LENGTH) {
    throw new RangeError(
      `typed parameter field '${param.field}' is longer than ${TYPED_PARAM_FIELD_LENGTH - 1} bytes`,
    );
  }
  writer.writeString(param.field, REMOTE_STRING_MAX);
  switch (param.type) {
    case 'int':
      writer.writeInt(TypedParameterType.INT).writeInt(param.value);
      return;
    case 'uint':
      writer.writeInt(TypedParameterType.UINT).writeUint(param.value);
      return;
    case 'llong':
      if (param.value < -(2n ** 63n) || param.value >= 2n ** 63n)
        throw new RangeError(`${param.field}: llong out of range`);
      writer.writeInt(TypedParameterType.LLONG).writeHyper(param.value);
      return;
    case 'ullong':
      if (param.value < 0n || param.value >= 2n ** 64n)
        throw new RangeError(`${param.field}: ullong out of range`);
      writer.writeInt(TypedParameterType.ULLONG).writeUhyper(param.value);
      return;
    case 'double':
      writer.writeInt(TypedParameterType.DOUBLE).writeDouble(param.value);
      return;
    case 'boolean':
      writer.writeInt(TypedParameterType.BOOLEAN).writeInt(param.value ? 1 : 0);
      return;
    case 'string':
      writer.writeInt(TypedParameterType.STRING).writeString(param.value, REMOTE_STRING_MAX);
      return;
    default:
      throw new RangeError(`typed parameter '${(param as { field: string }).field}' has an unknown type`);
  }
}

function readTypedParameter(reader: XdrReader): TypedParameter {
  const field = reader.readString(REMOTE_STRING_MAX);
  const type = reader.readInt();
  switch (type) {
    case TypedParameterType.INT:
      return { field, type: 'int', value: reader.readInt() };
    case TypedParameterType.UINT:
      return { field, type: 'uint', value: reader.readUint() };
    case TypedParameterType.LLONG:
      return { field, type: 'llong', value: reader.readHyper() };
    case TypedParameterType.ULLONG:
      return { field, type: 'ullong', value: reader.readUhyper() };
    case TypedParameterType.DOUBLE:
      return { field, type: 'double', value: reader.readDouble() };
    case TypedParameterType.BOOLEAN:
      return { field, type: 'boolean', value: reader.readInt() !== 0 };
    case TypedParameterType.STRING:
      return { field, type: 'string', value: reader.readString(REMOTE_STRING_MAX) };
    default:
      throw new XdrDecodeError(`typed parameter '${field}' has unknown type ${type}`);
  }
}

/** `remote_typed_param`. */
export const typedParameter: Codec<TypedParameter> = { write: writeTypedParameter, read: readTypedParameter };

/** The parameters as a plain object keyed by field name; a repeated field keeps its last value. */
export function typedParamsToObject(params: readonly TypedParameter[]): Record<string, TypedParameterValue> {
  const result: Record<string, TypedParameterValue> = {};
  for (const param of params) result[param.field] = param.value;
  return result;
}
