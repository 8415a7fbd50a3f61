// A small ONNX (protobuf) writer for the Wan family's tests: hand-built graphs with known outputs, so the
// family's glue (chains, streaming memories, frame order) is tested on onnxruntime-web without the
// converter. Only what those graphs need: float/int64 initializers, int/ints/float attributes, opset 17.

type Field = Uint8Array;

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};

const key = (field: number, wire: number) => varint((field << 3) | wire);
const intField = (field: number, value: number | bigint): Field => Uint8Array.from([...key(field, 0), ...varint(value)]);
const bytesField = (field: number, bytes: Uint8Array): Field => concat([Uint8Array.from([...key(field, 2), ...varint(bytes.length)]), bytes]);
const stringField = (field: number, text: string): Field => bytesField(field, new TextEncoder().encode(text));
const message = (field: number, parts: readonly Field[]): Field => bytesField(field, concat(parts));
const floatField = (field: number, value: number): Field => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return concat([Uint8Array.from(key(field, 5)), bytes]);
};

export type Dim = number | string;
export interface ValueInfo { name: string; type: 'float32' | 'int64'; dims: readonly Dim[] }
export interface Initializer { name: string; type: 'float32' | 'int64'; dims: readonly number[]; values: readonly number[] }
export interface Node { op: string; inputs: readonly string[]; outputs: readonly string[]; attributes?: Record<string, number | readonly number[] | { float: number }> }

const ELEM = { float32: 1, int64: 7 } as const;

function valueInfo(field: number, v: ValueInfo): Field {
  const dims = v.dims.map((d) => message(1, [typeof d === 'number' ? intField(1, d) : stringField(2, d)]));
  const tensorType = message(1, [intField(1, ELEM[v.type]), message(2, dims)]);
  return message(field, [stringField(1, v.name), message(2, [tensorType])]);
}

function initializer(t: Initializer): Field {
  const raw = t.type === 'float32' ? new Uint8Array(Float32Array.from(t.values).buffer) : new Uint8Array(BigInt64Array.from(t.values.map(BigInt)).buffer);
  return message(5, [...t.dims.map((d) => intField(1, d)), intField(2, ELEM[t.type]), stringField(8, t.name), bytesField(9, raw)]);
}

function attribute(name: string, value: number | readonly number[] | { float: number }): Field {
  if (Array.isArray(value)) return message(5, [stringField(1, name), ...value.map((v) => intField(8, v)), intField(20, 7)]);
  if (typeof value === 'object') return message(5, [stringField(1, name), floatField(2, (value as { float: number }).float), intField(20, 1)]);
  return message(5, [stringField(1, name), intField(3, value as number), intField(20, 2)]);
}

/** An opset-17 ModelProto. */
export function onnxModel(graph: { name: string; inputs: readonly ValueInfo[]; outputs: readonly ValueInfo[]; initializers?: readonly Initializer[]; nodes: readonly Node[] }): Uint8Array {
  const nodes = graph.nodes.map((n, i) => message(1, [
    ...n.inputs.map((x) => stringField(1, x)),
    ...n.outputs.map((x) => stringField(2, x)),
    stringField(3, `${n.op}_${i}`),
    stringField(4, n.op),
    ...Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
  ]));
  const body = [
    ...nodes,
    stringField(2, graph.name),
    ...(graph.initializers ?? []).map(initializer),
    ...graph.inputs.map((v) => valueInfo(11, v)),
    ...graph.outputs.map((v) => valueInfo(12, v)),
  ];
  return concat([intField(1, 8), stringField(2, 'kinema-test'), message(7, body), message(8, [stringField(1, ''), intField(2, 17)])]);
}
