// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "SpendLedger",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
        .library(name: "LedgerLMDB", targets: ["LedgerLMDB"]),
        .library(name: "LedgerDomain", targets: ["LedgerDomain"]),
        .library(name: "LedgerPricing", targets: ["LedgerPricing"]),
        .library(name: "LedgerProjections", targets: ["LedgerProjections"]),
        .library(name: "LedgerActors", targets: ["LedgerActors"]),
        .library(name: "SpendLedger", targets: ["SpendLedger"]),
        .library(name: "LedgerDetectors", targets: ["LedgerDetectors"]),
        .library(name: "LedgerIncidents", targets: ["LedgerIncidents"]),
        .library(name: "SpendLedgerTestKit", targets: ["SpendLedgerTestKit"]),
        .executable(name: "spend", targets: ["spend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The system liblmdb, wrapped and nothing else.
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // BoringSSL's one-shot SHA-256 from swift-crypto's copy, declared for the chain hash (see shim.h).
        .systemLibrary(name: "CBoringSHA256"),
        // Vocabulary and contracts: events, codec, hash chain, the storage protocol and the
        // in-memory backend. No I/O, and no knowledge of any backend.
        .target(
            name: "LedgerCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"), "CBoringSHA256"]
        ),
        // The typed spend events (usage, runs, budgets, reservations, prices) on top of the log.
        .target(name: "LedgerDomain", dependencies: ["LedgerCore"]),
        // The embedded LMDB backend.
        .target(
            name: "LedgerLMDB",
            dependencies: ["LedgerCore", "CLMDB", .product(name: "Logging", package: "swift-log")]
        ),
        // Price catalog (with LiteLLM import) and the usage-record ingest format.
        .target(name: "LedgerPricing", dependencies: ["LedgerCore", "LedgerDomain"]),
        // Projections: the engine (catch-up, live, rebuild, snapshots, time travel) and built-in views.
        .target(name: "LedgerProjections", dependencies: ["LedgerCore", "LedgerDomain"]),
        // Wallet, run and budget actors; authorization before the call.
        .target(name: "LedgerActors", dependencies: ["LedgerCore", "LedgerDomain", "LedgerPricing"]),
        // The facade services use: open a ledger, runs, authorize, record, query.
        .target(
            name: "SpendLedger",
            dependencies: [
                "LedgerCore", "LedgerDomain", "LedgerLMDB", "LedgerPricing", "LedgerProjections", "LedgerActors",
                "LedgerDetectors",
            ]
        ),
        // Runaway detection: deterministic consumers of the log that append what they find.
        .target(name: "LedgerDetectors", dependencies: ["LedgerCore", "LedgerDomain", "LedgerActors"]),
        // Incident review: the minute-by-minute story of an agent or run, as JSON and HTML.
        .target(name: "LedgerIncidents", dependencies: ["LedgerCore", "LedgerDomain", "LedgerDetectors"]),
        // The simulated fleet day that `spend demo` runs through the in-process API.
        .target(
            name: "SpendLedgerDemo",
            dependencies: [
                "LedgerCore", "LedgerDomain", "LedgerLMDB", "LedgerPricing", "LedgerProjections", "LedgerActors",
                "LedgerDetectors", "LedgerIncidents", "SpendLedger",
            ]
        ),
        // What every backend and every projection author tests with.
        .target(name: "SpendLedgerTestKit", dependencies: ["LedgerCore", "LedgerDomain", "LedgerProjections"]),
        // The command-line tool: wiring only.
        .executableTarget(
            name: "spend",
            dependencies: [
                "LedgerCore", "LedgerLMDB", "LedgerDomain", "LedgerPricing", "LedgerProjections", "LedgerActors",
                "LedgerDetectors", "LedgerIncidents", "SpendLedger", "SpendLedgerDemo",
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
            dependencies: [
                "LedgerCore", "LedgerLMDB", "SpendLedgerTestKit", "CLMDB", "ledger-crash-writer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        // The in-process Swift API as a service uses it: authorize before each call, settle after.
        .executableTarget(
            name: "agent-service-example",
            dependencies: ["LedgerCore", "LedgerDomain", "LedgerPricing", "LedgerActors", "SpendLedger"],
            path: "Examples/AgentService"
        ),
        // An example projection a developer would write: cost per accepted task.
        .target(
            name: "CostPerAcceptedTaskExample",
            dependencies: ["LedgerCore", "LedgerDomain", "LedgerProjections"],
            path: "Examples/CostPerAcceptedTask/Sources"
        ),
        .testTarget(
            name: "CostPerAcceptedTaskExampleTests",
            dependencies: ["CostPerAcceptedTaskExample", "SpendLedgerTestKit", "LedgerDomain"],
            path: "Examples/CostPerAcceptedTask/Tests"
        ),
        .testTarget(name: "LedgerDomainTests", dependencies: ["LedgerCore", "LedgerDomain"]),
        .testTarget(name: "LedgerPricingTests", dependencies: ["LedgerCore", "LedgerDomain", "LedgerPricing"]),
        .testTarget(
            name: "LedgerProjectionsTests",
            dependencies: ["LedgerCore", "LedgerDomain", "LedgerProjections", "LedgerLMDB", "SpendLedgerTestKit"]
        ),
        .testTarget(
            name: "LedgerActorsTests",
            dependencies: [
                "LedgerCore", "LedgerDomain", "LedgerPricing", "LedgerActors", "SpendLedger", "LedgerLMDB",
                "SpendLedgerTestKit",
            ]
        ),
        .testTarget(
            name: "LedgerDetectorsTests",
            dependencies: [
                "LedgerCore", "LedgerDomain", "LedgerDetectors", "LedgerActors", "SpendLedger", "LedgerLMDB",
                "SpendLedgerTestKit",
            ]
        ),
        .testTarget(
            name: "LedgerIncidentsTests",
            dependencies: ["LedgerCore", "LedgerDomain", "LedgerDetectors", "LedgerIncidents", "SpendLedgerTestKit"]
        ),
        .testTarget(
            name: "SpendLedgerDemoTests",
            dependencies: ["SpendLedgerDemo", "LedgerCore", "LedgerLMDB", "LedgerDetectors", "SpendLedgerTestKit"]
        ),
        .testTarget(
            name: "SpendCLITests",
            dependencies: ["LedgerCore", "LedgerLMDB", "spend", "agent-service-example"]
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
