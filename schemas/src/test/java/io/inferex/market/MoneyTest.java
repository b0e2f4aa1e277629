package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class MoneyTest {
    @Test
    void feeIsRoundedDownAndPayoutPlusFeeIsExactlyTheAmount() {
        long amount = 1_234_567L;
        long fee = Money.basisPoints(amount, 500); // 5 %
        assertEquals(61_728L, fee);
        assertEquals(amount, fee + (amount - fee));
    }

    @Test
    void fractionDoesNotOverflowForLargeAmounts() {
        long big = Long.MAX_VALUE / 2;
        assertEquals(big / 10_000 * 300 + (big % 10_000) * 300 / 10_000, Money.basisPoints(big, 300));
    }

    @Test
    void overflowThrowsInsteadOfWrapping() {
        assertThrows(ArithmeticException.class, () -> Money.units(Long.MAX_VALUE / 100));
    }

    @Test
    void formatsMicrosAsUnitsWithSixDecimals() {
        assertEquals("12.345678", Money.format(12_345_678L));
        assertEquals("-0.000001", Money.format(-1L));
    }
}
