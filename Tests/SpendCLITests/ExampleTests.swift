import Foundation
import SpendLedgerTestKit
import Testing

/// The runnable example in Docs works as documented.
@Suite struct ExampleTests {
    @Test func agentServiceExample_spendsUntilTheLedgerSaysNo_andSaysWhy() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        var binary = URL(fileURLWithPath: try Spend.binary()).deletingLastPathComponent()
        binary.appendPathComponent("agent-service-example")
        let path = directory.path
        let executable = binary
        let (status, output) = try await offPool { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = executable
            process.arguments = [path]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        #expect(status == 0)
        #expect(output.contains("denied by cap:max_cost"), "\(output)")
        #expect(output.contains("budget acme-daily: spent"))
    }
}
