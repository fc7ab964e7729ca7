package org.kat4j.data;

import javax.imageio.ImageIO;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Image files as the data sets and the predictor read them: decoded with ImageIO after a look at
 * their size, and resized and cropped to a model's input.
 */
public final class Images {
    private Images() {
    }

    /**
     * The image resized (bicubic) so that its shorter side is {@code scale} pixels, then its
     * centre {@code size} x {@code size} pixels, as RGB; an image whose resized form would have more
     * than {@link #maxPixels()} pixels is refused.
     */
    public static BufferedImage resizeAndCrop(BufferedImage img, int scale, int size) {
        int w = img.getWidth();
        int h = img.getHeight();
        double longSide = (double) Math.max(w, h) * scale / Math.min(w, h);
        if (longSide * scale > maxPixels()) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "image of %d x %d pixels: resizing its"
                    + " shorter side to %d would make %,.0f pixels, more than the limit of %,d (-Dkat4j.image.maxPixels=N)",
                    w, h, scale, longSide * scale, maxPixels()));
        }
        int nw = w <= h ? scale : (int) Math.round((double) w * scale / h);
        int nh = w <= h ? (int) Math.round((double) h * scale / w) : scale;
        BufferedImage resized = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = resized.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, nw, nh, null);
        g.dispose();
        return resized.getSubimage((nw - size) / 2, (nh - size) / 2, size, size);
    }

    /**
     * The most pixels an image may have before it is decoded: Pillow's decompression-bomb limit
     * (89,478,485); {@code -Dkat4j.image.maxPixels=N} changes it.
     */
    public static long maxPixels() {
        return Long.getLong("kat4j.image.maxPixels", 89_478_485L);
    }

    /**
     * Reads an image file (PNG, JPEG, ... whatever ImageIO reads), or fails with the file's name.
     * The dimensions are read from the header first: an image of more than {@link #maxPixels()}
     * pixels is refused before any pixel memory is taken.
     */
    public static BufferedImage read(Path file) throws IOException {
        try (javax.imageio.stream.ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException(file + ": cannot be opened");
            }
            java.util.Iterator<javax.imageio.ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException(file + ": not an image format ImageIO can read");
            }
            javax.imageio.ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                long w = reader.getWidth(0);
                long h = reader.getHeight(0);
                if (w < 1 || h < 1) {
                    throw new IOException(file + ": image of " + w + " x " + h + " pixels");
                }
                if (w * h > maxPixels()) {
                    throw new IOException(String.format(java.util.Locale.ROOT, "%s: %d x %d = %,d pixels, more than the limit of"
                            + " %,d (raise it with -Dkat4j.image.maxPixels=N)", file, w, h, w * h, maxPixels()));
                }
                BufferedImage img = reader.read(0);
                if (img == null) {
                    throw new IOException(file + ": no image in the file");
                }
                return img;
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(file.toString())) {
                throw e;
            }
            throw new IOException(file + ": unreadable image (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            throw new IOException(file + ": unreadable image (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
    }
}
