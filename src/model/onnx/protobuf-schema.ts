import protobuf from "protobufjs";

/**
 * The ONNX file format, as far as the graphs faceops builds in code need it (VGG16's and the face
 * embedding's): the protobuf schema, the format and operator set versions, and the element type
 * numbers the graphs' tensors use.
 */

/*
 * The part of onnx/onnx.proto faceops's graphs write, with the field numbers of the real schema (read
 * from onnx/onnx.proto; IR version 7 is the one that introduced opset 13). Unused fields are left
 * out: protobuf readers skip nothing they need, since absent optional fields take their defaults.
 */
const onnxSchema = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated int64 ints = 8;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; INT64 = 7; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

export const irVersion = 7;
export const opsetVersion = 13;
export const floatType = 1;
export const uint8Type = 2;
export const int8Type = 3;
export const int32Type = 6;
export const int64Type = 7;
export const attributeType = { int: 2, ints: 7 } as const;

/** keepCase keeps the schema's snake_case field names, so plain objects can use them. */
let modelProtoType: protobuf.Type | null = null;
export function modelProto(): protobuf.Type {
  modelProtoType ??= protobuf.parse(onnxSchema, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return modelProtoType;
}
