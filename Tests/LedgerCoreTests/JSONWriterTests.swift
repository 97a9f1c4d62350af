import Foundation
import LedgerCore
import Testing

@Suite struct JSONWriterTests {
    @Test func arrays_ofObjectsStringsAndIntegers_parseBackExactly() throws {
        var inner = JSONObjectWriter()
        inner.add("n", 1)
        var object = JSONObjectWriter()
        object.addArray("objects", [inner.finish(), inner.finish()])
        object.addArray("strings", strings: ["run \"7\"", "back\\slash\nnewline", ""])
        object.addArray("integers", integers: [Int64.min, 0, Int64.max])
        object.addArray("empty", [String]())
        let text = object.finish()
        #expect(text.contains(#""integers":[-9223372036854775808,0,9223372036854775807]"#), "integers are exact")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((parsed["objects"] as? [[String: Any]])?.map { $0["n"] as? Int } == [1, 1])
        #expect(parsed["strings"] as? [String] == ["run \"7\"", "back\\slash\nnewline", ""])
        #expect((parsed["empty"] as? [Any])?.isEmpty == true)
    }
}
