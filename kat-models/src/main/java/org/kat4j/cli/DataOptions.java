package org.kat4j.cli;

import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.models.VitConfig;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Where the Fashion-MNIST data comes from (shared by train, eval, compare, inspect). */
final class DataOptions {
    @Option(names = "--data", description = "Directory with Fashion-MNIST IDX files (train-/t10k-, raw or .gz).")
    Path data;

    @Option(names = "--builtin", description = "Use the built-in subset even if the full set is installed.")
    boolean builtin;

    FashionMnist.Splits load() throws IOException {
        return FashionMnist.load(data, builtin);
    }

    /** Whether --data or --builtin was given. */
    boolean given() {
        return data != null || builtin;
    }

    /** Refuses a model whose input size is not the images'. */
    static void checkFits(String name, VitConfig cfg, ImageDataset images) {
        checkFits(name, cfg, images, "try kat_micro_patch7_28");
    }

    /** As above, with {@code hint} in brackets after the sizes. */
    static void checkFits(String name, VitConfig cfg, ImageDataset images, String hint) {
        if (images.channels() != cfg.inChans() || images.height() != cfg.imgSize() || images.width() != cfg.imgSize()) {
            throw new IllegalArgumentException("model " + name + " takes " + cfg.inChans() + "x" + cfg.imgSize() + "x"
                    + cfg.imgSize() + " images, the data has " + images.channels() + "x" + images.height() + "x"
                    + images.width() + " (" + hint + ")");
        }
    }
}
