package org.kat4j.nn;

/**
 * How Linear weights start (docs/design.md, section 3).
 * <ul>
 *   <li>{@link #TIMM}: trunc_normal(std 0.02), zero bias: what the released KAT models effectively
 *       use (the reference's Kaiming-style init is overwritten by timm's a line later).</li>
 *   <li>{@link #VARIANCE_PRESERVING}: normal with Var(w) = 1 / (fan_in * E[F(x)^2]), x ~ N(0,1),
 *       F the rational that feeds the layer (paper solution S3), zero bias.</li>
 * </ul>
 */
public enum LinearInit {
    TIMM,
    VARIANCE_PRESERVING;

    public static LinearInit parse(String s) {
        return switch (s.trim().toLowerCase().replace('-', '_')) {
            case "timm" -> TIMM;
            case "variance_preserving", "vp" -> VARIANCE_PRESERVING;
            default -> throw new IllegalArgumentException("unknown init scheme '" + s + "', expected timm or variance_preserving");
        };
    }
}
