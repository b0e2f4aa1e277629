package io.inferex.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;

class BusAccessTest {

    private static Set<String> acls(List<AclBinding> bindings) {
        return bindings.stream().map(b -> b.pattern().resourceType() + ":" + b.pattern().patternType() + ":" + b.pattern().name()
                + ":" + b.entry().operation()).collect(Collectors.toSet());
    }

    @Test
    void aNodeGetsExactlyItsFourWritesReadOnAssignmentsTheModelRegistryAndStoreAndItsOwnGroup() {
        List<AclBinding> bindings = BusAccess.bindings(BusAccess.node("gpu-7"));
        assertEquals(Set.of(
                "TOPIC:LITERAL:node-registry:WRITE",
                "TOPIC:LITERAL:node-heartbeats:WRITE",
                "TOPIC:LITERAL:results:WRITE",
                "TOPIC:LITERAL:lease-declines:WRITE",
                "TOPIC:LITERAL:assignments:READ",
                "TOPIC:LITERAL:models:READ",
                "TOPIC:LITERAL:model-chunks:READ",
                "GROUP:LITERAL:node-gpu-7:READ"), acls(bindings));
        assertEquals(8, bindings.size(), "no duplicates");
        for (AclBinding b : bindings) {
            assertEquals("User:node-gpu-7", b.entry().principal());
            assertEquals(AclPermissionType.ALLOW, b.entry().permissionType());
            assertEquals("*", b.entry().host());
        }
    }

    @Test
    void noNodeBindingIsPrefixedOrTouchesAStreamsAppsInternalTopicsOrATransactionalId() {
        for (AclBinding b : BusAccess.bindings(BusAccess.node("n1"))) {
            assertEquals(PatternType.LITERAL, b.pattern().patternType(), b.toString());
            assertTrue(b.pattern().resourceType() == ResourceType.TOPIC || b.pattern().resourceType() == ResourceType.GROUP, b.toString());
            assertTrue(!b.pattern().name().startsWith("inferex-"), b.toString());
        }
    }

    @Test
    void onlyThePaymentGatewayWritesPaymentsAndOnlySettlementWritesLedgerAndJobStatus() {
        assertEquals(Set.of("payment-gateway"), writersOf(Topics.PAYMENTS));
        assertEquals(Set.of("settlement"), writersOf(Topics.LEDGER));
        assertEquals(Set.of("settlement"), writersOf(Topics.JOB_STATUS));
        assertEquals(Set.of("verifier"), writersOf(Topics.VERDICTS));
        assertEquals(Set.of("matcher"), writersOf(Topics.ASSIGNMENTS));
        assertEquals(Set.of("ingest"), writersOf(Topics.JOBS));
        assertEquals(Set.of("ingest"), writersOf(Topics.SHARD_TASKS));
        assertEquals(Set.of(), writersOf(Topics.CUSTOMER_KEYS), "only the operator (super user) issues customer keys");
        assertTrue(acls(BusAccess.bindings(BusAccess.INGEST)).contains("TOPIC:LITERAL:customer-keys:READ"), "ingest reads them");
    }

    @Test
    void onlyIngestWritesCustomersBudgetsAndNoNodeTouchesThem() {
        assertEquals(Set.of("ingest"), writersOf(Topics.CUSTOMER_BUDGETS), "a budget is set through ingest, by its customer only");
        assertTrue(acls(BusAccess.bindings(BusAccess.INGEST)).contains("TOPIC:LITERAL:customer-budgets:READ"));
        assertTrue(acls(BusAccess.bindings(BusAccess.node("n1"))).stream().noneMatch(a -> a.contains("customer-budgets")));
    }

    @Test
    void onlyIngestWritesAndReadsCustomersFilesAndBatchesNoOtherPrincipalTouchesThem() {
        for (Topic<?, ?> t : List.of(Topics.INGEST_FILES, Topics.INGEST_FILE_CHUNKS, Topics.INGEST_BATCHES)) {
            assertEquals(Set.of("ingest"), writersOf(t), t.name());
            assertEquals(Set.of("ingest"), BusAccess.SERVICES.stream().filter(g -> g.reads().contains(t.name()))
                    .map(BusAccess.Grant::principal).collect(Collectors.toSet()), t.name() + ": customers' inputs stay with ingest");
            assertTrue(acls(BusAccess.bindings(BusAccess.node("n1"))).stream().noneMatch(a -> a.contains(t.name())), t.name());
        }
    }

    @Test
    void onlyTheOperatorWritesTheModelRegistryAndTheModelStoreNoNodeWritesEither() {
        assertEquals(Set.of(), writersOf(Topics.MODELS), "only the operator (super user) registers models");
        assertEquals(Set.of(), writersOf(Topics.MODEL_CHUNKS), "only the operator (super user) stores model files");
        Set<String> node = acls(BusAccess.bindings(BusAccess.node("n1")));
        assertTrue(!node.contains("TOPIC:LITERAL:models:WRITE") && !node.contains("TOPIC:LITERAL:model-chunks:WRITE"), node.toString());
        assertTrue(acls(BusAccess.bindings(BusAccess.INGEST)).contains("TOPIC:LITERAL:models:READ"), "ingest checks batch lines against it");
        assertTrue(acls(BusAccess.bindings(BusAccess.VERIFIER)).contains("TOPIC:LITERAL:models:READ"), "the verifier judges results by it");
    }

