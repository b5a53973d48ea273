/** Data sets in IDX format (Fashion-MNIST, MNIST), their discovery and download, and batching. */
package dev.normnet.data;
