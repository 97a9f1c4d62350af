import LedgerCore
import SpendLedgerTestKit
import Testing

@Suite("EventID")
struct EventIDTests {
    @Test func printing_thenParsing_givesTheSameID() throws {
        let text = "0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e"
        let id = try #require(EventID(text))
        #expect(id.high == 0x0b6f_2c1e_4d0a_4e58)
        #expect(id.low == 0x9d1c_6a3f_1b2c_3d4e)
        #expect(id.description == text)
        #expect(EventID(id.description) == id)
    }

    @Test func parsing_uppercaseOrUndashedHex_givesTheSameID() throws {
        let id = try #require(EventID("0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e"))
        #expect(EventID("0B6F2C1E-4D0A-4E58-9D1C-6A3F1B2C3D4E") == id)
        #expect(EventID("0b6f2c1e4d0a4e589d1c6a3f1b2c3d4e") == id)
        #expect(EventID("0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e"[...]) == id)
    }

    @Test(arguments: [
        "", "0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4", "0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e0",
        "0b6f2c1e4-d0a-4e58-9d1c-6a3f1b2c3d4e", "0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4g", "{0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c}",
        "0b6f2c1e-4d0a-4e58-9d1c6a3f1b2c3d4e", "0b6f2c1e4d0a4e589d1c6a3f1b2c3d4", "0b6f2c1e-4d0a4e589d1c6a3f1b2c3d4e",
        "------------------------------------", "0b6f2c1e04d0a04e5809d1c06a3f1b2c3d4e", "0b6f2c1e 4d0a 4e58 9d1c 6a3f1b2c3d4e",
    ])
    func parsing_malformedText_returnsNil(_ text: String) {
        #expect(EventID(text) == nil, "\"\(text)\"")
    }

    @Test func theExtremeIDs_printAsAllZerosAndAllFs() {
        #expect(EventID.zero.description == "00000000-0000-0000-0000-000000000000")
        #expect(EventID(high: .max, low: .max).description == "ffffffff-ffff-ffff-ffff-ffffffffffff")
    }

    @Test func generatedIDs_areUUIDVersion7WithTheRFC4122Variant() {
        for _ in 0..<1_000 {
            let id = EventID.generate()
            #expect((id.high >> 12) & 0xF == 7, "version nibble of \(id)")
            #expect(id.low >> 62 == 0b10, "variant bits of \(id)")
            let text = id.description
            #expect(Array(text)[14] == "7")
            #expect("89ab".contains(Array(text)[19]))
            #expect(EventID(text) == id)
        }
    }

    @Test func generatedIDs_carryTheirMillisecondInTheTop48Bits() throws {
        let time = try #require(LedgerTime(rfc3339: "2026-11-20T01:02:03.456789Z"))
        let id = EventID.generate(at: time)
        #expect(id.high >> 16 == UInt64(time.nanosecondsSinceEpoch / 1_000_000))
        #expect(EventID.generate(at: LedgerTime(nanosecondsSinceEpoch: -5_000_000_000)).high >> 16 == 0)
    }

    @Test func generatedIDs_sortByTimeAcrossMilliseconds() {
        var previous = EventID.zero
        for millisecond in Int64(0)..<200 {
            let id = EventID.generate(at: LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000 + millisecond * 1_000_000))
            #expect(previous < id)
            previous = id
        }
    }

    @Test func generatingWithASeededGenerator_isDeterministic() {
        let time = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)
        var first = WorkloadRandom(seed: 7)
        var second = WorkloadRandom(seed: 7)
        let a = (0..<10).map { _ in EventID.generate(at: time, using: &first) }
        let b = (0..<10).map { _ in EventID.generate(at: time, using: &second) }
        #expect(a == b)
        #expect(Set(a).count == 10)
    }

    @Test func ids_compareByHighThenLow() {
        #expect(EventID(high: 1, low: .max) < EventID(high: 2, low: 0))
        #expect(EventID(high: 1, low: 1) < EventID(high: 1, low: 2))
        #expect(!(EventID(high: 1, low: 1) < EventID(high: 1, low: 1)))
    }
}
