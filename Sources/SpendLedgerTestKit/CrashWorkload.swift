public import LedgerCore

/// The deterministic workload of the crash tests, shared by the child process that writes it
/// (`ledger-crash-writer`) and the test that checks what survived a SIGKILL.
public enum CrashWorkload {
    public static func size(of batch: UInt64) -> Int { Int(batch % 5) + 1 }

    public static func id(batch: UInt64, index: Int) -> EventID {
        EventID(high: 0x7000_0000_0000_0000 | batch, low: 0x8000_0000_0000_0000 | UInt64(index))
    }

    public static func batch(_ batch: UInt64) -> [ProposedEvent] {
        (0..<size(of: batch)).map { index in
            ProposedEvent(
                id: id(batch: batch, index: index), stream: "run:crash-\(batch % 13)-\(index % 2)", type: "usage.recorded",
                occurredAt: LedgerTime(nanosecondsSinceEpoch: Int64(batch) * 1_000),
                dimensions: Dimensions(agent: "agent-\(batch % 7)", client: "client-\(batch % 3)", model: "gpt-4o-mini"),
                metadata: ["batch": String(batch), "index": String(index)],
                payload: Array("{\"batch\":\(batch),\"index\":\(index),\"cost_nanos\":\(batch * 37 + UInt64(index))}".utf8))
        }
    }
}
