package org.kat4j.data;

/**
 * A data set's training and test split, and where they were read from (for the lines that say
 * what a run trained on).
 */
public record Splits(ImageDataset train, ImageDataset test, String source) {
}
