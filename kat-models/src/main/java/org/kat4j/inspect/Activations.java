package org.kat4j.inspect;

import org.kat4j.autograd.Autograd;
import org.kat4j.io.AtomicFiles;
import org.kat4j.models.VisionTransformer;
import org.kat4j.nn.GrKan;
import org.kat4j.nn.GroupRational;
import org.kat4j.rational.Gain;
import org.kat4j.rational.Rational;
import org.kat4j.rational.RationalInit;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the GR-KAN layers of a model learned: for every block, rational (act1, act2) and group,
 * the function on [-4, 4], its gain E[F(x)^2] for x ~ N(0, 1), the closest named activation and
 * the distance to it, and how large the denominator grows on the range. Read from a state dict
 * (timm names: {@code blocks.i.mlp.act1.weight_numerator}, ...), so it needs no model instance.
 */
public final class Activations {
    /** The plotted range. */
    public static final double RANGE = 4;
    /** A denominator Q(x) above this somewhere on the range is flagged (F is then nearly flat there, and growing). */
    public static final double LARGE_DENOMINATOR = 100;
    private static final Pattern KEY = Pattern.compile("blocks\\.(\\d+)\\.mlp\\.(act[12])\\.weight_(numerator|denominator)");
    private static final int POINTS = 801;

    /**
     * One group of one rational.
     *
     * @param block     the block index
     * @param act       "act1" or "act2"
     * @param group     the group index
     * @param numerator a0..a5 (shared by the rational's groups)
     * @param denominator b0..b3 of this group
     * @param secondMoment E[F(x)^2] for x ~ N(0, 1) (the variance-preserving gain is 1 / this)
     * @param closest   the nearest of identity, relu, leaky_relu, gelu, silu, tanh, sigmoid
     * @param distance  root-mean-square |F - closest| on [-3, 3] (where the named tables are fitted)
     * @param maxDenominator the largest Q(x) on [-4, 4]
     */
    public record Group(int block, String act, int group, double[] numerator, double[] denominator, double secondMoment,
                        RationalInit closest, double distance, double maxDenominator) {
        /** Q grew past {@link #LARGE_DENOMINATOR} somewhere on the range. */
        public boolean largeDenominator() {
            return maxDenominator > LARGE_DENOMINATOR;
        }

        /** F at x. */
        public double at(double x) {
            return Rational.eval(x, numerator, denominator, 0);
        }
    }

    private final List<Group> groups;
    private final RationalInit act1Init;
    private final RationalInit act2Init;
    /** Per group (in the order of {@link #groups}): the smallest and largest input seen, or null. */
    private final double[][] seen;

    private Activations(List<Group> groups, RationalInit act1Init, RationalInit act2Init, double[][] seen) {
        this.groups = groups;
        this.act1Init = act1Init;
        this.act2Init = act2Init;
        this.seen = seen;
    }

    /**
     * These rationals with the range of inputs each group took while {@code model} (whose
     * rationals these are) ran on {@code images} [N, C, H, W], in batches of {@code batch}, in
     * evaluation mode and without gradients.
     */
    public Activations withInputRanges(VisionTransformer model, Tensor images, int batch) {
        double[][] range = new double[groups.size()][];
        for (int i = 0; i < range.length; i++) {
            range[i] = new double[]{Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
        }
        Map<String, Integer> first = new HashMap<>();
        for (int i = groups.size() - 1; i >= 0; i--) {
            first.put(groups.get(i).block() + "." + groups.get(i).act(), i);
        }
        List<GroupRational> observed = new ArrayList<>();
        for (int b = 0; b < model.blocks.length; b++) {
            if (!(model.blocks[b].mlp instanceof GrKan kan)) {
                throw new IllegalArgumentException("block " + b + " has no GR-KAN: nothing to observe");
            }
            for (String act : new String[]{"act1", "act2"}) {
                GroupRational r = act.equals("act1") ? kan.act1 : kan.act2;
                Integer at = first.get(b + "." + act);
                if (at == null) {
                    throw new IllegalArgumentException("block " + b + " " + act + " is not among these rationals: not the same model");
                }
                int d = r.channels();
                int cpg = d / r.groups();
                int base = at;
                r.observeInputs(x -> {
                    float[] v = x.toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        double[] mm = range[base + (i % d) / cpg];
                        mm[0] = Math.min(mm[0], v[i]);
                        mm[1] = Math.max(mm[1], v[i]);
                    }
                });
                observed.add(r);
            }
        }
        boolean wasTraining = model.isTraining();
        model.train(false);
        try (var ng = Autograd.noGrad()) {
            long n = images.size(0);
            for (long i = 0; i < n; i += batch) {
                try (Scope s = Scope.open()) {
                    model.forward(images.narrow(0, i, Math.min(batch, n - i)));
                }
            }
        } finally {
            observed.forEach(r -> r.observeInputs(null));
            model.train(wasTraining);
        }
        for (int i = 0; i < range.length; i++) {
            if (range[i][0] > range[i][1]) {
                range[i] = null; // no images: nothing seen
            }
        }
        return new Activations(groups, act1Init, act2Init, range);
    }

