public import LedgerCore
public import Logging

/// How an LMDB ledger is opened.
public struct LMDBOptions: Sendable {
    /// What an acknowledged append survives.
    public enum Durability: Sendable, Hashable {
        /// Every group commit is fsync'ed before its callers resume: an acknowledged event survives
        /// `kill -9`, a kernel crash and a power cut. The default.
        case fsync
        /// Commits reach the operating system's page cache but are not fsync'ed: an acknowledged
        /// event survives the process being killed, not a power cut or a kernel crash. LMDB stays
        /// consistent either way (at worst the last commits are missing, never half-present).
        case noSync
    }

    public var durability: Durability
    /// The memory map's initial size. The map is virtual: the file grows only as pages are used.
    public var mapSizeBytes: Int
    /// The map grows (doubling) up to this size; past it, appends fail with ``LedgerError/Code/mapFull``.
    public var mapSizeBytesMax: Int
    /// Open without writing: no writer, no lock on the ledger, appends throw ``LedgerError/Code/readOnly``.
    public var readOnly: Bool
    /// Create the directory and an empty ledger when there is none (ignored when read-only).
    public var createIfMissing: Bool
    /// The clock that stamps `recordedAt`.
    public var clock: any LedgerClock
    /// Where the ledger reports what an operator should know and no call returns: today, that the
    /// stream and id index under `index/` cannot be written (a full disk, say) while appends go on,
    /// and that it is written again. nil: `Logger.current` when the ledger is opened.
    public var logger: Logger?

    public init(
        durability: Durability = .fsync, mapSizeBytes: Int = 1 << 34, mapSizeBytesMax: Int = 1 << 40,
        readOnly: Bool = false, createIfMissing: Bool = true, clock: any LedgerClock = SystemClock(),
        logger: Logger? = nil
    ) {
        self.durability = durability
        self.mapSizeBytes = mapSizeBytes
        self.mapSizeBytesMax = max(mapSizeBytesMax, mapSizeBytes)
        self.readOnly = readOnly
        self.createIfMissing = createIfMissing
        self.clock = clock
        self.logger = logger
    }
}
