package dev.normnet.predict;

/**
 * One class of a prediction: its output index, its name, and its softmax probability.
 *
 * @param index       the class (the model's output index)
 * @param name        the class name the model file gives, or the index as text when it gives none
 * @param probability softmax of the logits at {@code index}, computed in float64 from the float32 logits
 */
public record Prediction(int index, String name, double probability) {
}
