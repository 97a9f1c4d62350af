import LedgerCore
import SpendLedgerTestKit
import Testing

@Suite("LedgerTime and RFC 3339")
struct LedgerTimeTests {
    static let second: Int64 = 1_000_000_000

    @Test(
        arguments: [
            ("1970-01-01T00:00:00Z", Int64(0)),
            ("2026-11-20T01:02:03Z", 1_795_136_523 * second),
            ("2026-11-20T01:02:03.123Z", 1_795_136_523 * second + 123_000_000),
            ("2026-11-20T01:02:03.123456Z", 1_795_136_523 * second + 123_456_000),
            ("2026-11-20T01:02:03.123456789Z", 1_795_136_523 * second + 123_456_789),
            ("2026-11-20T01:02:03.000000001Z", 1_795_136_523 * second + 1),
            ("1969-12-31T23:59:59Z", -second),
            ("1969-12-31T23:59:59.999999999Z", -1),
            ("1969-12-31T23:59:59.500Z", -500_000_000),
            ("1900-01-01T00:00:00Z", -2_208_988_800 * second),
            ("2024-02-29T12:00:00Z", 1_709_208_000 * second),
            ("2000-02-29T00:00:00Z", 951_782_400 * second),
        ] as [(String, Int64)])
    func rfc3339_printsAndParsesTheSameInstant(_ text: String, _ nanoseconds: Int64) {
        let time = LedgerTime(nanosecondsSinceEpoch: nanoseconds)
        #expect(time.rfc3339 == text)
        #expect(time.description == text)
        #expect(LedgerTime(rfc3339: text) == time)
    }

    @Test func rfc3339_ofTheEpoch_isMidnightJanuaryFirst1970() {
        #expect(LedgerTime.epoch.rfc3339 == "1970-01-01T00:00:00Z")
    }

    @Test(arguments: [
        ("2026-11-20T02:02:03+01:00", "2026-11-20T01:02:03Z"),
        ("2026-11-19T20:32:03-04:30", "2026-11-20T01:02:03Z"),
        ("2026-11-20T01:02:03+00:00", "2026-11-20T01:02:03Z"),
        ("2026-11-20T01:02:03-00:00", "2026-11-20T01:02:03Z"),
        ("2026-11-20T23:30:00-23:59", "2026-11-21T23:29:00Z"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"),
        ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z"),
        ("2026-11-20t01:02:03.5z", "2026-11-20T01:02:03.500Z"),
        ("2026-11-20 01:02:03Z", "2026-11-20T01:02:03Z"),
    ])
    func parsing_withAnOffsetOrLowercaseOrSpace_givesTheUTCInstant(_ text: String, _ utc: String) throws {
        let time = try #require(LedgerTime(rfc3339: text))
        #expect(time.rfc3339 == utc)
        #expect(time == LedgerTime(rfc3339: utc))
    }

    @Test func parsing_fractionsOfOneToNineDigits_keepsEveryDigitExactly() throws {
        let base = try #require(LedgerTime(rfc3339: "2026-11-20T01:02:03Z")).nanosecondsSinceEpoch
        var digits = ""
        var expected: Int64 = 0
        for (index, digit) in "987654321".enumerated() {
            digits.append(digit)
            expected += Int64(String(digit))! * [100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1][index]
            let parsed = try #require(LedgerTime(rfc3339: "2026-11-20T01:02:03.\(digits)Z"), "fraction .\(digits)")
            #expect(parsed.nanosecondsSinceEpoch == base + expected, "fraction .\(digits)")
        }
    }

    @Test func parsing_aFractionOfTenDigits_isRejectedNotRounded() {
        #expect(LedgerTime(rfc3339: "2026-11-20T01:02:03.1234567891Z") == nil)
        #expect(LedgerTime(rfc3339: "2026-11-20T01:02:03.0000000000Z") == nil)
    }

    @Test func february29_parsesInLeapYearsOnly() {
        #expect(LedgerTime(rfc3339: "2024-02-29T00:00:00Z") != nil)
        #expect(LedgerTime(rfc3339: "2000-02-29T00:00:00Z") != nil)  // divisible by 400
        #expect(LedgerTime(rfc3339: "2023-02-29T00:00:00Z") == nil)
        #expect(LedgerTime(rfc3339: "1900-02-29T00:00:00Z") == nil)  // divisible by 100, not 400
        #expect(LedgerTime(rfc3339: "2100-02-29T00:00:00Z") == nil)
        #expect(LedgerTime(rfc3339: "2024-02-30T00:00:00Z") == nil)
    }

    @Test func february29_plusOneDay_printsAsMarchFirst() throws {
        let leapDay = try #require(LedgerTime(rfc3339: "2024-02-29T12:00:00Z"))
        let next = LedgerTime(nanosecondsSinceEpoch: leapDay.nanosecondsSinceEpoch + 86_400 * Self.second)
        #expect(next.rfc3339 == "2024-03-01T12:00:00Z")
        let common = try #require(LedgerTime(rfc3339: "2023-02-28T12:00:00Z"))
        #expect(
            LedgerTime(nanosecondsSinceEpoch: common.nanosecondsSinceEpoch + 86_400 * Self.second).rfc3339
                == "2023-03-01T12:00:00Z")
    }

