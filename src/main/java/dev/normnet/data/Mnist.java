package dev.normnet.data;

import java.nio.file.Path;
import java.util.List;

/**
 * MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28 grey levels, classes
 * "0".."9". Reads torchvision's file names (train-images-idx3-ubyte, ..., each raw or .gz).
 */
public final class Mnist {
    /** The class of each label value: the digit itself. */
    public static final List<String> CLASS_NAMES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    /**
     * The data set's description. No system package ships MNIST, so there is no system directory.
     * The download location is the mirror torchvision uses. The digests are the MD5 values of the
     * .gz files that torchvision's {@code MNIST.resources} publishes; no copy of the files was at
     * hand to compute SHA-256 values from, so none is pinned.
     */
    public static final IdxDataset DATASET = new IdxDataset(
            "mnist", "MNIST", CLASS_NAMES, 28, null, null,
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            List.of(
                    new IdxDataset.RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", null, null),
                    new IdxDataset.RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", null, null),
                    new IdxDataset.RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", null, null),
                    new IdxDataset.RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", null, null)));

    private Mnist() {
    }

    /** Reads the four files from {@code dir}; a missing or malformed file is a {@link DataException}. */
    public static DatasetSplits load(Path dir) {
        return DATASET.load(dir);
    }
}
