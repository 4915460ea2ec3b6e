// swift-tools-version: 6.0
import PackageDescription

/// Upcoming features every target opts into: see DESIGN.md §3.9.
let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "mcp-tunnel",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "mcp-tunnel", targets: ["mcp-tunnel"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
    .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    // Test-only: the reference TOML parser TunnelCoreTests checks the hand-written reader against.
    .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // MARK: thin executable
    .executableTarget(
      name: "mcp-tunnel",
      dependencies: [
        "MCPTunnelCLI",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strictSettings
    ),

    // MARK: commands, rendering, exit codes; the only place adapters are built
    .target(
      name: "MCPTunnelCLI",
      dependencies: [
        "TunnelCore", "OAuth", "Keyring", "SSHForwarding", "TokenProxy", "AuditLog", "ClientConfig",
        "StdioBridge",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),

    // MARK: domain types, ports, state machines
    .target(
      name: "TunnelCore",
      dependencies: [.product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),

    // MARK: adapters, one per outside system
    .target(
      name: "OAuth",
      dependencies: [
        "TunnelCore",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .target(name: "Keyring", dependencies: ["TunnelCore", "CLibSecret"], swiftSettings: strictSettings),
    .target(
      name: "SSHForwarding",
      dependencies: [
        "TunnelCore", "CLibSSH2", .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "TokenProxy",
      dependencies: [
        "TunnelCore",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "ClientConfig", dependencies: ["TunnelCore", .product(name: "Yams", package: "Yams")],
      swiftSettings: strictSettings),
    .target(
      name: "StdioBridge",
      dependencies: [
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "AuditLog",
      dependencies: ["TunnelCore", .product(name: "Crypto", package: "swift-crypto")],
      swiftSettings: strictSettings
    ),

    // MARK: C libraries, imported only by their adapter
    // libssh2 1.11.1 as Debian 13 ships it (its security patches applied) plus the patches in
    // vendor/libssh2/patches. Compiled here and linked into the binary, against the system's
    // OpenSSL (libssl-dev). Provenance, the patches and how to update: vendor/libssh2/README.md.
    .target(
      name: "CLibSSH2",
      exclude: [
        // #included by crypto.c and agent.c, not compiled on their own
        "libssh2/openssl.c", "libssh2/agent_win.c", "libssh2/COPYING",
      ],
      cSettings: [
        .define("HAVE_CONFIG_H"), .headerSearchPath("libssh2"),
        // Optimised in debug builds too (the lab tier moves tens of MiB through it), and quiet:
        // its warnings are upstream's.
        .unsafeFlags(["-O2", "-w"]),
      ],
      linkerSettings: [.linkedLibrary("crypto")]
    ),
    .systemLibrary(
      name: "CLibSecret",
      pkgConfig: "libsecret-1",
      providers: [.apt(["libsecret-1-dev"])]
    ),

    // MARK: test support
    .target(name: "MCPTunnelTestSupport", dependencies: ["TunnelCore"], swiftSettings: strictSettings),
    // Tiers (the `lab` tag), the off-pool executor and the whole-lab turn: see Tests/TestTiers.
    .target(name: "TestTiers", path: "Tests/TestTiers", swiftSettings: strictSettings),
    .target(
      name: "LabSupport",
      dependencies: ["TunnelCore", "TestTiers", .product(name: "Crypto", package: "swift-crypto")],
      path: "Tests/LabSupport",
      swiftSettings: strictSettings
    ),

    // MARK: tests (Swift Testing)
    .testTarget(
      name: "TunnelCoreTests",
      dependencies: [
        "TestTiers", "TunnelCore", "MCPTunnelTestSupport",
        .product(name: "TOMLKit", package: "TOMLKit"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "SSHForwardingTests",
      dependencies: ["TestTiers", "SSHForwarding", "TunnelCore", "MCPTunnelTestSupport", "LabSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "KeyringTests",
      dependencies: ["TestTiers", "Keyring", "TunnelCore", "LabSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "LabIntegrationTests",
      dependencies: ["TestTiers", "TunnelCore", "LabSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "OAuthTests",
      dependencies: ["TestTiers", "OAuth", "TunnelCore", "MCPTunnelTestSupport", "LabSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "TokenProxyTests",
      dependencies: [
        "TestTiers", "TokenProxy", "TunnelCore", "MCPTunnelTestSupport", "LabSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "StdioBridgeTests",
      dependencies: ["StdioBridge"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "AuditLogTests",
      dependencies: ["TestTiers", "AuditLog", "TunnelCore", "MCPTunnelTestSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "MCPTunnelCLITests",
      dependencies: [
        "TestTiers", "MCPTunnelCLI", "TunnelCore", "ClientConfig", "MCPTunnelTestSupport", "LabSupport",
      ],
      swiftSettings: strictSettings
    ),
  ]
)