    @Test func aLeapSecond_parsesAsTheLastSecondOfTheMinute() {
        #expect(LedgerTime(rfc3339: "2016-12-31T23:59:60Z") == LedgerTime(rfc3339: "2016-12-31T23:59:59Z"))
        #expect(LedgerTime(rfc3339: "2016-12-31T23:59:61Z") == nil)
    }

    @Test(arguments: [
        "", "2026", "2026-11-20", "2026-11-20T01:02:03", "2026-11-20T01:02Z", "2026-11-20T01:02:03.Z",
        "2026-11-20T01:02:03.12.3Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T01:60:00Z",
        "2026-11-20T01:02:03+1:00", "2026-11-20T01:02:03+01", "2026-11-20T01:02:03+0100", "2026-11-20T01:02:03+24:00",
        "2026-11-20T01:02:03+01:60", "2026-11-20T01:02:03ZZ", "2026-11-20T01:02:03Z ", " 2026-11-20T01:02:03Z",
        "2026/11/20T01:02:03Z", "2026-11-20X01:02:03Z", "26-11-20T01:02:03Z", "+2026-11-20T01:02:03Z",
        "2026-11-20T01:02:03,5Z", "２０２６-11-20T01:02:03Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    ])
    func parsing_invalidText_returnsNil(_ text: String) {
        #expect(LedgerTime(rfc3339: text) == nil, "\"\(text)\"")
    }

    @Test func printing_theRepresentableExtremes_roundTrips() throws {
        #expect(LedgerTime.distantFuture.rfc3339 == "2262-04-11T23:47:16.854775807Z")
        #expect(LedgerTime.distantPast.rfc3339 == "1677-09-21T00:12:43.145224192Z")
        #expect(LedgerTime(rfc3339: LedgerTime.distantFuture.rfc3339) == .distantFuture)
        let nearlyDistantPast = LedgerTime(nanosecondsSinceEpoch: LedgerTime.distantPast.nanosecondsSinceEpoch + 1_000_000_000)
        #expect(LedgerTime(rfc3339: nearlyDistantPast.rfc3339) == nearlyDistantPast)
        // The empty log's head carries distantPast; printing it must not trap.
        #expect(String(describing: LogHead.empty).contains("1677-09-21T00:12:43.145224192Z"))
    }

    @Test func manyInstants_from1900To2200_roundTripThroughText() throws {
        var random = WorkloadRandom(seed: 42)
        let low = LedgerTime(rfc3339: "1900-01-01T00:00:00Z")!.nanosecondsSinceEpoch
        let high = LedgerTime(rfc3339: "2200-01-01T00:00:00Z")!.nanosecondsSinceEpoch
        for _ in 0..<2_000 {
            var nanoseconds = Int64.random(in: low...high, using: &random)
            switch random.next() % 4 {
            case 0: nanoseconds -= nanoseconds % Self.second  // whole seconds
            case 1: nanoseconds -= nanoseconds % 1_000_000  // milliseconds
            default: break
            }
            let time = LedgerTime(nanosecondsSinceEpoch: nanoseconds)
            #expect(LedgerTime(rfc3339: time.rfc3339) == time, "\(nanoseconds) printed as \(time.rfc3339)")
        }
    }

    @Test func printing_usesZeroThreeSixOrNineFractionDigits() {
        let base: Int64 = 1_795_136_523 * Self.second
        #expect(LedgerTime(nanosecondsSinceEpoch: base).rfc3339 == "2026-11-20T01:02:03Z")
        #expect(LedgerTime(nanosecondsSinceEpoch: base + 100_000_000).rfc3339 == "2026-11-20T01:02:03.100Z")
        #expect(LedgerTime(nanosecondsSinceEpoch: base + 120_000).rfc3339 == "2026-11-20T01:02:03.000120Z")
        #expect(LedgerTime(nanosecondsSinceEpoch: base + 10).rfc3339 == "2026-11-20T01:02:03.000000010Z")
    }

    @Test func times_compareByTheirNanoseconds() {
        let earlier = LedgerTime(nanosecondsSinceEpoch: -5)
        let later = LedgerTime(nanosecondsSinceEpoch: 3)
        #expect(earlier < later)
        #expect(LedgerTime.distantPast < earlier)
        #expect(later < LedgerTime.distantFuture)
        #expect(max(earlier, later) == later)
    }
}
