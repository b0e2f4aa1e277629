package io.inferex.market;

/**
 * Money is a {@code long} count of micro-units (1 unit = 1,000,000 micros). Never floating point.
 * Arithmetic that could overflow throws instead of wrapping.
 */
public final class Money {
    public static final long MICROS_PER_UNIT = 1_000_000L;

    private Money() {}

    public static long units(long units) {
        return Math.multiplyExact(units, MICROS_PER_UNIT);
    }

    /** {@code amount * numerator / denominator}, rounded down, without intermediate overflow for sane amounts. */
    public static long fraction(long amountMicros, long numerator, long denominator) {
        if (denominator <= 0 || numerator < 0) {
            throw new IllegalArgumentException("fraction " + numerator + "/" + denominator);
        }
        return Math.multiplyExact(amountMicros / denominator, numerator)
                + Math.multiplyExact(amountMicros % denominator, numerator) / denominator;
    }

    /** Basis points (1/10,000) of an amount, rounded down: the protocol fee. */
    public static long basisPoints(long amountMicros, int bps) {
        return fraction(amountMicros, bps, 10_000);
    }

    /** "12.345678" for 12345678 micros; sign kept. */
    public static String format(long micros) {
        String sign = micros < 0 ? "-" : "";
        long abs = Math.abs(micros);
        return sign + (abs / MICROS_PER_UNIT) + "." + String.format("%06d", abs % MICROS_PER_UNIT);
    }
}
