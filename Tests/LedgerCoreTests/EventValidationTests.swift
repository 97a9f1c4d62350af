import LedgerCore
import SpendLedgerTestKit
import Testing

@Suite("EventCodec.validate")
struct EventValidationTests {
    static let valid = EventStoreConformance.sampleEvent(stream: "wallet:agent-7", index: 3)

    func validationError(_ change: (inout ProposedEvent) -> Void, batchIndex: Int? = nil) -> LedgerError? {
        var event = Self.valid
        change(&event)
        do {
            try EventCodec.validate(event, batchIndex: batchIndex)
            return nil
        } catch {
            return error
        }
    }

    @Test func aSampleEvent_isValid() throws {
        try EventCodec.validate(Self.valid)
    }

    @Test func anEmptyStream_isAnInvalidEventNamingTheStream() throws {
        let error = try #require(validationError { $0.stream = "" })
        #expect(error.code == .invalidEvent)
        #expect(error.field == "stream")
        #expect(error.description.contains("stream"))
    }

    @Test func aStreamWithANULByte_isAnInvalidEventNamingTheStream() throws {
        let error = try #require(validationError { $0.stream = "wallet:\u{0}" })
        #expect(error.code == .invalidEvent)
        #expect(error.field == "stream")
    }

    @Test func aStreamNameOverTheLimitInBytes_exceedsTheLimit() throws {
        #expect(validationError { $0.stream = String(repeating: "s", count: Limits.streamNameBytesMax) } == nil)
        // 128 two-byte characters are exactly at the limit; one more is over it.
        #expect(validationError { $0.stream = String(repeating: "é", count: Limits.streamNameBytesMax / 2) } == nil)
        let error = try #require(validationError { $0.stream = String(repeating: "é", count: Limits.streamNameBytesMax / 2 + 1) })
        #expect(error.code == .limitExceeded)
        #expect(error.field == "stream")
        #expect(error.description.contains("\(Limits.streamNameBytesMax)"))
    }

    @Test func anEmptyOrOverLimitType_namesTheType() throws {
        let empty = try #require(validationError { $0.type = "" })
        #expect(empty.code == .invalidEvent)
        #expect(empty.field == "type")
        #expect(validationError { $0.type = String(repeating: "t", count: Limits.eventTypeBytesMax) } == nil)
        let long = try #require(validationError { $0.type = String(repeating: "t", count: Limits.eventTypeBytesMax + 1) })
        #expect(long.code == .limitExceeded)
        #expect(long.field == "type")
    }

    @Test(arguments: Dimensions.stringFieldNames.indices)
    func aDimensionOverTheLimit_namesThatDimension(_ index: Int) throws {
        let name = Dimensions.stringFieldNames[index]
        #expect(
            validationError { $0.dimensions[field: index] = String(repeating: "d", count: Limits.dimensionValueBytesMax) } == nil)
        let error = try #require(
            validationError { $0.dimensions[field: index] = String(repeating: "d", count: Limits.dimensionValueBytesMax + 1) })
        #expect(error.code == .limitExceeded)
        #expect(error.field == name)
        #expect(error.description.hasPrefix(name))
    }

    @Test func aMetadataValueOverTheLimit_namesTheKey() throws {
        #expect(validationError { $0.metadata["region"] = String(repeating: "v", count: Limits.metadataValueBytesMax) } == nil)
        let error = try #require(
            validationError { $0.metadata["region"] = String(repeating: "v", count: Limits.metadataValueBytesMax + 1) })
        #expect(error.code == .limitExceeded)
        #expect(error.field == "metadata.region")
    }

    @Test func aMetadataKeyOverTheLimit_namesTheStartOfTheKey() throws {
        let key = String(repeating: "k", count: Limits.metadataKeyBytesMax + 1)
        let error = try #require(validationError { $0.metadata[key] = "v" })
        #expect(error.code == .limitExceeded)
        #expect(error.field == "metadata." + key.prefix(32))
    }

    @Test func anEmptyMetadataKey_isAnInvalidEvent() throws {
        let error = try #require(validationError { $0.metadata[""] = "v" })
        #expect(error.code == .invalidEvent)
        #expect(error.field == "metadata")
    }

    @Test func tooManyMetadataEntries_exceedsTheLimit() throws {
        let atLimit = Dictionary(uniqueKeysWithValues: (0..<Limits.metadataEntriesMax).map { ("k\($0)", "v") })
        #expect(validationError { $0.metadata = atLimit } == nil)
        let error = try #require(validationError { $0.metadata = atLimit.merging(["one-more": "v"]) { a, _ in a } })
        #expect(error.code == .limitExceeded)
        #expect(error.field == "metadata")
    }

    @Test func aPayloadOverTheLimit_namesThePayload() throws {
        #expect(validationError { $0.payload = [UInt8](repeating: 0, count: Limits.eventPayloadBytesMax) } == nil)
        let error = try #require(validationError { $0.payload = [UInt8](repeating: 0, count: Limits.eventPayloadBytesMax + 1) })
        #expect(error.code == .limitExceeded)
        #expect(error.field == "payload")
    }

    @Test func theBatchIndex_isCarriedIntoTheErrorAndItsDescription() throws {
        let error = try #require(validationError({ $0.stream = "" }, batchIndex: 3))
        #expect(error.batchIndex == 3)
        #expect(error.description.hasPrefix("event 3 of the batch: stream"))
    }

    @Test func aBatchOverTheEventCountLimit_isRejectedWholeNamingTheBatch() async throws {
        let store = InMemoryEventStore()
        let event = EventStoreConformance.sampleEvent(stream: "run:big", index: 0)
        let batch = (0...Limits.batchEventCountMax).map { index in
            var copy = event
            copy.id = EventID(high: 0x7000, low: UInt64(index))
            return copy
        }
        let error = try await #require(throws: LedgerError.self) { try await store.append(batch) }
        #expect(error.code == .limitExceeded)
        #expect(error.field == "batch")
        #expect(store.head() == .empty)
    }
}
