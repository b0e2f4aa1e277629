package io.inferex.ingest;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.market.Accounts;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** GET /v1/inferex/balance over a real broker: materialized from transfers on the ledger topic. */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "ingest"))
@QuarkusTestResource(FreshDataDir.class)
class BalanceApiTest {
    private static final String PATH = "/v1/inferex/balance";

    @Test
    void twoCustomersEachSeeOnlyTheirOwnBalanceAndEscrowFromTheLedgerTopic() throws Exception {
        JsonPath demo0 = awaitBalance(IngestApiTest.DEMO);
        JsonPath acme0 = awaitBalance(IngestApiTest.ACME);
        String job = "batch_" + UUID.randomUUID().toString().replace("-", "");
        String demo = Accounts.customer("demo");
        String escrow = Accounts.escrow(job);
        // An aborted settlement transaction moves nothing. Every record of this test
        // goes to one partition, so once the later ones are seen the tracker has passed the aborted one. (the tracker reads committed records only).
        try (KafkaProducer<String, Transfer> p = producer("balance-test-" + UUID.randomUUID())) {
            p.initTransactions();
            p.beginTransaction();
            send(p, Accounts.EXTERNAL, demo, 999_000_000, TransferKind.DEPOSIT, null);
            p.flush();
            p.abortTransaction();
        }
        try (KafkaProducer<String, Transfer> p = producer(null)) {
            send(p, Accounts.EXTERNAL, demo, 5_000_000, TransferKind.DEPOSIT, null);
            send(p, demo, escrow, 1_000_000, TransferKind.ESCROW, job);
            send(p, escrow, Accounts.node("n1"), 285_000, TransferKind.PAYOUT, job);
            send(p, escrow, Accounts.TREASURY, 15_000, TransferKind.FEE, job);
            // Last on the same partition: once acme's deposit shows, every transfer above has been applied
            // (the tracker applies records one at a time while HTTP reads; a read may fall between two).
            send(p, Accounts.EXTERNAL, Accounts.customer("acme"), 7_000_000, TransferKind.DEPOSIT, null);
            p.flush();
        }
        JsonPath acme1 = awaitBalance(IngestApiTest.ACME, j -> j.getLong("available") != acme0.getLong("available"));

        JsonPath demo1 = awaitBalance(IngestApiTest.DEMO, j -> j.getList("escrow_by_batch.batch_id").contains(job));
        assertEquals("inferex.balance", demo1.getString("object"));
        assertEquals("demo", demo1.getString("customer"));
        assertEquals(demo0.getLong("available") + 4_000_000, demo1.getLong("available"));
        assertEquals(demo0.getLong("in_escrow") + 700_000, demo1.getLong("in_escrow"));
        assertEquals(700_000L, demo1.getLong("escrow_by_batch.find { it.batch_id == '" + job + "' }.amount"));
        assertEquals(demo0.getLong("spent") + 300_000, demo1.getLong("spent"), "the payout and its fee");
        JsonPath usage = given().header("Authorization", "Bearer " + IngestApiTest.DEMO).get("/v1/inferex/usage").then()
                .statusCode(200).extract().jsonPath();
        assertEquals("inferex.usage", usage.getString("object"));
        assertEquals(demo1.getLong("spent"), usage.getLong("spent"));
        assertEquals(demo1.getLong("available"), usage.getLong("available"));

        assertEquals("acme", acme1.getString("customer"));
        assertEquals(acme0.getLong("available") + 7_000_000, acme1.getLong("available"));
        assertFalse(acme1.getList("escrow_by_batch.batch_id").contains(job), "demo's escrow is not acme's");
        assertEquals(acme0.getLong("in_escrow"), acme1.getLong("in_escrow"));
    }

