// swift-tools-version:5.9
// The Tellus core for Swift: the tellus-ffi XCFramework (a binary target), the Swift
// bindings uniffi generated from that exact build, and TellusKit, a small Swift wrapper
// the iOS app (ios/) uses. At the repository root so the package can be used by URL.
//
// The framework and the generated Swift are build output: run
// `scripts/build-xcframework.sh` on a Mac first (ios/README.md). For a release published
// by URL, replace the binaryTarget's `path:` by the zipped framework's `url:` and
// `checksum:` (`swift package compute-checksum TellusCoreFFI.xcframework.zip`).
import PackageDescription

let package = Package(
    name: "Tellus",
    platforms: [.iOS(.v17)],
    products: [
        .library(name: "TellusKit", targets: ["TellusKit"]),
    ],
    targets: [
        .binaryTarget(
            name: "TellusCoreFFI",
            path: "build/ios/TellusCoreFFI.xcframework"
        ),
        // The generated bindings (ios/Sources/TellusCore/TellusCore.swift), never edited.
        .target(
            name: "TellusCore",
            dependencies: ["TellusCoreFFI"],
            path: "ios/Sources/TellusCore",
            linkerSettings: [
                // cpal captures through Core Audio; rustls verifies certificates with the
                // platform's trust store (Security).
                .linkedFramework("AudioToolbox"),
                .linkedFramework("AVFoundation"),
                .linkedFramework("CoreAudio"),
                .linkedFramework("Security"),
                .linkedFramework("SystemConfiguration"),
            ]
        ),
        .target(
            name: "TellusKit",
            dependencies: ["TellusCore"],
            path: "ios/Sources/TellusKit"
        ),
    ]
)
