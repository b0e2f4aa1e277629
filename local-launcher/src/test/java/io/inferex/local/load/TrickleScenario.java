package io.inferex.local.load;

/** The smallest valid scenario, for tests that add one key to it and parse it. */
final class TrickleScenario {
    private TrickleScenario() {}

    /** One batch a second of 16 rows on 2 simulated nodes for 10 s; a test appends its own keys. */
    static final String YAML = """
            name: t
            duration: 10s
            customers: 1
            arrival: {process: constant, batches-per-second: 1}
            batch-rows: 16
            fleet: {nodes: 2, principals: 1, slots: 1, ms-per-row: 0, price-per-row-micros: 100}
            slo: {accepted-paid.p99: 90000}
            """;

    /** The trickle with {@code extra} YAML appended, parsed as {@code t.yaml}. */
    static Scenario with(String extra) {
        return ScenarioParser.parse("t.yaml", YAML + extra);
    }
}