    @Test
    void theTrackerCheckpointsOnItsDataDirTheBalancesItShowsWithTheLedgerOffsetsTheyCover() throws Exception {
        JsonPath acme0 = awaitBalance(IngestApiTest.ACME);
        try (KafkaProducer<String, Transfer> p = producer(null)) {
            send(p, Accounts.EXTERNAL, Accounts.customer("acme"), 1_234_000, TransferKind.DEPOSIT, null);
            p.flush();
        }
        JsonPath acme1 = awaitBalance(IngestApiTest.ACME, j -> j.getLong("available") == acme0.getLong("available") + 1_234_000);
        Map<Integer, Long> ends = new HashMap<>();
        java.util.Set<Integer> bondParts;
        java.util.Set<Integer> outcomeParts;
        try (var c = new org.apache.kafka.clients.consumer.KafkaConsumer<>(EmbeddedKafkaBroker.shared().clientConfig(),
                new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            var parts = c.partitionsFor(Topics.LEDGER.name()).stream()
                    .map(i -> new org.apache.kafka.common.TopicPartition(i.topic(), i.partition())).toList();
            c.endOffsets(parts).forEach((tp, end) -> ends.put(tp.partition(), end));
            bondParts = partitionNumbers(c, Topics.CHALLENGE_BONDS.name());
            outcomeParts = partitionNumbers(c, Topics.VERIFICATION_OUTCOMES.name());
        }
        java.nio.file.Path file = java.nio.file.Path.of(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("inferex.ingest.data-dir", String.class)).resolve(MarketTracker.CHECKPOINT_FILE);
        long deadline = System.nanoTime() + 30_000_000_000L;
        java.util.Optional<LedgerCheckpoint> cp = LedgerCheckpoint.read(file);
        while (cp.isEmpty() || !cp.get().offsets().equals(ends)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no checkpoint at the ledger's end " + ends + " in 30 s: " + cp.map(LedgerCheckpoint::offsets));
            }
            Thread.sleep(100);
            cp = LedgerCheckpoint.read(file);
        }
        CustomerBalances restored = new CustomerBalances();
        restored.restore(cp.get().balances());
        assertEquals(acme1.getLong("available"), restored.of("acme").availableMicros(),
                "the checkpoint's balance is the one the API shows for the offsets it names");
        assertEquals(acme1.getLong("in_escrow"), restored.of("acme").escrowMicros());
        LedgerCheckpoint.Challenges challenges = cp.get().challenges();
        assertEquals(bondParts, challenges.bonds().keySet(), "with the challenge-bonds position of every partition");
        assertEquals(outcomeParts, challenges.outcomes().keySet(), "and the verification-outcomes one");
    }

    private static java.util.Set<Integer> partitionNumbers(org.apache.kafka.clients.consumer.KafkaConsumer<?, ?> c, String topic) {
        return c.partitionsFor(topic).stream().map(org.apache.kafka.common.PartitionInfo::partition)
                .collect(java.util.stream.Collectors.toSet());
    }

    @Test
    void withoutAValidKeyTheBalanceIs401AndNoAccountCanBeNamed() {
        given().get(PATH).then().statusCode(401).header("WWW-Authenticate", startsWith("Bearer"))
                .body("error.code", equalTo("missing_api_key"));
        given().header("Authorization", "Bearer sk-not-a-key").get(PATH).then().statusCode(401)
                .body("error.code", equalTo("invalid_api_key"));
        // There is no account parameter: another customer's balance has no address.
        given().header("Authorization", "Bearer " + IngestApiTest.DEMO).get(PATH + "/acme").then().statusCode(404);
        given().header("Authorization", "Bearer " + IngestApiTest.DEMO).queryParam("customer", "acme").get(PATH)
                .then().statusCode(200).body("customer", equalTo("demo"));
    }

    private static KafkaProducer<String, Transfer> producer(String transactionalId) {
        Map<String, Object> config = new HashMap<>(EmbeddedKafkaBroker.shared().clientConfig());
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        if (transactionalId != null) {
            config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }
        return new KafkaProducer<>(config, Topics.LEDGER.keySerde().serializer(), Topics.LEDGER.valueSerde().serializer());
    }

    private static void send(KafkaProducer<String, Transfer> p, String from, String to, long micros, TransferKind kind, String job) {
        String id = UUID.randomUUID().toString();
        p.send(new ProducerRecord<>(Topics.LEDGER.name(), 0, id, Transfer.newBuilder().setTransferId(id)
                .setDebitAccount(from).setCreditAccount(to).setAmountMicros(micros).setKind(kind).setJobId(job)
                .setCause("balance-test").setAtMs(System.currentTimeMillis()).build()));
    }

    private static JsonPath awaitBalance(String key) throws InterruptedException {
        return awaitBalance(key, j -> true);
    }

    /** Polls until the balance answers 200 and shows what the test waits for (the tracker follows the topic). */
    private static JsonPath awaitBalance(String key, java.util.function.Predicate<JsonPath> done) throws InterruptedException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            var res = given().header("Authorization", "Bearer " + key).get(PATH);
            if (res.statusCode() == 200 && done.test(res.jsonPath())) {
                return res.jsonPath();
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("balance not as expected in 60 s: " + res.statusCode() + " " + res.asString());
            }
            Thread.sleep(100);
        }
    }
}
