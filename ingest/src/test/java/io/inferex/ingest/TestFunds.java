package io.inferex.ingest;

import static io.restassured.RestAssured.given;

import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.Accounts;
import io.inferex.topics.Topics;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Money for the test customers: ingest escrows a batch at create, so a customer needs a balance
 * before it can create one. No settlement runs in these tests; a deposit is written to the ledger
 * topic as settlement would (the tests hold the operator's credential), and the helper waits until
 * ingest's balance shows it. The holds of these tests' batches are never released by a ledger
 * escrow (nothing escrows them), so the big customers get plenty.
 */
final class TestFunds {
    static final long PLENTY = 1_000_000_000L;
    /** The challenge test's batch: 20 rows at 200; exactly its escrow, so its bond finds nothing spendable at first. */
    static final long CHALLENGER_FUNDS = 20 * 200;
    private static boolean funded;

    private TestFunds() {}

    /** Once per JVM (the ledger lives on the shared broker across app restarts). */
    static synchronized void fundTestCustomers() throws InterruptedException {
        if (funded) {
            return;
        }
        Map<String, String> keys = Map.of("demo", IngestApiTest.DEMO, "acme", IngestApiTest.ACME, "pager", IngestApiTest.PAGER,
                "challenger", IngestApiTest.CHALLENGER);
        Map<String, Long> before = new HashMap<>();
        for (var e : keys.entrySet()) {
            before.put(e.getKey(), available(e.getValue()));
        }
        keys.keySet().forEach(c -> deposit(c, c.equals("challenger") ? CHALLENGER_FUNDS : PLENTY));
        for (var e : keys.entrySet()) {
            awaitAvailable(e.getValue(), before.get(e.getKey()) + (e.getKey().equals("challenger") ? CHALLENGER_FUNDS : PLENTY));
        }
        funded = true;
    }

    /** A DEPOSIT transfer on the ledger topic, as settlement writes one. */
    static void deposit(String customer, long micros) {
        Map<String, Object> config = new HashMap<>(EmbeddedKafkaBroker.shared().clientConfig());
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, Transfer> p = new KafkaProducer<>(config, Topics.LEDGER.keySerde().serializer(),
                Topics.LEDGER.valueSerde().serializer())) {
            String id = "test-deposit-" + UUID.randomUUID();
            p.send(new ProducerRecord<>(Topics.LEDGER.name(), id, Transfer.newBuilder().setTransferId(id)
                    .setDebitAccount(Accounts.EXTERNAL).setCreditAccount(Accounts.customer(customer)).setAmountMicros(micros)
                    .setKind(TransferKind.DEPOSIT).setJobId(null).setCause(id).setAtMs(System.currentTimeMillis()).build()));
            p.flush();
        }
    }

    /** The customer's available balance on the ledger as ingest shows it (waits out the 503 of a tracker still reading). */
    static long available(String key) throws InterruptedException {
        return balance(key, j -> true).getLong("available");
    }

    static void awaitAvailable(String key, long micros) throws InterruptedException {
        balance(key, j -> j.getLong("available") >= micros);
    }

    static io.restassured.path.json.JsonPath balance(String key, java.util.function.Predicate<io.restassured.path.json.JsonPath> ok)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (true) {
            var res = given().header("Authorization", "Bearer " + key).get("/v1/inferex/balance");
            if (res.statusCode() == 200 && ok.test(res.jsonPath())) {
                return res.jsonPath();
            }
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("balance not as expected in 30 s: " + res.statusCode() + " " + res.asString());
            }
            Thread.sleep(50);
        }
    }
}
