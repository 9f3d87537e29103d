/** An independent copy of a layers model: its own layers and variables, the same weight values. */
import {LayersModel, models} from '@tensorflow/tfjs-layers';
import {describeValue} from '../util/validate';

/**
 * A deep copy of `model` (topology from its JSON, weights copied), so a function can change the
 * copy's weights and leave the caller's model untouched. Classes must be registered for
 * serialization (this library's are). Dispose the copy when done.
 * @throws Error if `model` is not a LayersModel.
 */
export async function copyModel(model: LayersModel): Promise<LayersModel> {
  if (!(model instanceof LayersModel)) throw new Error(`copyModel expects a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  const config = {modelTopology: model.toJSON(null, false)} as unknown as Parameters<typeof models.modelFromJSON>[0];
  const copy = await models.modelFromJSON(config);
  // setWeights assigns each variable the same (reference-counted) data: no bytes are copied, and
  // later writes to either model replace its own variables' data.
  copy.setWeights(model.getWeights());
  return copy;
}