    @Test
    void aCustomerKeyIsStoredAsItsHashKeyedByTheHashPrefixAndShownOnlyByItsPrefix() {
        String key = CustomerKeys.newKey();
        assertTrue(key.startsWith("sk-inferex-") && key.length() == "sk-inferex-".length() + 32, key);
        var r = CustomerKeys.record("acme", key, 5);
        assertEquals(CustomerKeys.sha256(key), r.getKeySha256());
        assertEquals(r.getKeySha256().substring(0, 16), r.getKeyId());
        assertEquals(key.substring(0, 15), r.getDisplayPrefix());
        assertTrue(!r.toString().contains(key.substring(15)), "the secret part is nowhere in the record");
        assertTrue(CustomerKeys.wellFormed(r));
        r.setKeyId("0000000000000000");
        assertTrue(!CustomerKeys.wellFormed(r), "an id that is not the hash's prefix");
        assertTrue(CustomerKeys.customerIdProblem("Acme Corp") != null);
        assertTrue(CustomerKeys.customerIdProblem("acme-corp.eu") == null);
        assertTrue(!CustomerKeys.newKey().equals(CustomerKeys.newKey()));
    }

    private static Set<String> writersOf(Topic<?, ?> topic) {
        return BusAccess.SERVICES.stream().filter(g -> g.writes().contains(topic.name())).map(BusAccess.Grant::principal)
                .collect(Collectors.toSet());
    }

    @Test
    void aStreamsAppOwnsItsGroupTransactionalIdsAndInternalTopicsByApplicationIdPrefix() {
        Set<String> matcher = acls(BusAccess.bindings(BusAccess.MATCHER));
        assertTrue(matcher.contains("GROUP:LITERAL:inferex-matcher:READ"), matcher.toString());
        assertTrue(matcher.contains("TRANSACTIONAL_ID:PREFIXED:inferex-matcher-:WRITE"), matcher.toString());
        for (AclOperation op : BusAccess.INTERNAL_TOPIC_OPERATIONS) {
            assertTrue(matcher.contains("TOPIC:PREFIXED:inferex-matcher-:" + op), op.toString());
        }
        assertTrue(!matcher.contains("TOPIC:LITERAL:payments:WRITE"));
    }

    @Test
    void ingestReadsTheLedgerForCustomerBalancesAndWritesInItsOwnTransactionalIds() {
        Set<String> ingest = acls(BusAccess.bindings(BusAccess.INGEST));
        assertTrue(ingest.contains("TOPIC:LITERAL:ledger:READ"));
        assertTrue(ingest.contains("TRANSACTIONAL_ID:PREFIXED:inferex-ingest-:WRITE"));
    }

    @Test
    void everyTopicInTheTableIsACatalogueTopic() {
        Set<String> catalogue = Topics.ALL.stream().map(Topic::name).collect(Collectors.toSet());
        for (BusAccess.Grant g : BusAccess.SERVICES) {
            for (String t : BusAccess.topicsTouched(g)) {
                assertTrue(catalogue.contains(t), g.principal() + " names " + t);
            }
        }
    }

    @Test
    void aNodeNameCannotSmuggleAnotherPrincipalOrPattern() {
        assertThrows(IllegalArgumentException.class, () -> BusAccess.node(""));
        assertThrows(IllegalArgumentException.class, () -> BusAccess.node("a;User:operator"));
        assertThrows(IllegalArgumentException.class, () -> BusAccess.node("*"));
        assertThrows(IllegalArgumentException.class, () -> BusAccess.node("-x"));
        assertEquals("node-executor-1", BusAccess.nodePrincipal("executor-1"));
    }

    @Test
    void clientConfigCarriesScramAndRefusesAPasswordThatCouldBreakTheJaasLine() {
        var c = BusCredentials.clientConfig("127.0.0.1:1", "ingest", "abc123");
        assertEquals("SASL_PLAINTEXT", c.get("security.protocol"));
        assertEquals("SCRAM-SHA-512", c.get("sasl.mechanism"));
        assertTrue(String.valueOf(c.get("sasl.jaas.config")).contains("username=\"ingest\" password=\"abc123\";"));
        assertThrows(IllegalArgumentException.class, () -> BusCredentials.clientConfig("h:1", "ingest", "x\" user_admin=\"y"));
        assertEquals(Set.of("bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.jaas.config"),
                BusCredentials.connection(new java.util.HashMap<>(c) {{ put("group.id", "inferex-ingest"); }}).keySet());
    }

    @Test
    void docsSecurityShowsExactlyTheTableTheAclsAreDerivedFrom() throws Exception {
        String doc = java.nio.file.Files.readString(java.nio.file.Path.of("..", "docs", "security.md"));
        assertTrue(doc.contains(BusAccess.markdownTable()), "docs/security.md must contain BusAccess.markdownTable():\n"
                + BusAccess.markdownTable());
    }
}
