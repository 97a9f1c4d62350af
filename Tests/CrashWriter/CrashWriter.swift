// A child process for the crash tests. It appends batches to an LMDB ledger with group commit from
// several concurrent tasks and prints one line per acknowledged batch, flushed at once:
//
//     ack <batch> <size> <seq> <seq> ...
//
// until it is killed. Every event's id, stream and payload derive from (batch, index), so the test
// can check that what it reads back is exactly what was acknowledged.
//
// Usage: ledger-crash-writer DIR BATCH-OFFSET [TASKS]

import Glibc
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit

@main
struct CrashWriter {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3, let offset = UInt64(arguments[2]) else {
            emit("usage: ledger-crash-writer DIR BATCH-OFFSET [TASKS]\n", to: 2)
            exit(2)
        }
        let tasks = arguments.count > 3 ? Int(arguments[3]) ?? 8 : 8
        let store = try LMDBEventStore.open(at: arguments[1])
        emit("ready\n")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<UInt64(tasks) {
                group.addTask {
                    var batch = offset + task
                    while true {
                        let events = CrashWorkload.batch(batch)
                        let result = try await store.append(events)
                        let seqs = result.positions.map { String($0.seq) }.joined(separator: " ")
                        let line = "ack \(batch) \(events.count) \(seqs)\n"
                        emit(line)
                        batch += UInt64(tasks)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// One unbuffered write(2): a line reaches the pipe whole, at once, before the next append.
func emit(_ text: String, to descriptor: Int32 = 1) {
    var text = text
    text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}
