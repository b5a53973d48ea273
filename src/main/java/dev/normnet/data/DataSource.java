package dev.normnet.data;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A data set found on disk: the directory and the layout of its files.
 *
 * @param dataset the data set it holds (for IDX and CSV: the file names, image size and class names)
 * @param dir     the directory
 * @param layout  how the files are laid out
 */
public record DataSource(IdxDataset dataset, Path dir, Layout layout) {
    /** The side image-folder pictures are resized to by default: that of Fashion-MNIST and MNIST. */
    public static final int DEFAULT_SIDE = 28;

    /** The layouts a data set directory can have. */
    public enum Layout {
        /** The four IDX files, raw or .gz (torchvision's and the official layout). */
        IDX("IDX files"),
        /** Kaggle's two CSV files, {@code <id>_train.csv} and {@code <id>_test.csv}. */
        CSV("CSV files"),
        /** torchvision's ImageFolder layout: {@code train/CLASS/*.png} and {@code test/CLASS/*.png}. */
        IMAGE_FOLDER("image folder");

        private final String text;

        Layout(String text) {
            this.text = text;
        }

        /** The layout in words: "IDX files", "CSV files" or "image folder". */
        @Override
        public String toString() {
            return text;
        }
    }

    public DataSource {
        Objects.requireNonNull(dataset, "dataset");
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(layout, "layout");
    }

    /**
     * Reads the train and test splits. IDX and CSV images keep their size, which must be the data
     * set's ({@link IdxDataset#imageSide()}), and take the data set's class names; image-folder pictures
     * are resized to {@code imageSide x imageSide} and take the folder names as class names.
     */
    public DatasetSplits load(int imageSide) {
        return switch (layout) {
            case IDX -> dataset.load(dir);
            case CSV -> new DatasetSplits(csv(dataset.csvNames().get(0)), csv(dataset.csvNames().get(1)),
                    dataset.classNames());
            case IMAGE_FOLDER -> ImageFolder.load(dir, imageSide);
        };
    }

    /** Reads one CSV file of the data set, refusing images of another size than the data set's. */
    private LabeledImages csv(String name) {
        Path file = IdxDataset.locate(dir, name);
        if (file == null) {
            throw new DataException(dir + ": missing " + name + "[.gz]");
        }
        LabeledImages images = CsvImages.read(file, dataset.classNames().size());
        if (images.height() != dataset.imageSide() || images.width() != dataset.imageSide()) {
            throw new DataException(file + ": images of " + images.height() + " x " + images.width() + " pixels, but "
                    + dataset.id() + " images are " + dataset.imageSide() + " x " + dataset.imageSide());
        }
        return images;
    }
}
