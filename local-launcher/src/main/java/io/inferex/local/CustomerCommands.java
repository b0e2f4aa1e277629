package io.inferex.local;

import io.inferex.events.CustomerKey;
import io.inferex.security.CustomerKeys;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code ./inferex customers create|list|rotate|revoke}: customers' API keys, as the operator. A
 * key is printed once; the {@code customer-keys} topic (compacted, keyed by the hash's prefix)
 * holds only its SHA-256; a revocation is a tombstone. Ingest reads the topic.
 */
public final class CustomerCommands {
    private CustomerCommands() {}

    @Command(name = "customers", mixinStandardHelpOptions = true, description = "Create customers and list, rotate and revoke their API keys.",
            subcommands = {Create.class, ListKeys.class, Rotate.class, Revoke.class})
    static final class Customers implements Runnable {
        @Override
        public void run() {
            new picocli.CommandLine(this).usage(System.out);
        }
    }

    /** A command about customer NAME, against the market the target names. */
    abstract static class NamedCustomer implements Callable<Integer> {
        @Parameters(paramLabel = "NAME")
        String name;

        @Mixin
        BusCommands.Target target = new BusCommands.Target();
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Create customer NAME: print its account id and an API key, shown once (only its SHA-256 is kept).")
    static final class Create extends NamedCustomer {
        @Override
        public Integer call() {
            String problem = CustomerKeys.customerIdProblem(name);
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
            Map<String, Object> operator = target.operator();
            if (read(operator).values().stream().anyMatch(k -> k.getCustomerId().equals(name))) {
                throw new IllegalArgumentException("customer " + name + " exists; `customers rotate " + name + "` gives it a new key");
            }
            printKey(name, issue(operator, name));
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "List the live keys (id, customer, key prefix, created), of customers or key prefixes starting with PREFIX.")
    static final class ListKeys implements Callable<Integer> {
        @Parameters(paramLabel = "PREFIX", arity = "0..1")
        String prefix = "";

        @Mixin
        BusCommands.Target target = new BusCommands.Target();

        @Override
        public Integer call() {
            for (CustomerKey k : matching(read(target.operator()), prefix)) {
                System.out.println(k.getKeyId() + "  " + k.getCustomerId() + "  " + k.getDisplayPrefix() + "…  "
                        + Instant.ofEpochMilli(k.getCreatedAtMs()));
            }
            return 0;
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
            description = "Give customer NAME a new API key (printed once) and revoke its others.")
    static final class Rotate extends NamedCustomer {
        @Override
        public Integer call() {
            Map<String, Object> operator = target.operator();
            List<String> old = read(operator).values().stream().filter(k -> k.getCustomerId().equals(name))
                    .map(CustomerKey::getKeyId).toList();
            if (old.isEmpty()) {
                throw new IllegalArgumentException("no customer " + name + "; `customers create " + name + "` creates it");
            }
            String key = issue(operator, name);
            revoke(operator, old);
            printKey(name, key);
            System.out.println("revoked  " + String.join(", ", old));
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke the key KEY_ID (from `customers list`).")
    static final class Revoke implements Callable<Integer> {
        @Parameters(paramLabel = "KEY_ID")
        String keyId;

        @Mixin
        BusCommands.Target target = new BusCommands.Target();

        @Override
        public Integer call() {
            Map<String, Object> operator = target.operator();
            CustomerKey k = read(operator).get(keyId);
            if (k == null) {
                throw new IllegalArgumentException("no live key " + keyId);
            }
            revoke(operator, List.of(keyId));
            System.out.println("revoked " + keyId + " of customer " + k.getCustomerId());
            return 0;
        }
    }

    private static void printKey(String customer, String key) {
        System.out.println("customer " + customer);
        System.out.println("account  customer:" + customer);
        System.out.println("api key  " + key);
        System.out.println("# shown once: Inferex keeps only its SHA-256. Fund it with ./inferex fund customer:" + customer + " AMOUNT");
    }

    /** Keys whose customer id or display prefix starts with {@code prefix}, by customer then creation. */
    static List<CustomerKey> matching(Map<String, CustomerKey> keys, String prefix) {
        return keys.values().stream().filter(k -> k.getCustomerId().startsWith(prefix) || k.getDisplayPrefix().startsWith(prefix))
                .sorted(java.util.Comparator.comparing(CustomerKey::getCustomerId).thenComparingLong(CustomerKey::getCreatedAtMs))
                .toList();
    }

    /** Issues a new key for {@code customer}; returns the key (its hash is on the topic once this returns). */
    public static String issue(Map<String, Object> operator, String customer) {
        String key = CustomerKeys.newKey();
        CustomerKey record = CustomerKeys.record(customer, key, System.currentTimeMillis());
        send(operator, List.of(new ProducerRecord<>(Topics.CUSTOMER_KEYS.name(), bytes(record.getKeyId()),
                Topics.CUSTOMER_KEYS.valueSerde().serializer().serialize(Topics.CUSTOMER_KEYS.name(), record))));
        return key;
    }

    public static void revoke(Map<String, Object> operator, List<String> keyIds) {
        List<ProducerRecord<byte[], byte[]>> tombstones = new ArrayList<>();
        keyIds.forEach(id -> tombstones.add(new ProducerRecord<>(Topics.CUSTOMER_KEYS.name(), bytes(id), null)));
        send(operator, tombstones);
    }

    /** The live keys: the topic read from its beginning to its end, tombstones applied. */
    static Map<String, CustomerKey> read(Map<String, Object> operator) {
        Properties p = new Properties();
        p.putAll(operator);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        Map<String, CustomerKey> live = new LinkedHashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(Topics.CUSTOMER_KEYS.name(), Duration.ofSeconds(30)).stream()
                    .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            long deadline = System.currentTimeMillis() + 30_000;
            while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("could not read " + Topics.CUSTOMER_KEYS.name() + " to its end in 30 s");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    String id = new String(r.key(), StandardCharsets.UTF_8);
                    if (r.value() == null) {
                        live.remove(id);
                    } else {
                        live.put(id, Topics.CUSTOMER_KEYS.valueSerde().deserializer().deserialize(r.topic(), r.value()));
                    }
                }
            }
        }
        return live;
    }

    private static void send(Map<String, Object> operator, List<ProducerRecord<byte[], byte[]>> records) {
        Properties p = new Properties();
        p.putAll(operator);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (ProducerRecord<byte[], byte[]> r : records) {
                producer.send(r).get(30, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new IllegalStateException("could not write to " + Topics.CUSTOMER_KEYS.name() + ": " + e.getMessage(), e);
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
