package io.inferex.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.inferex.topics.Topics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class InputAgeTest {
    private static final long NOW = 1_000_000L;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final InputAge ages = new InputAge(registry, () -> NOW);

    private static ConsumerRecord<Object, Object> at(String topic, long timestamp) {
        return new ConsumerRecord<>(topic, 0, 0, timestamp, TimestampType.CREATE_TIME, 0, 0, "k", "v",
                new org.apache.kafka.common.header.internals.RecordHeaders(), java.util.Optional.empty());
    }

    private ConsumerRecords<Object, Object> polled(List<ConsumerRecord<Object, Object>> records) {
        Map<TopicPartition, List<ConsumerRecord<Object, Object>>> byPartition = new LinkedHashMap<>();
        for (ConsumerRecord<Object, Object> r : records) {
            byPartition.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), tp -> new ArrayList<>()).add(r);
        }
        ConsumerRecords<Object, Object> batch = new ConsumerRecords<>(byPartition, Map.of());
        assertSame(batch, ages.onConsume(batch), "the records go on unchanged");
        return batch;
    }

    private Timer timer(String topic) {
        return registry.find(InputAge.AGE).tag("topic", topic).timer();
    }

    private static double countUpTo(Timer t, long ms) {
        for (CountAtBucket b : t.takeSnapshot().histogramCounts()) {
            if (b.bucket(TimeUnit.MILLISECONDS) == ms) {
                return b.count();
            }
        }
        throw new AssertionError("no bucket at " + ms + " ms");
    }

    @Test
    void eachMarketRecordsAgeAtPollIsRecordedPerTopicInBucketsAFutureStampCountsAsZeroAndInternalTopicsAreNotMeasured() {
        String results = Topics.RESULTS.name();
        String verdicts = Topics.VERDICTS.name();
        polled(List.of(at(results, NOW - 3), at(results, NOW - 40), at(results, NOW - 4_000), at(results, NOW + 500),
                at(verdicts, NOW - 120), at("inferex-matcher-leases-changelog", NOW - 10_000), at(results, -1)));

        Timer r = timer(results);
        assertEquals(4, r.count(), "four stamped results (one without a timestamp is skipped)");
        assertEquals(4_000, r.max(TimeUnit.MILLISECONDS), 0.001);
        assertEquals(4_043, r.totalTime(TimeUnit.MILLISECONDS), 0.001, "3 + 40 + 4,000 + 0 for the future stamp");
        assertEquals(2, countUpTo(r, 5), "3 ms and the future stamp (0) are within 5 ms");
        assertEquals(3, countUpTo(r, 50));
        assertEquals(3, countUpTo(r, 2_500));
        assertEquals(4, countUpTo(r, 5_000));
        assertEquals(1, timer(verdicts).count());
        assertEquals(120, timer(verdicts).max(TimeUnit.MILLISECONDS), 0.001);
        assertNull(timer("inferex-matcher-leases-changelog"), "a changelog is not a market hop");
    }
}
