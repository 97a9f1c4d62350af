/// Every bound SpendLedger enforces, in one place. Units are last in each name.
///
/// A limit exists so that no input, however hostile, can make the ledger allocate without bound,
/// write a record another reader cannot decode, or hold the single writer for too long. Inputs over
/// a limit are rejected with ``LedgerError/Code/limitExceeded`` before anything is written.
public enum Limits {
    /// Bytes of UTF-8 in a stream name (`wallet:agent-7`).
    public static let streamNameBytesMax = 256
    /// Bytes of UTF-8 in an event type (`usage.recorded`).
    public static let eventTypeBytesMax = 128
    /// Bytes of UTF-8 in one dimension value (agent, client, model, ...).
    public static let dimensionValueBytesMax = 256
    /// Entries in an event's string metadata map.
    public static let metadataEntriesMax = 64
    /// Bytes of UTF-8 in one metadata key.
    public static let metadataKeyBytesMax = 128
    /// Bytes of UTF-8 in one metadata value.
    public static let metadataValueBytesMax = 1_024
    /// Bytes in one event's payload.
    public static let eventPayloadBytesMax = 64 * 1_024
    /// Events in one `append` call. Larger imports are split by the caller.
    public static let batchEventCountMax = 100_000
    /// Events the LMDB writer puts in one group-commit transaction. Appends queued beyond it wait
    /// for the next transaction; a single batch is never split.
    public static let groupCommitEventCountMax = 100_000
    /// Events a single `read` call returns at most.
    public static let readEventCountMax = 100_000
    /// Run actors kept active at once; idle ones beyond it are passivated (least recently used
    /// first) and re-activated from their stream on next use.
    public static let activeRunActorsMax = 10_000
    /// Committed events the LMDB store's stream index may lag behind the log. The index is written
    /// behind the log on a thread of its own; appends wait when it falls this far behind.
    public static let streamIndexLagEventCountMax = 1_000_000
    /// Events a subscription or a streamed replay holds in memory at once.
    public static let replayChunkEventCountMax = 4_096
}
