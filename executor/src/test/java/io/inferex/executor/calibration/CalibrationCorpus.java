package io.inferex.executor.calibration;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A fixed corpus of varied sentences for the tolerance calibration, generated from a seed
 * ({@link java.util.Random}'s algorithm is specified, so the corpus is the same on every JVM):
 * short and long declaratives, questions, numbers and units, code-ish text, lists, non-ASCII
 * text, and a few inputs long enough to be truncated at 256 tokens.
 */
public final class CalibrationCorpus {
    private CalibrationCorpus() {}

    private static final String[] SUBJECTS = {"The customer", "A market node", "Our verifier", "The old lighthouse keeper",
        "A small dog", "The central bank", "Every student", "My neighbour's cat", "The research team", "A tired nurse",
        "The orchestra", "This startup", "The river", "An astronaut", "The committee", "A farmer in Kenya"};
    private static final String[] VERBS = {"uploaded", "rejected", "painted", "measured", "forgot", "celebrated", "repaired",
        "questioned", "sold", "translated", "ignored", "predicted", "cooked", "signed", "crossed", "discovered"};
    private static final String[] OBJECTS = {"the quarterly report", "a batch of embeddings", "the broken fence",
        "an unusual comet", "the wedding cake", "three hundred invoices", "the Kafka cluster", "a forgotten poem",
        "the interest rates", "the vaccine trial", "a wooden boat", "the legal contract", "the football match",
        "the neural network", "a bowl of ramen", "the mountain trail"};
    private static final String[] TAILS = {"before sunrise", "without telling anyone", "for the third time this week",
        "in the pouring rain", "despite the warnings", "with remarkable precision", "after a long debate",
        "while the city slept", "under budget", "to everyone's surprise", "on a Tuesday", "at the last minute"};
    private static final String[] QUESTIONS = {"How do I reset my password?", "What is the capital of Australia?",
        "Why does the sky look blue at noon?", "Can a shard be re-executed on another node?",
        "Where can I buy fresh bread near the station?", "Is it safe to eat raw cookie dough?",
        "When did the Berlin Wall fall?", "Which programming language should I learn first?"};
    private static final String[] FOREIGN = {"Der schnelle braune Fuchs springt über den faulen Hund.",
        "Le chat dort sur le canapé depuis ce matin.", "El mercado abre a las nueve de la mañana.",
        "東京は日本の首都です。", "Москва — столица России.", "La pizza napoletana è patrimonio dell'UNESCO.",
        "Ünïcödé, émojis 🎸🚀 and accents àéîõü also embed.", "Η Αθήνα είναι μια αρχαία πόλη."};
    private static final String[] CODE = {"SELECT id, name FROM users WHERE created_at > now() - interval '7 days';",
        "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }", "kafka-topics.sh --create --topic results --partitions 6",
        "def mean(xs): return sum(xs) / len(xs)", "{\"custom_id\": \"row-17\", \"body\": {\"input\": \"hello\"}}",
        "git commit -m 'fix: off-by-one in the lease deadline'"};
    private static final String[] WORDS = ("market node embeddings verifier settlement ledger payment stake lease shard kafka "
            + "topic partition broker latency throughput customer batch sentence vector cosine tolerance river mountain "
            + "music guitar coffee weather election science history garden ocean bicycle library").split(" ");

    /** {@code n} sentences from {@code seed}; the same arguments give the same list. */
    public static List<String> sentences(int n, long seed) {
        Random rnd = new Random(seed);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(sentence(rnd, i));
        }
        return out;
    }

    private static String sentence(Random rnd, int i) {
        return switch (i % 10) {
            case 0, 1, 2 -> pick(rnd, SUBJECTS) + " " + pick(rnd, VERBS) + " " + pick(rnd, OBJECTS)
                    + (rnd.nextBoolean() ? " " + pick(rnd, TAILS) : "") + ".";
            case 3 -> pick(rnd, QUESTIONS);
            case 4 -> pick(rnd, FOREIGN);
            case 5 -> pick(rnd, CODE);
            case 6 -> "Order #" + (10_000 + rnd.nextInt(90_000)) + ": " + (1 + rnd.nextInt(99)) + " kg of "
                    + pick(rnd, OBJECTS).replace("the ", "") + " at $" + rnd.nextInt(1000) + "." + rnd.nextInt(10)
                    + rnd.nextInt(10) + ", due " + (1 + rnd.nextInt(28)) + "/" + (1 + rnd.nextInt(12)) + "/20" + (20 + rnd.nextInt(10)) + ".";
            case 7 -> words(rnd, 1 + rnd.nextInt(3)); // a few words, no punctuation
            case 8 -> { // a paragraph of several clauses
                StringBuilder sb = new StringBuilder();
                int clauses = 3 + rnd.nextInt(8);
                for (int c = 0; c < clauses; c++) {
                    sb.append(pick(rnd, SUBJECTS)).append(' ').append(pick(rnd, VERBS)).append(' ')
                            .append(pick(rnd, OBJECTS)).append(' ').append(pick(rnd, TAILS)).append(". ");
                }
                yield sb.toString().trim();
            }
            default -> i % 40 == 9 ? words(rnd, 300 + rnd.nextInt(200)) // longer than 256 tokens: truncated
                    : words(rnd, 10 + rnd.nextInt(60)) + ".";
        };
    }

    private static String words(Random rnd, int n) {
        StringBuilder sb = new StringBuilder();
        for (int w = 0; w < n; w++) {
            if (w > 0) {
                sb.append(' ');
            }
            sb.append(pick(rnd, WORDS));
        }
        return sb.toString();
    }

    private static String pick(Random rnd, String[] options) {
        return options[rnd.nextInt(options.length)];
    }
}
