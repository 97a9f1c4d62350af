// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "SpendLedger",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "LedgerLMDB", targets: ["LedgerLMDB"]),
        .library(name: "SpendLedgerTestKit", targets: ["SpendLedgerTestKit"]),
        .executable(name: "spend", targets: ["spend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // The system liblmdb, wrapped and nothing else.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // Vocabulary and contracts: events, codec, hash chain, the storage protocol and the
        // in-memory backend. No I/O, and no knowledge of any backend.
        .target(
            name: "LedgerCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The embedded LMDB backend.
        .target(name: "LedgerLMDB", dependencies: ["LedgerCore", "CLMDB"]),
        // What every backend and every projection author tests with.
        .target(name: "SpendLedgerTestKit", dependencies: ["LedgerCore"]),
        // The command-line tool: wiring only.
        .executableTarget(
            name: "spend",
            dependencies: [
                "LedgerCore", "LedgerLMDB",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A child process for the crash tests: appends with group commit and prints each
        // acknowledged seq until it is killed.
        .executableTarget(
            name: "ledger-crash-writer",
            dependencies: ["LedgerCore", "LedgerLMDB", "SpendLedgerTestKit"],
            path: "Tests/CrashWriter"
        ),
        .testTarget(
            name: "LedgerCoreTests",
            dependencies: ["LedgerCore", "SpendLedgerTestKit"]
        ),
        .testTarget(
            name: "LedgerLMDBTests",
            dependencies: ["LedgerCore", "LedgerLMDB", "SpendLedgerTestKit", "CLMDB", "ledger-crash-writer"]
        ),
        .testTarget(
            name: "SpendCLITests",
            dependencies: ["LedgerCore", "LedgerLMDB", "spend"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
