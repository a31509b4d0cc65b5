import { writeFileSync } from "node:fs";

/**
 * Writes a tiny, valid ONNX model: `output = input * scale`, with `scale` a
 * float initializer (so "changing the weights" changes the file), for real
 * onnxruntime sessions in tests and the demo. Hand-encoded protobuf: the ONNX
 * schema needs only a handful of fields for this.
 */
export interface OnnxModelOptions {
  inputName?: string;
  outputName?: string;
  /** Numbers are fixed dims; strings are symbolic (dynamic) dims. */
  shape?: Array<number | string>;
  scale?: number;
  /** Extra bytes of weights, to make a model of a realistic size. */
  paddingFloats?: number;
}

export function onnxModelBytes(options: OnnxModelOptions = {}): Buffer {
  const inputName = options.inputName ?? "input";
  const outputName = options.outputName ?? "output";
  const shape = options.shape ?? [1, 3, 8, 8];
  const scale = Buffer.alloc(4);
  scale.writeFloatLE(options.scale ?? 2);
  const tensorType = (dims: Array<number | string>) =>
    message(1, [
      varintField(1, 1), // elem_type FLOAT
      message(
        2,
        dims.map((d) => message(1, [typeof d === "number" ? varintField(1, d) : stringField(2, d)])),
      ),
    ]);
  const valueInfo = (field: number, name: string, dims: Array<number | string>) =>
    message(field, [stringField(1, name), message(2, [tensorType(dims)])]);
  const initializers = [
    message(5, [varintField(2, 1), stringField(8, "scale"), bytesField(9, scale)]), // scalar: no dims
  ];
  const nodes = [
    message(1, [
      stringField(1, inputName),
      stringField(1, "scale"),
      stringField(2, outputName),
      stringField(3, "mul"),
      stringField(4, "Mul"),
    ]),
  ];
  if (options.paddingFloats) {
    // An unused initializer: real weight bytes that do not change the graph's result.
    initializers.push(
      message(5, [
        varintField(1, options.paddingFloats),
        varintField(2, 1),
        stringField(8, "padding"),
        bytesField(9, Buffer.alloc(options.paddingFloats * 4, 1)),
      ]),
    );
  }
  const graph = message(7, [
    ...nodes,
    stringField(2, "operator_tool_test"),
    ...initializers,
    valueInfo(11, inputName, shape),
    valueInfo(12, outputName, shape),
  ]);
  return Buffer.concat([
    varintField(1, 8), // ir_version
    stringField(2, "operator-tool-test-helpers"),
    graph,
    message(8, [stringField(1, ""), varintField(2, 13)]), // opset 13
  ]);
}

export function writeOnnxModel(path: string, options: OnnxModelOptions = {}): string {
  writeFileSync(path, onnxModelBytes(options));
  return path;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Buffer.from(bytes);
}

function key(field: number, wireType: number): Buffer {
  return varint((field << 3) | wireType);
}

function varintField(field: number, value: number): Buffer {
  return Buffer.concat([key(field, 0), varint(value)]);
}

function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([key(field, 2), varint(value.length), value]);
}

function stringField(field: number, value: string): Buffer {
  return bytesField(field, Buffer.from(value, "utf8"));
}

function message(field: number, parts: Buffer[]): Buffer {
  return bytesField(field, Buffer.concat(parts));
}
