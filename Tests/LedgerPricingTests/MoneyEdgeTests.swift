import LedgerCore
import Testing

/// Money and Price edges not covered by LedgerDomainTests/SpendEventTests.
@Suite struct MoneyEdgeTests {
    @Test func money_holdsExactlyTheInt64RangeOfNanos() {
        #expect(Money(dollars: "9223372036.854775807")?.nanos == .max)
        #expect(Money(dollars: "9223372036.854775808") == nil)
        #expect(Money(dollars: "-9223372036.854775808")?.nanos == .min)
        #expect(Money(dollars: "-9223372036.854775809") == nil)
        #expect(Money(nanos: .max).dollars == "9223372036.854775807")
        #expect(Money(nanos: .min).dollars == "-9223372036.854775808")
    }

    @Test func money_roundsHalfEven_symmetricallyForNegativeAmounts() {
        #expect(Money(dollars: "-0.0000000015")?.nanos == -2)
        #expect(Money(dollars: "-0.0000000025")?.nanos == -2)
        #expect(Money(dollars: "-0.0000000005")?.nanos == 0)
        #expect(Money(dollars: "0.0000000025")?.nanos == 2)
        #expect(Money(dollars: "0.0000000035")?.nanos == 4)
        #expect(Money(dollars: "0.00000000249999999999")?.nanos == 2)
        #expect(Money(dollars: "0.00000000250000000001")?.nanos == 3, "above half rounds up even next to an even nano")
    }

    @Test func money_acceptsExponentsAndSigns_butNotJunk() {
        #expect(Money(dollars: "1E-9")?.nanos == 1)
        #expect(Money(dollars: "+5")?.nanos == 5_000_000_000)
        #expect(Money(dollars: "372e-6")?.nanos == 372_000)
        #expect(Money(dollars: "0.000372000")?.nanos == 372_000)
        #expect(Money(dollars: "-0")?.nanos == 0)
        for junk in ["", "-", ".", "e5", "1e", "1e+", "1.2.3", "NaN", "Infinity", "-inf", "0x10", " 1", "1 ", "1,5", "1e99999"] {
            #expect(Money(dollars: junk) == nil, "\(junk)")
        }
        #expect(Money(dollars: "1e999") == nil, "too large")
        #expect(Money(dollars: "1e-999")?.nanos == 0, "rounds to zero")
    }

    @Test func money_addingReportsOverflow_insteadOfWrapping() {
        #expect(Money(nanos: .max).adding(Money(nanos: 1)) == nil)
        #expect(Money(nanos: .max - 1).adding(Money(nanos: 1)) == Money(nanos: .max))
        #expect(Money(nanos: .min).adding(Money(nanos: -1)) == nil)
    }

    @Test func price_holdsExactlyEighteenDecimalPlaces_andTheInt64RangeOfAtto() {
        #expect(Price(dollars: "1e-18")?.attodollars == 1)
        #expect(Price(dollars: "0.000000000000000001")?.attodollars == 1)
        #expect(Price(dollars: "2.50e-06")?.attodollars == 2_500_000_000_000)
        #expect(Price(dollars: "1.0000000000000000001e-6") == nil, "25 decimal places")
        #expect(Price(dollars: "1.000000000000000000e-6")?.attodollars == 1_000_000_000_000, "trailing zeros are exact")
        #expect(Price(dollars: "9.223372036854775807")?.attodollars == .max)
        #expect(Price(dollars: "9.223372036854775808") == nil)
        #expect(Price(dollars: "0")?.attodollars == 0)
        #expect(Price(dollars: "-0")?.attodollars == 0)
        #expect(Price(attodollars: 1).dollars == "0.000000000000000001")
    }

    @Test func price_costOfExtremeCounts_isExactInInt128_andRoundingReportsWhatDoesNotFit() {
        let top = Price(attodollars: .max)
        let exact = top.cost(of: .max)
        #expect(exact == Int128(Int64.max) * Int128(Int64.max))
        #expect(Price.roundToMoney(exact) == nil)
        #expect(Price(attodollars: 1_000_000_000).cost(of: 0) == 0)
        // The largest exact atto amount that still fits: Int64.max nanos.
        #expect(Price.roundToMoney(Int128(Int64.max) * 1_000_000_000) == Money(nanos: .max))
        #expect(
            Price.roundToMoney(Int128(Int64.max) * 1_000_000_000 + 500_000_000) == nil,
            "Int64.max is odd, so half a nano more rounds to the even value above it, which does not fit")
        #expect(Price.roundToMoney(Int128(Int64.max) * 1_000_000_000 + 499_999_999) == Money(nanos: .max))
    }

    @Test func roundToMoney_isHalfEven_forNegativeAmountsToo() {
        #expect(Price.roundToMoney(-1_500_000_000) == Money(nanos: -2))
        #expect(Price.roundToMoney(-2_500_000_000) == Money(nanos: -2))
        #expect(Price.roundToMoney(-500_000_000) == Money(nanos: 0))
        #expect(Price.roundToMoney(-500_000_001) == Money(nanos: -1))
        #expect(Price.roundToMoney(499_999_999) == Money(nanos: 0))
        #expect(Price.roundToMoney(500_000_001) == Money(nanos: 1))
    }
}
