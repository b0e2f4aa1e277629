package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.inferex.market.NodeIdentity;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.Test;

class AssignmentPartitionTest {
    @Test
    void nodeReadsThePartitionKafkasDefaultPartitionerPutsItsKeyOn() {
        for (int i = 0; i < 200; i++) {
            String nodeId = NodeIdentity.nodeIdOf(("key-" + i).getBytes(StandardCharsets.UTF_8));
            for (int partitions : new int[] {1, 3, Topics.ASSIGNMENTS.partitions(), 7, 12}) {
                assertEquals(BuiltInPartitioner.partitionForKey(nodeId.getBytes(StandardCharsets.UTF_8), partitions),
                        AssignmentPartition.of(nodeId, partitions), nodeId + " over " + partitions);
            }
        }
    }
}
