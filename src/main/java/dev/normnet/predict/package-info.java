/**
 * Using a trained model: class predictions with probabilities for images ({@link dev.normnet.predict.Predictor})
 * and loss, accuracy and confusion matrix on a labelled set ({@link dev.normnet.predict.Evaluation}).
 */
package dev.normnet.predict;
