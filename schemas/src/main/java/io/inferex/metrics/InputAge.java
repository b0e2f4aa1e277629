package io.inferex.metrics;

import io.inferex.topics.Topics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * How old each market record is when a service's consumer polls it: the time from the record's
 * timestamp to the poll, as a Micrometer timer {@value #AGE} per topic (tag {@code topic}) with
 * fixed buckets from 5 ms to 30 s, so Prometheus can compute p50/p99 per service and topic with
 * {@code histogram_quantile}. This is the latency of the hop into the service, queueing included:
 * for a record written in a Kafka transaction it includes the writer's wait for its commit
 * (read_committed sees it only then).
 *
 * <p>What a timestamp means: a plain producer stamps its send time (ingest's shard tasks, a node's
 * results and heartbeats); a Kafka Streams app's output carries the time of the input that caused it
 * (a verdict carries its result's time), so a stream app's input age is the time since the fact
 * that started the chain; the matcher stamps a lease when it is made. The clocks are the producers':
 * a record stamped in the future counts as age 0, and a node, which is untrusted, can make its own
 * records look older or younger than they are. Only catalogue topics are measured (not changelogs
 * or repartitions), and a service names it only on its main consumer
 * ({@code kafka-streams.main.consumer.interceptor.classes}), so a state restore at start, which reads
 * old records, is not counted. It never fails a poll.
 */
public class InputAge implements ConsumerInterceptor<Object, Object> {
    /** Input record age at poll, tag {@code topic}. */
    public static final String AGE = "inferex.input.age";
    /** Bucket bounds of the age histogram. */
    static final Duration[] BUCKETS = java.util.stream.LongStream.of(5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000)
            .mapToObj(Duration::ofMillis).toArray(Duration[]::new);

    private final MeterRegistry registry;
    private final java.util.function.LongSupplier clock;
    /** A timer per topic seen, or null for a topic that is not measured. */
    private final Map<String, java.util.Optional<Timer>> timers = new ConcurrentHashMap<>();

    public InputAge() {
        this(Metrics.globalRegistry, System::currentTimeMillis);
    }

    InputAge(MeterRegistry registry, java.util.function.LongSupplier clock) {
        this.registry = registry;
        this.clock = clock;
    }

    @Override
    public ConsumerRecords<Object, Object> onConsume(ConsumerRecords<Object, Object> records) {
        try {
            long now = clock.getAsLong();
            for (TopicPartition tp : records.partitions()) {
                java.util.Optional<Timer> timer = timers.computeIfAbsent(tp.topic(), this::timerFor);
                if (timer.isEmpty()) {
                    continue;
                }
                for (ConsumerRecord<Object, Object> r : records.records(tp)) {
                    if (r.timestamp() >= 0) {
                        timer.get().record(Math.max(0, now - r.timestamp()), TimeUnit.MILLISECONDS);
                    }
                }
            }
        } catch (RuntimeException e) {
            // a metric never fails a poll
        }
        return records;
    }

    private java.util.Optional<Timer> timerFor(String topic) {
        if (Topics.byName(topic).isEmpty()) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(Timer.builder(AGE).tag("topic", topic)
                .description("time from a record's timestamp to this service's poll of it")
                .serviceLevelObjectives(BUCKETS).register(registry));
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) {
        // ages are taken at poll
    }

    @Override
    public void close() {
        // the meters belong to the registry
    }

    @Override
    public void configure(Map<String, ?> configs) {
        // nothing to configure
    }
}
