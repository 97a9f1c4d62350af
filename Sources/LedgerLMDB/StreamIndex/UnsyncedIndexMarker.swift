import Foundation
import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

/// Says that `index/` may hold writes not yet on stable storage, and since which boot.
///
/// The writer commits the index without fsync (`MDB_NOSYNC`): the index is derived from the log,
/// and its once-a-second syncs stalled the log's own. That is safe across a process crash, since
/// the kernel's page cache keeps every write the dead process made, but not across a machine crash
/// or power cut, after which the index's pages may be torn. So before its first unsynced commit the
/// writer durably writes `index/unsynced` holding the machine's boot id
/// (`/proc/sys/kernel/random/boot_id`); a clean close syncs the index and removes the file. A marker
/// from another boot means the machine went down while the index was unsynced: the next writer
/// deletes the index and rebuilds it from the log, and readers ignore it (they scan the log).
///
/// Where no boot id can be read, the writer keeps syncing the index, and a marker is never
/// trusted.
enum UnsyncedIndexMarker {
    static let fileName = "unsynced"

    /// This boot's id, or nil where the system does not give one.
    static let currentBootID: String? = firstLine(of: "/proc/sys/kernel/random/boot_id").flatMap { $0.isEmpty ? nil : $0 }

    /// The boot id in the marker of the index directory `directory`, nil when there is none.
    static func read(in directory: String) -> String? { firstLine(of: directory + "/" + fileName) }

    /// True when the index in `directory` may be torn: its marker is from another boot (or this
    /// boot cannot be told).
    static func indexMayBeTorn(in directory: String) -> Bool {
        guard let marked = read(in: directory) else { return false }
        return marked != currentBootID
    }

    /// The file's first line, nil when there is no file (a damaged one still reads as something,
    /// which is never a boot id).
    private static func firstLine(of path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(String(decoding: data, as: UTF8.self).prefix { !$0.isNewline }).trimmingCharacters(in: .whitespaces)
    }

    /// Writes the marker for this boot and makes it durable (the file, then its directory).
    static func write(_ bootID: String, in directory: String) throws(LedgerError) {
        let path = directory + "/" + fileName
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LMDBResult.error(errno, "writing \(path)") }
        defer { close(descriptor) }
        let bytes = Array((bootID + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else { throw LMDBResult.error(errno, "writing \(path)") }
        try syncDirectory(directory)
    }

    /// Removes the marker (after the index was synced) and makes that durable.
    static func remove(in directory: String) throws(LedgerError) {
        let path = directory + "/" + fileName
        guard unlink(path) == 0 || errno == ENOENT else { throw LMDBResult.error(errno, "removing \(path)") }
        try syncDirectory(directory)
    }

    private static func syncDirectory(_ directory: String) throws(LedgerError) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LMDBResult.error(errno, "opening \(directory)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw LMDBResult.error(errno, "syncing \(directory)") }
    }
}
