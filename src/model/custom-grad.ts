/**
 * tf.customGrad for a layer op f(x, kernel, bias?) whose bias is optional: customGrad
 * needs a fixed arity, so the same body is wrapped twice (with and without bias).
 */
import * as tf from '@tensorflow/tfjs';

/** The function type tf.customGrad accepts (not exported by @tensorflow/tfjs). */
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

export type GradBody = (
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

export function customGradOptionalBias(layer: string, useBias: boolean, body: GradBody): (x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor) => tf.Tensor {
  const withBias = tf.customGrad(((x: tf.Tensor, k: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => body(x, k, b, save)) as unknown as CustomGradientFunc);
  const noBias = tf.customGrad(((x: tf.Tensor, k: tf.Tensor, save: tf.GradSaveFunc) => body(x, k, undefined, save)) as unknown as CustomGradientFunc);
  return (x, kernel, bias) => {
    if (useBias !== (bias !== undefined)) throw new Error(`${layer}: bias given for a layer without bias or missing`);
    return bias ? withBias(x, kernel, bias) : noBias(x, kernel);
  };
}
