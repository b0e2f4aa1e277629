package io.inferex.market;

/** A matching pool: the nodes serving one model in one cell, and the shards for that model there. */
public final class Pools {
    public static final String DEFAULT_CELL = "local";

    private Pools() {}

    public static String poolKey(String model, String cell) {
        return model + "@" + cell;
    }
}