    /** The smallest and largest input group {@code i} of {@link #groups} took, or null when not measured. */
    public double[] inputRange(int i) {
        return seen == null ? null : seen[i];
    }

    /**
     * Analyses the rationals of a state dict; {@code act1Init} and {@code act2Init} are the
     * initial functions drawn beside the learned ones. Fails with a clear message when the state
     * holds no GR-KAN layer (a ViT).
     */
    public static Activations of(Map<String, Tensor> state, RationalInit act1Init, RationalInit act2Init, String what) {
        Map<String, double[]> num = new TreeMap<>();
        Map<String, double[][]> den = new TreeMap<>();
        for (var e : state.entrySet()) {
            Matcher m = KEY.matcher(e.getKey());
            if (!m.matches()) {
                continue;
            }
            String layer = String.format(Locale.ROOT, "%05d.%s", Integer.parseInt(m.group(1)), m.group(2));
            Tensor t = e.getValue();
            if (m.group(3).equals("numerator")) {
                if (t.numel() != 6) {
                    throw new IllegalArgumentException(what + ": " + e.getKey() + " has " + t.numel() + " values, expected 6");
                }
                num.put(layer, t.toDoubleArray());
            } else {
                if (t.rank() != 2 || t.size(1) != 4) {
                    throw new IllegalArgumentException(what + ": " + e.getKey() + " is " + java.util.Arrays.toString(t.shape())
                            + ", expected [groups, 4]");
                }
                double[] flat = t.toDoubleArray();
                double[][] rows = new double[(int) t.size(0)][];
                for (int g = 0; g < rows.length; g++) {
                    rows[g] = java.util.Arrays.copyOfRange(flat, 4 * g, 4 * g + 4);
                }
                den.put(layer, rows);
            }
        }
        if (num.isEmpty()) {
            throw new IllegalArgumentException(what + " has no GR-KAN layers (no blocks.N.mlp.act1/act2 rationals): a ViT has"
                    + " GELU MLPs, nothing learned to inspect");
        }
        List<Group> out = new ArrayList<>();
        for (var e : num.entrySet()) {
            double[][] d = den.get(e.getKey());
            if (d == null) {
                throw new IllegalArgumentException(what + ": " + e.getKey() + " has a numerator but no weight_denominator");
            }
            int block = Integer.parseInt(e.getKey().substring(0, 5));
            String act = e.getKey().substring(6);
            for (int g = 0; g < d.length; g++) {
                out.add(analyse(block, act, g, e.getValue(), d[g]));
            }
        }
        return new Activations(out, act1Init, act2Init, null);
    }

    static Group analyse(int block, String act, int group, double[] a, double[] b) {
        RationalInit best = null;
        double bestDist = Double.POSITIVE_INFINITY;
        for (RationalInit named : RationalInit.values()) {
            double sq = 0;
            for (int i = 0; i < POINTS; i++) {
                double x = -3 + 6.0 * i / (POINTS - 1);
                double diff = Rational.eval(x, a, b, 0) - named.target(x);
                sq += diff * diff;
            }
            double dist = Math.sqrt(sq / POINTS);
            if (dist < bestDist) {
                bestDist = dist;
                best = named;
            }
        }
        double maxQ = 0;
        for (int i = 0; i < POINTS; i++) {
            double x = -RANGE + 2 * RANGE * i / (POINTS - 1);
            maxQ = Math.max(maxQ, Rational.q(x, b, 0));
        }
        return new Group(block, act, group, a, b, Gain.secondMoment(a, b), best, bestDist, maxQ);
    }

    /** Every group of every GR-KAN rational, block by block, act1's groups before act2's. */
    public List<Group> groups() {
        return groups;
    }

    /** One row per block, rational and group: the table {@link #writeCsv} writes. */
    public String csv() {
        StringBuilder s = new StringBuilder("block,act,group,second_moment,gain,closest,distance,max_denominator,"
                + "large_denominator,input_min,input_max,a0,a1,a2,a3,a4,a5,b0,b1,b2,b3\n");
        for (int i = 0; i < groups.size(); i++) {
            Group g = groups.get(i);
            double[] r = inputRange(i);
            s.append(String.format(Locale.ROOT, "%d,%s,%d,%.6g,%.6g,%s,%.6g,%.6g,%b,%s,%s", g.block(), g.act(), g.group(),
                    g.secondMoment(), 1 / g.secondMoment(), g.closest().name().toLowerCase(Locale.ROOT), g.distance(),
                    g.maxDenominator(), g.largeDenominator(), r == null ? "" : String.format(Locale.ROOT, "%.6g", r[0]),
                    r == null ? "" : String.format(Locale.ROOT, "%.6g", r[1])));
            for (double v : g.numerator()) {
                s.append(',').append(v);
            }
            for (double v : g.denominator()) {
                s.append(',').append(v);
            }
            s.append('\n');
        }
        return s.toString();
    }

