package io.inferex.ingest;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Inferex's extensions carried in a batch's OpenAI {@code metadata} (string values, so any OpenAI SDK
 * sends them unchanged; they stay echoed on the batch object like any other key):
 * <ul>
 * <li>{@value #MAX_PRICE}: the highest price per row the customer accepts, in micro-units, a whole
 * number from 1 to the deployment's maximum. It replaces the deployment's maximum for this batch: the
 * escrow is rows × it, and the matcher leases its shards only to nodes asking at most that much.</li>
 * <li>{@value #REGIONS}: the regions (cells) the batch may run in, comma-separated. A batch runs in
 * the cell of the ingest that takes it (its shards' pool is {@code model@cell}); a list that does not
 * name that cell is refused, so work is never placed where the customer did not allow it.</li>
 * </ul>
 * Decisions only: no I/O, so the create path and its tests call the same code.
 */
public final class BatchExtensions {
    public static final String MAX_PRICE = "inferex_max_price_per_row_micros";
    public static final String REGIONS = "inferex_allowed_regions";

    private BatchExtensions() {}

    /** The batch's price ceiling per row: {@value #MAX_PRICE} when given and valid, else {@code deploymentMax}. */
    public static long maxPricePerRow(Map<String, String> metadata, long deploymentMax) {
        String v = metadata == null ? null : metadata.get(MAX_PRICE);
        if (v == null) {
            return deploymentMax;
        }
        long price;
        try {
            price = Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw ApiException.invalid("metadata", "invalid_value", "metadata['" + MAX_PRICE + "'] must be a whole number of "
                    + "micro-units per row, was '" + clip(v) + "'.");
        }
        if (price < 1 || price > deploymentMax) {
            throw ApiException.invalid("metadata", "invalid_value", "metadata['" + MAX_PRICE + "'] is " + price
                    + "; it must be from 1 to " + deploymentMax + " micro-units per row (this deployment's maximum).");
        }
        return price;
    }

    /** Refuses a batch whose {@value #REGIONS} does not name {@code cell}, the cell it would run in. */
    public static void checkRegion(Map<String, String> metadata, String cell) {
        String v = metadata == null ? null : metadata.get(REGIONS);
        if (v == null) {
            return;
        }
        List<String> allowed = Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (allowed.isEmpty()) {
            throw ApiException.invalid("metadata", "invalid_value", "metadata['" + REGIONS + "'] names no region; leave the key "
                    + "out to allow any, or list regions separated by commas.");
        }
        if (!allowed.contains(cell)) {
            throw ApiException.invalid("metadata", "region_not_allowed", "This batch would run in region '" + cell
                    + "', which metadata['" + REGIONS + "'] (" + clip(String.join(", ", allowed)) + ") does not allow; "
                    + "send it to an Inferex endpoint of an allowed region.");
        }
    }

    private static String clip(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "...";
    }
}
