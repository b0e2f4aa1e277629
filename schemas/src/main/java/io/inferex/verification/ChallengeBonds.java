package io.inferex.verification;

/**
 * What a customer's challenge costs and where its bond goes. Pure; ingest asks for the bond with
 * {@link #required}, settlement refuses a challenge whose bond is below it, and settlement moves
 * the bond on the verifier's decision.
 *
 * <p>Why this amount: a challenge makes the treasury pay {@link DisputeTally#REFEREES} referee
 * re-executions of the shard, each leased at up to twice the suspect lease's price (the verifier's
 * price cap), and the suspect lease's price is at most the job's maximum. So the bond covers the
 * worst case of what a frivolous challenge costs the market; below {@link #MIN_BOND_MICROS} a
 * challenge of a tiny shard would still be nearly free. A challenge found right (FRAUD) gets its
 * bond back and the challenger is rewarded from the slash; a frivolous one (UPHELD) forfeits the
 * bond: {@link #FORFEIT_TO_EXECUTOR_BPS} to the node wrongly accused, the rest to the treasury,
 * which paid the referees.
 */
public final class ChallengeBonds {
    private ChallengeBonds() {}

    /** The smallest bond, in micro-units (0.1 of a unit). */
    public static final long MIN_BOND_MICROS = 100_000L;
    /** Share of a forfeited bond paid to the executor whose result was upheld, in basis points. */
    public static final int FORFEIT_TO_EXECUTOR_BPS = 5_000;

    /** The bond a challenge of a shard of {@code rows} rows, in a job whose maximum price per row is given, must post. */
    public static long required(int rows, long maxPricePerRowMicros) {
        if (rows <= 0 || maxPricePerRowMicros < 0) {
            throw new IllegalArgumentException("rows must be positive and the price not negative: " + rows + ", " + maxPricePerRowMicros);
        }
        long perReferee = saturatedMultiply(saturatedMultiply(rows, maxPricePerRowMicros), 2);
        return Math.max(MIN_BOND_MICROS, saturatedMultiply(perReferee, DisputeTally.REFEREES));
    }

    /** The executor's share of a forfeited bond; the treasury gets the rest. */
    public static long executorShare(long bondMicros) {
        // Split so no intermediate product can overflow, whatever the bond.
        return bondMicros / 10_000 * FORFEIT_TO_EXECUTOR_BPS + bondMicros % 10_000 * FORFEIT_TO_EXECUTOR_BPS / 10_000;
    }

    private static long saturatedMultiply(long a, long b) {
        long hi = Math.multiplyHigh(a, b);
        long lo = a * b;
        return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE;
    }
}
