package io.inferex.market;

/**
 * Ledger account names. Every account is a plain string so a ledger line reads on its own:
 * {@code customer:acme}, {@code node:1a2b...}, {@code escrow:batch_x}, {@code stake:1a2b...}, {@code bond:chl_...}.
 */
public final class Accounts {
    /** Protocol fees accumulate here. */
    public static final String TREASURY = "treasury";
    /** The outside world: deposits come from it, withdrawals go to it; its balance is minus the money inside. */
    public static final String EXTERNAL = "external";

    private Accounts() {}

    public static String customer(String customerId) {
        return "customer:" + customerId;
    }

    public static String node(String nodeId) {
        return "node:" + nodeId;
    }

    public static String escrow(String jobId) {
        return "escrow:" + jobId;
    }

    public static String stake(String nodeId) {
        return "stake:" + nodeId;
    }

    /** Where a challenge's bond is held until the verifier decides. */
    public static String bond(String challengeId) {
        return "bond:" + challengeId;
    }

    /** The node id behind a node's account ({@code node:<id>}), or null for any other account. */
    public static String nodeOf(String account) {
        return account != null && account.startsWith("node:") ? account.substring("node:".length()) : null;
    }
}
