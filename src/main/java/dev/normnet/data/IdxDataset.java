package dev.normnet.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Description of an MNIST-like data set stored as four IDX files: its name, torchvision's folder
 * name, its class names, where a system package installs it, and where and how to download it.
 *
 * @param id          the name used on the command line: "fashion-mnist" or "mnist"
 * @param folderName  torchvision's folder under the data root: "FashionMNIST" or "MNIST"
 * @param classNames  the class of each label value
 * @param imageSide   every image of the data set is imageSide x imageSide pixels (28 for both)
 * @param systemDir   where a system package installs the files, or null when none does
 * @param installHint how to install the files with a package manager, or null
 * @param downloadBase the official location of the four files (ends with '/')
 * @param files       the four files, in the order train images, train labels, test images, test labels
 */
public record IdxDataset(String id, String folderName, List<String> classNames, int imageSide, Path systemDir,
                         String installHint, String downloadBase, List<RemoteFile> files) {

    /**
     * One downloadable file and the digests it must match; each non-null digest is checked, and at
     * least one must be given.
     *
     * @param name          the file name, as published (".gz")
     * @param md5           MD5 of the published .gz file (hex), or null
     * @param sha256        SHA-256 of the published .gz file (hex), or null
     * @param contentSha256 SHA-256 of the decompressed IDX bytes (hex), or null
     */
    public record RemoteFile(String name, String md5, String sha256, String contentSha256) {
        public RemoteFile {
            Objects.requireNonNull(name, "name");
            if (md5 == null && sha256 == null && contentSha256 == null) {
                throw new IllegalArgumentException(name + ": at least one digest is required");
            }
            md5 = md5 == null ? null : md5.toLowerCase(Locale.ROOT);
            sha256 = sha256 == null ? null : sha256.toLowerCase(Locale.ROOT);
            contentSha256 = contentSha256 == null ? null : contentSha256.toLowerCase(Locale.ROOT);
        }

        /** The name without ".gz": the uncompressed file name torchvision extracts. */
        public String baseName() {
            return name.endsWith(".gz") ? name.substring(0, name.length() - 3) : name;
        }
    }

    public IdxDataset {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(folderName, "folderName");
        classNames = List.copyOf(classNames);
        if (imageSide < 1) {
            throw new IllegalArgumentException(id + ": imageSide must be at least 1, got " + imageSide);
        }
        Objects.requireNonNull(downloadBase, "downloadBase");
        files = List.copyOf(files);
        if (files.size() != 4) {
            throw new IllegalArgumentException(id + ": expected 4 files, got " + files.size());
        }
    }

    /** The names torchvision gives the four extracted files, in the order of {@link #files()}. */
    public List<String> baseNames() {
        List<String> out = new ArrayList<>(4);
        for (RemoteFile f : files) {
            out.add(f.baseName());
        }
        return out;
    }

    /** The dataset with another download location (a mirror, or a local server in tests). */
    public IdxDataset withDownloadBase(String base) {
        return new IdxDataset(id, folderName, classNames, imageSide, systemDir, installHint, base, files);
    }

    /** The dataset with another system directory (null for none). */
    public IdxDataset withSystemDir(Path dir) {
        return new IdxDataset(id, folderName, classNames, imageSide, dir, installHint, downloadBase, files);
    }

    /**
     * Finds a data file in {@code dir} by its uncompressed name or that name plus ".gz"; the
     * uncompressed one wins when both exist (torchvision keeps both). Returns null when neither exists.
     */
    public static Path locate(Path dir, String baseName) {
        Path raw = dir.resolve(baseName);
        if (Files.isRegularFile(raw)) {
            return raw;
        }
        Path gz = dir.resolve(baseName + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        return null;
    }

    /**
     * The names of the data set's files in the CSV layout of Kaggle's copies, train then test:
     * {@code <id>_train.csv} and {@code <id>_test.csv} ("fashion-mnist_train.csv", "mnist_test.csv").
     */
    public List<String> csvNames() {
        return List.of(id + "_train.csv", id + "_test.csv");
    }

    /** The first file missing from {@code dir} (as "name[.gz]"), or null when all four are there. */
    public String firstMissing(Path dir) {
        for (String name : baseNames()) {
            if (locate(dir, name) == null) {
                return name + "[.gz]";
            }
        }
        return null;
    }

    /** Reads the train and test splits from the four files in {@code dir}. */
    public DatasetSplits load(Path dir) {
        Objects.requireNonNull(dir, "dir");
        if (!Files.isDirectory(dir)) {
            throw new DataException(dir + ": no such directory (expected the " + id + " IDX files there)");
        }
        String missing = firstMissing(dir);
        if (missing != null) {
            throw new DataException(dir + ": missing " + missing + " (an " + id + " directory holds "
                    + String.join(", ", baseNames()) + ", each raw or .gz)");
        }
        List<String> names = baseNames();
        int classes = classNames.size();
        Path trainImages = locate(dir, names.get(0));
        Path testImages = locate(dir, names.get(2));
        LabeledImages train = checked(trainImages, Idx.read(trainImages, locate(dir, names.get(1)), classes));
        LabeledImages test = checked(testImages, Idx.read(testImages, locate(dir, names.get(3)), classes));
        return new DatasetSplits(train, test, classNames);
    }

    /** Refuses a split with no image, or with images of another size than the data set's. */
    private LabeledImages checked(Path file, LabeledImages split) {
        if (split.count() == 0) {
            throw new DataException(file + ": no images (every split of " + id + " needs at least one)");
        }
        if (split.height() != imageSide || split.width() != imageSide) {
            throw new DataException(file + ": images of " + split.height() + " x " + split.width() + " pixels, but "
                    + id + " images are " + imageSide + " x " + imageSide);
        }
        return split;
    }
}
