package io.inferex.executor.node;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

/**
 * The partition of the assignments topic that a node's records land on: the matcher keys each
 * assignment by node id and Kafka's default partitioner places a keyed record on
 * {@code toPositive(murmur2(keyBytes)) % partitions}. A node reads that one partition only.
 */
public final class AssignmentPartition {
    private AssignmentPartition() {}

    public static int of(String nodeId, int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1");
        }
        return Utils.toPositive(Utils.murmur2(nodeId.getBytes(StandardCharsets.UTF_8))) % partitions;
    }
}
