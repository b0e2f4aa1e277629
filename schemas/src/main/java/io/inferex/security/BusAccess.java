package io.inferex.security;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Who may do what on the bus: the one access table. Each principal has the topics it writes and
 * reads, its consumer groups, its transactional-id prefixes and, for a Kafka Streams app, the prefix
 * of its internal (repartition and changelog) topics. The broker denies everything else
 * ({@code allow.everyone.if.no.acl.found=false}); {@link #bindings} turns a row into Kafka ACLs, and
 * the operator, a super user, applies them with {@link #apply}. Each row is what the service's code
 * uses (group ids, application ids, transactional ids, topics); docs/security.md shows the table.
 */
public final class BusAccess {
    private BusAccess() {}

    /** The operator/admin principal: provisions topics, users and ACLs; a broker super user. */
    public static final String OPERATOR = "operator";
    /** Prefix of every executor node's principal: {@code node-<name>}. */
    public static final String NODE_PREFIX = "node-";
    private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");

    /** Operations a Kafka Streams app needs on its own internal topics (it creates, reads, writes and purges them). */
    static final List<AclOperation> INTERNAL_TOPIC_OPERATIONS = List.of(AclOperation.CREATE, AclOperation.READ,
            AclOperation.WRITE, AclOperation.DELETE, AclOperation.DESCRIBE_CONFIGS);

    /**
     * One row of the table.
     *
     * @param groups consumer groups the principal reads (commits offsets in)
     * @param transactionalIdPrefixes prefixes of the transactional ids its producers use
     * @param internalTopicPrefix for a Kafka Streams app, {@code <application.id>-}
     */
    public record Grant(String principal, List<String> writes, List<String> reads, List<String> groups,
            List<String> transactionalIdPrefixes, Optional<String> internalTopicPrefix, String what) {
        public Grant {
            writes = List.copyOf(writes);
            reads = List.copyOf(reads);
            groups = List.copyOf(groups);
            transactionalIdPrefixes = List.copyOf(transactionalIdPrefixes);
        }
    }

    public static final Grant INGEST = new Grant("ingest",
            names(Topics.JOBS, Topics.JOB_CANCELS, Topics.SHARD_TASKS, Topics.CHALLENGES, Topics.CUSTOMER_BUDGETS,
                    Topics.INGEST_FILES, Topics.INGEST_FILE_CHUNKS, Topics.INGEST_BATCHES, Topics.DEAD_LETTER),
            names(Topics.RESULTS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES, Topics.JOB_STATUS, Topics.LEDGER, Topics.CHALLENGE_BONDS,
                    Topics.CUSTOMER_KEYS, Topics.CUSTOMER_BUDGETS, Topics.MODELS,
                    Topics.INGEST_FILES, Topics.INGEST_FILE_CHUNKS, Topics.INGEST_BATCHES),
            List.of(), List.of("inferex-ingest-"), Optional.empty(),
            "publishes accepted batches and their shards in one transaction, customers' cancels, challenges and budgets; follows results, verdicts, status, bonds, balances, budgets, customers' key hashes and the model registry; keeps customers' files and batches in its own topics, shared by every ingest instance");
    public static final Grant MATCHER = streamsApp("matcher", "inferex-matcher",
            names(Topics.ASSIGNMENTS, Topics.DEAD_LETTER),
            names(Topics.SHARD_TASKS, Topics.VERIFICATION_TASKS, Topics.NODE_REGISTRY, Topics.NODE_HEARTBEATS, Topics.RESULTS,
                    Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES, Topics.JOB_STATUS, Topics.NODE_STAKE, Topics.NODE_REPUTATION,
                    Topics.LEASE_DECLINES),
            "leases shards and re-executions to live, staked nodes; re-leases at once a lease its node declined; revokes re-executions a verification decision made moot");
    public static final Grant VERIFIER = streamsApp("verifier", "inferex-verifier",
            names(Topics.VERDICTS, Topics.VERIFICATION_TASKS, Topics.VERIFICATION_OUTCOMES, Topics.SAMPLING_EPOCHS,
                    Topics.NODE_REPUTATION, Topics.DEAD_LETTER),
            names(Topics.RESULTS, Topics.NODE_REGISTRY, Topics.ASSIGNMENTS, Topics.NODE_REPUTATION, Topics.CHALLENGE_BONDS, Topics.MODELS),
            "checks signed results against their leases and the model registry; samples, re-executes, decides finality and fraud, scores nodes");
    public static final Grant SETTLEMENT = streamsApp("settlement", "inferex-settlement",
            names(Topics.LEDGER, Topics.JOB_STATUS, Topics.NODE_STAKE, Topics.CHALLENGE_BONDS, Topics.DEAD_LETTER),
            names(Topics.PAYMENTS, Topics.JOBS, Topics.JOB_CANCELS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES, Topics.CHALLENGES),
            "moves money on verdicts, verification outcomes, payments, cancels and challenge bonds; publishes job status, node stake and bonds");
    public static final Grant PAYMENT_GATEWAY = new Grant("payment-gateway",
            names(Topics.PAYMENTS), List.of(), List.of(), List.of(), Optional.empty(),
            "the only writer of payments (deposits, stakes, withdrawals)");

    /** The service principals, in the order docs/security.md lists them. */
    public static final List<Grant> SERVICES = List.of(INGEST, MATCHER, VERIFIER, SETTLEMENT, PAYMENT_GATEWAY);

    /** Principal of the executor node called {@code nodeName}. */
    public static String nodePrincipal(String nodeName) {
        if (nodeName == null || !NODE_NAME.matcher(nodeName).matches()) {
            throw new IllegalArgumentException("a node name is 1-63 of [A-Za-z0-9._-], starting with a letter or digit: " + nodeName);
        }
        return NODE_PREFIX + nodeName;
    }

    /**
     * An executor node: writes its registration, heartbeats, results and signed lease declines, reads
     * assignments, the model registry and the model store (to fetch a registered model by digest), and
     * keeps its assignment offsets in a group named like its principal. Nothing else, not even
     * dead-letter: an assignment it cannot decode is logged and counted by the node (the matcher
     * re-leases the shard when the lease runs out); a lease it cannot run it declines, and the matcher
     * re-leases it at once.
     */
    public static Grant node(String nodeName) {
        String principal = nodePrincipal(nodeName);
        return new Grant(principal,
                names(Topics.NODE_REGISTRY, Topics.NODE_HEARTBEATS, Topics.RESULTS, Topics.LEASE_DECLINES),
                names(Topics.ASSIGNMENTS, Topics.MODELS, Topics.MODEL_CHUNKS), List.of(principal), List.of(), Optional.empty(),
                "an executor node (untrusted)");
    }

    /** The consumer group of a node's assignment consumer (committed offsets only). */
    public static String nodeGroup(String nodeName) {
        return nodePrincipal(nodeName);
    }

    /** The Kafka ACLs of one row: allow only, from any host. */
    public static List<AclBinding> bindings(Grant g) {
        String user = "User:" + g.principal();
        List<AclBinding> out = new ArrayList<>();
        for (String t : g.writes()) {
            out.add(allow(ResourceType.TOPIC, t, PatternType.LITERAL, user, AclOperation.WRITE));
        }
        for (String t : g.reads()) {
            out.add(allow(ResourceType.TOPIC, t, PatternType.LITERAL, user, AclOperation.READ));
        }
        for (String group : g.groups()) {
            out.add(allow(ResourceType.GROUP, group, PatternType.LITERAL, user, AclOperation.READ));
        }
        for (String prefix : g.transactionalIdPrefixes()) {
            out.add(allow(ResourceType.TRANSACTIONAL_ID, prefix, PatternType.PREFIXED, user, AclOperation.WRITE));
        }
        g.internalTopicPrefix().ifPresent(prefix -> INTERNAL_TOPIC_OPERATIONS
                .forEach(op -> out.add(allow(ResourceType.TOPIC, prefix, PatternType.PREFIXED, user, op))));
        return List.copyOf(out);
    }

    /** Creates the row's ACLs (creating an ACL that exists is a no-op, so this is idempotent). */
    public static void apply(Admin admin, Grant g) {
        await(admin.createAcls(bindings(g)).all(), "create the ACLs of " + g.principal());
    }

    /** Deletes every ACL that names {@code principal}, e.g. when a node is revoked. */
    public static void revokeAll(Admin admin, String principal) {
        AclBindingFilter filter = new AclBindingFilter(ResourcePatternFilter.ANY, new AccessControlEntryFilter(
                "User:" + principal, null, AclOperation.ANY, AclPermissionType.ANY));
        await(admin.deleteAcls(List.of(filter)).all(), "delete the ACLs of " + principal);
    }

    /** Sets {@code principal}'s SCRAM-SHA-512 password on the cluster (creates or replaces it). */
    public static void upsertUser(Admin admin, String principal, String password) {
        await(admin.alterUserScramCredentials(List.of(new org.apache.kafka.clients.admin.UserScramCredentialUpsertion(principal,
                new org.apache.kafka.clients.admin.ScramCredentialInfo(org.apache.kafka.clients.admin.ScramMechanism.SCRAM_SHA_512, 8192),
                password))).all(), "set the credential of " + principal);
    }

    /** Deletes {@code principal}'s SCRAM credential: it cannot authenticate any more. */
    public static void deleteUser(Admin admin, String principal) {
        await(admin.alterUserScramCredentials(List.of(new org.apache.kafka.clients.admin.UserScramCredentialDeletion(principal,
                org.apache.kafka.clients.admin.ScramMechanism.SCRAM_SHA_512))).all(), "delete the credential of " + principal);
    }

    /** A row's user and ACLs in one step; returns the client config the principal connects with. */
    public static java.util.Map<String, Object> provision(Admin admin, String bootstrapServers, Grant g, String password) {
        upsertUser(admin, g.principal(), password);
        apply(admin, g);
        awaitVisible(admin, g);
        return BusCredentials.clientConfig(bootstrapServers, g.principal(), password);
    }

    /**
     * Waits until the broker answering {@code admin} knows the principal's credential and ACLs (the
     * controller commits them; each broker applies the metadata a moment later), so a client started
     * next is not refused.
     */
    static void awaitVisible(Admin admin, Grant g) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        AclBindingFilter mine = new AclBindingFilter(ResourcePatternFilter.ANY, new AccessControlEntryFilter(
                "User:" + g.principal(), null, AclOperation.ANY, AclPermissionType.ANY));
        Set<AclBinding> wanted = Set.copyOf(bindings(g));
        while (true) {
            try {
                boolean user = admin.describeUserScramCredentials(List.of(g.principal())).all().get(10, TimeUnit.SECONDS)
                        .containsKey(g.principal());
                if (user && admin.describeAcls(mine).values().get(10, TimeUnit.SECONDS).containsAll(wanted)) {
                    return;
                }
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // not there yet (ResourceNotFound for an unknown user)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the credential and ACLs of " + g.principal() + " did not reach the broker in 30 s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    /** Every ACL of the table's services. */
    public static List<AclBinding> serviceBindings() {
        return SERVICES.stream().flatMap(g -> bindings(g).stream()).toList();
    }

    /** The table as Markdown, as docs/security.md shows it (a test keeps the two equal). */
    public static String markdownTable() {
        StringBuilder sb = new StringBuilder(
                "| principal | writes | reads | consumer groups | transactional ids | internal topics | what |\n"
                + "|---|---|---|---|---|---|---|\n");
        List<Grant> rows = new ArrayList<>(SERVICES);
        rows.add(node("NAME"));
        for (Grant g : rows) {
            sb.append("| `").append(g.principal()).append("` | ").append(cell(g.writes(), "")).append(" | ")
                    .append(cell(g.reads(), "")).append(" | ").append(cell(g.groups(), "")).append(" | ")
                    .append(cell(g.transactionalIdPrefixes(), "*")).append(" | ")
                    .append(g.internalTopicPrefix().map(p -> "`" + p + "*` (" + INTERNAL_TOPIC_OPERATIONS.stream()
                            .map(op -> op.name().toLowerCase(java.util.Locale.ROOT)).collect(Collectors.joining(", ")) + ")").orElse("-"))
                    .append(" | ").append(g.what()).append(" |\n");
        }
        sb.append("| `").append(OPERATOR).append("` | all (super user) | all | all | all | all | provisions topics, users and ACLs |\n");
        return sb.toString();
    }

    private static String cell(List<String> names, String suffix) {
        return names.isEmpty() ? "-" : names.stream().map(n -> "`" + n + suffix + "`").collect(Collectors.joining(", "));
    }

    /** The catalogue topics a row may write and read, by name (for docs and tests). */
    public static Set<String> topicsTouched(Grant g) {
        return Stream.concat(g.writes().stream(), g.reads().stream()).collect(Collectors.toCollection(java.util.TreeSet::new));
    }

    private static Grant streamsApp(String principal, String applicationId, List<String> writes, List<String> reads, String what) {
        return new Grant(principal, writes, reads, List.of(applicationId), List.of(applicationId + "-"),
                Optional.of(applicationId + "-"), what);
    }

    private static List<String> names(Topic<?, ?>... topics) {
        return Stream.of(topics).map(Topic::name).toList();
    }

    static List<String> names(Collection<Topic<?, ?>> topics) {
        return topics.stream().map(Topic::name).toList();
    }

    private static AclBinding allow(ResourceType type, String name, PatternType pattern, String user, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, pattern), new AccessControlEntry(user, "*", op, AclPermissionType.ALLOW));
    }

    private static void await(org.apache.kafka.common.KafkaFuture<?> f, String what) {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException("could not " + what + ": " + e.getCause(), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("could not " + what + " within 30 s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while trying to " + what, e);
        }
    }
}
