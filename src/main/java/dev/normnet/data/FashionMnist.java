package dev.normnet.data;

import java.nio.file.Path;
import java.util.List;

/**
 * Fashion-MNIST (Zalando Research): 60,000 training and 10,000 test images of clothing, 28 x 28
 * grey levels, 10 classes. Reads torchvision's file names (train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz), which
 * are also the names of the official download and of Debian's dataset-fashion-mnist package.
 */
public final class FashionMnist {
    /** The class of each label value 0..9, as the data set's authors name them. */
    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /**
     * The data set's description. Digests of the four official .gz files:
     * <ul>
     * <li>md5: as torchvision's {@code FashionMNIST.resources} (and the data set's README) publish them.</li>
     * <li>sha256: of the official .gz files, rebuilt from Debian's dataset-fashion-mnist
     * 0.0~git20200523.55506a9-1. Debian's files hold the official deflate streams under a normalised
     * gzip header (no file name, the package's date as mtime). Putting back the original header
     * (flags FNAME, mtime 1504176606 for the train files and 1504176627 for the t10k files, XFL 0,
     * OS 3, the file name) gives files whose MD5 equals torchvision's published value and whose
     * sizes are the official ones (26421880, 29515, 4422102, 5148 bytes); these are their SHA-256.</li>
     * <li>contentSha256: of the decompressed IDX bytes
     * ({@code zcat /usr/share/datasets/fashion-mnist/FILE.gz | sha256sum}), the same for both.</li>
     * </ul>
     */
    public static final IdxDataset DATASET = new IdxDataset(
            "fashion-mnist", "FashionMNIST", CLASS_NAMES, 28,
            Path.of("/usr/share/datasets/fashion-mnist"),
            "apt-get install dataset-fashion-mnist",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            List.of(
                    new IdxDataset.RemoteFile("train-images-idx3-ubyte.gz",
                            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                    new IdxDataset.RemoteFile("train-labels-idx1-ubyte.gz",
                            "25c81989df183df01b3e8a0aad5dffbe",
                            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                    new IdxDataset.RemoteFile("t10k-images-idx3-ubyte.gz",
                            "bef4ecab320f06d8554ea6380940ec79",
                            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                    new IdxDataset.RemoteFile("t10k-labels-idx1-ubyte.gz",
                            "bb300cfdad3c16e7a12a480ee83cd310",
                            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")));

    private FashionMnist() {
    }

    /** Reads the four files from {@code dir}; a missing or malformed file is a {@link DataException}. */
    public static DatasetSplits load(Path dir) {
        return DATASET.load(dir);
    }

    /** The name of a class, e.g. {@code className(0)} is "T-shirt/top". */
    public static String className(int label) {
        return CLASS_NAMES.get(label);
    }
}