    /** Writes {@link #csv()} to {@code file}, replacing it atomically (a crash leaves the old file whole). */
    public void writeCsv(Path file) throws IOException {
        AtomicFiles.writeString(file, csv());
    }

    /**
     * A grid of small plots: one row per block, the act1 groups then the act2 groups across; the
     * learned function solid, the initial one dashed.
     */
    public BufferedImage grid(String title) {
        int blocks = groups.stream().mapToInt(Group::block).max().orElse(0) + 1;
        List<List<Group>> rows = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            rows.add(new ArrayList<>());
        }
        groups.forEach(g -> rows.get(g.block()).add(g));
        int cols = rows.stream().mapToInt(List::size).max().orElse(1);
        int w = 170;
        int h = 130;
        int head = 30;
        BufferedImage img = new BufferedImage(cols * w, blocks * h + head, BufferedImage.TYPE_INT_RGB);
        Graphics2D gr = img.createGraphics();
        gr.setColor(Color.WHITE);
        gr.fillRect(0, 0, img.getWidth(), img.getHeight());
        gr.setColor(Color.BLACK);
        gr.drawString(title + ": learned rationals (solid) and their initial functions (dashed), x in [-4, 4]"
                + (seen == null ? "" : "; green: the inputs' range on the data sample"), 8, 20);
        double[] xs = new double[161];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = -RANGE + 2 * RANGE * i / (xs.length - 1);
        }
        for (int r = 0; r < blocks; r++) {
            for (int c = 0; c < rows.get(r).size(); c++) {
                Group g = rows.get(r).get(c);
                RationalInit init = g.act().equals("act1") ? act1Init : act2Init;
                double[] learned = new double[xs.length];
                double[] initial = new double[xs.length];
                for (int i = 0; i < xs.length; i++) {
                    learned[i] = g.at(xs[i]);
                    initial[i] = Rational.eval(xs[i], init.numerator(), init.denominator(), 0);
                }
                XYChart chart = new XYChartBuilder().width(w).height(h)
                        .title(String.format(Locale.ROOT, "%d.%s g%d ~%s", g.block(), g.act(), g.group(),
                                g.closest().name().toLowerCase(Locale.ROOT))).build();
                var st = chart.getStyler();
                st.setLegendVisible(false);
                st.setChartTitleFont(new java.awt.Font("SansSerif", java.awt.Font.PLAIN, 10));
                st.setAxisTickLabelsFont(new java.awt.Font("SansSerif", java.awt.Font.PLAIN, 8));
                st.setChartPadding(2);
                st.setMarkerSize(0);
                st.setChartBackgroundColor(g.largeDenominator() ? new Color(255, 235, 235) : Color.WHITE);
                XYSeries init0 = chart.addSeries("initial", xs, initial);
                init0.setLineStyle(SeriesLines.DASH_DASH);
                init0.setMarker(SeriesMarkers.NONE);
                init0.setLineColor(Color.GRAY);
                XYSeries l = chart.addSeries("learned", xs, learned);
                l.setMarker(SeriesMarkers.NONE);
                l.setLineColor(g.act().equals("act1") ? new Color(31, 119, 180) : new Color(214, 39, 40));
                double[] reached = inputRange(groups.indexOf(g));
                if (reached != null) {
                    // the stretch of the function the data reached (within the plotted range)
                    double lo = Math.max(-RANGE, reached[0]);
                    double hi = Math.min(RANGE, reached[1]);
                    if (lo < hi) {
                        double[] sx = new double[41];
                        double[] sy = new double[41];
                        for (int i = 0; i < sx.length; i++) {
                            sx[i] = lo + (hi - lo) * i / (sx.length - 1);
                            sy[i] = g.at(sx[i]);
                        }
                        XYSeries used = chart.addSeries("seen", sx, sy);
                        used.setMarker(SeriesMarkers.NONE);
                        used.setLineColor(new Color(44, 160, 44));
                        used.setLineWidth(3f);
                    }
                }
                gr.drawImage(BitmapEncoder.getBufferedImage(chart), c * w, head + r * h, null);
            }
        }
        gr.dispose();
        return img;
    }

    /** Writes {@link #grid(String)} with this title to {@code file} as a PNG, replacing it atomically. */
    public void writePng(Path file, String title) throws IOException {
        BufferedImage img = grid(title);
        AtomicFiles.writeStream(file, out -> javax.imageio.ImageIO.write(img, "png", out));
    }
}
