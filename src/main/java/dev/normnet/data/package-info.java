/**
 * Data sets (Fashion-MNIST and MNIST as IDX or Kaggle CSV files, image folders), single picture files,
 * the discovery and download of data sets, and batching.
 */
package dev.normnet.data;
