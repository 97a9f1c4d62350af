// swift-tools-version:6.1
// The SpendLedger benchmark harness. A package of its own so that the library's `swift build` and
// `swift test` never compile it. Run from this directory:
//
//     swift run -c release spend-bench all
//
// See Docs/BENCHMARKS.md for the figures and how to read them.
import PackageDescription

let package = Package(
    name: "SpendLedgerBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "SpendLedger", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The LMDB C API, for the raw-LMDB ceiling the SpendLedger figures are compared with.
        .systemLibrary(
            name: "CLMDBBench",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .executableTarget(
            name: "spend-bench",
            dependencies: [
                "CLMDBBench",
                .product(name: "LedgerCore", package: "SpendLedger"),
                .product(name: "LedgerLMDB", package: "SpendLedger"),
                .product(name: "LedgerDomain", package: "SpendLedger"),
                .product(name: "LedgerProjections", package: "SpendLedger"),
                .product(name: "SpendLedgerTestKit", package: "SpendLedger"),
                // For the ingest benchmark (IngestBenchmark.swift): PreparedIngest and Ledger.ingest.
                .product(name: "LedgerPricing", package: "SpendLedger"),
                .product(name: "SpendLedger", package: "SpendLedger"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Issue 6: the same workload through SpendLedger, raw LMDB, PostgreSQL and SQLite.
        // Run it with ./peer-bench.sh (it installs and starts PostgreSQL); see README.md.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .executableTarget(
            name: "peer-bench",
            dependencies: [
                "CLMDBBench", "CLibPQ", "CSQLite",
                .product(name: "LedgerCore", package: "SpendLedger"),
                .product(name: "LedgerDomain", package: "SpendLedger"),
                .product(name: "LedgerLMDB", package: "SpendLedger"),
                .product(name: "LedgerProjections", package: "SpendLedger"),
                .product(name: "SpendLedgerTestKit", package: "SpendLedger"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
